"""Working-day deadlines on the official Chinese calendar (法定节假日 and 调休 weekends).

Pure and deterministic: ``chinese_calendar`` is a static table shipped with the package, so the
engine may call this while deciding and a replay gets the same answer. For years that table does
not cover yet (it is published a year at a time), Monday to Friday are working days unless the
hall's configuration lists the year's holidays and adjusted working days; the engine records
every deadline in the case's opening event, so a later calendar update never moves an old one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar  # type: ignore[import-untyped]


class WorkCalendar:
    """Which days are working days: the official calendar, then the configured exceptions."""

    def __init__(
        self, holidays: Iterable[date] = (), adjusted_workdays: Iterable[date] = ()
    ) -> None:
        self._holidays = frozenset(holidays)
        self._workdays = frozenset(adjusted_workdays)

    def is_workday(self, day: date) -> bool:
        if day in self._holidays:
            return False
        if day in self._workdays:
            return True
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:  # a year the shipped table does not know yet
            return day.weekday() < 5

    def nth_workday_after(self, day: date, n: int) -> date:
        """The n-th working day strictly after ``day`` (n >= 1)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        current = day
        found = 0
        while found < n:
            current += timedelta(days=1)
            if self.is_workday(current):
                found += 1
        return current


def deadline_ms(calendar: WorkCalendar, tz: ZoneInfo, start_ms: int, working_days: int) -> int:
    """The end (local midnight) of the ``working_days``-th working day after ``start_ms``'s day.

    "回访 within 1 working day" of a 差评 on Friday afternoon means by the end of Monday (or of
    the next working day after a holiday); a 差评 on a Saturday 调休 working day counts from
    that day like any other.
    """
    local_day = datetime.fromtimestamp(start_ms / 1000, tz).date()
    after = calendar.nth_workday_after(local_day, working_days) + timedelta(days=1)
    return int(datetime(after.year, after.month, after.day, tzinfo=tz).timestamp() * 1000)
