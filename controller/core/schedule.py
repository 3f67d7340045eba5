"""When time-driven commands are due: the daily close, and the periodic tick.

Pure: given the hall's settings, the last business day closed (recorded in the log) and
``now``, say whether a close is due and which day it closes. A daemon that was down at closing
time closes the day as soon as it is back. Days are the hall's local calendar dates of their
closing instants, so a duplicated close names a day already closed and can be refused.
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


def local_day(hall: HallSettings, at_ms: int) -> str:
    """The hall's local calendar date at ``at_ms`` (ISO)."""
    return datetime.fromtimestamp(at_ms / 1000, ZoneInfo(hall.timezone)).date().isoformat()


def due_day(hall: HallSettings, last_closed_day: str, now_ms: int, opened_ms: int) -> str | None:
    """The business day whose close is due at ``now_ms``, or None.

    Due: the latest closing instant passed after the log began and its day is not closed yet.
    Days missed while the daemon was down are settled by one close, of the latest day.
    """
    latest = latest_closing_ms(hall, now_ms)
    if latest <= opened_ms:
        return None
    day = local_day(hall, latest)
    return day if day > last_closed_day else None


def close_due(hall: HallSettings, last_closed_day: str, now_ms: int, opened_ms: int) -> bool:
    """A close is due when a closing instant passed since the last closed day (or since the
    log began, for a hall that never closed)."""
    return due_day(hall, last_closed_day, now_ms, opened_ms) is not None
