"""When time-driven commands are due: the daily close, and the periodic tick.

Pure: given the hall's settings, the last close recorded in the log and ``now``, say whether
a close is due. A daemon that was down at closing time closes the day as soon as it is back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from controller.config.model import HallSettings


def latest_closing_ms(hall: HallSettings, now_ms: int) -> int:
    """The most recent closing instant at or before ``now_ms``."""
    tz = ZoneInfo(hall.timezone)
    local = datetime.fromtimestamp(now_ms / 1000, tz)
    closing = local.replace(
        hour=hall.closing_time.hour, minute=hall.closing_time.minute, second=0, microsecond=0
    )
    if closing > local:
        closing -= timedelta(days=1)
        closing = closing.replace(
            hour=hall.closing_time.hour, minute=hall.closing_time.minute
        )  # re-anchor across a DST change (none in China today, but be exact)
    return int(closing.timestamp() * 1000)


def close_due(hall: HallSettings, last_closed_ms: int, now_ms: int, opened_ms: int) -> bool:
    """A close is due when a closing instant passed since the last close (or since the log
    began, for a hall that never closed)."""
    latest = latest_closing_ms(hall, now_ms)
    return latest > max(last_closed_ms, opened_ms)
