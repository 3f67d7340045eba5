"""Working-day deadlines on the official Chinese calendar (法定节假日 and 调休 weekends).

Pure and deterministic: ``chinese_calendar`` is a static table shipped with the package, so the
engine may call this while deciding and a replay gets the same answer. The table is published a
year at a time (chinese-calendar 1.11 knows 2004-2026); a hall types a later year's State
Council notice into its configuration (``[evaluation] holidays``, ``adjusted_workdays`` and
``calendar_years``). Where neither knows a day, Monday to Friday count as working days, and the
deadline says so (``Deadline.official`` is false): the case is flagged, never silently wrong.
The engine records every deadline in the case's opening event, so a later calendar update never
moves an old one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar  # type: ignore[import-untyped]
from chinese_calendar import constants as _official

_LAST_PACKAGED = max(max(_official.holidays).year, max(_official.workdays).year)
PACKAGED_YEARS = range(min(_official.holidays).year, _LAST_PACKAGED + 1)
WARN_DAYS_BEFORE_RUNNING_OUT = 60


@dataclass(frozen=True, slots=True)
class Deadline:
    """A deadline, and whether every day counted to reach it came from official data."""

    ms: int
    official: bool


@dataclass(frozen=True, slots=True)
class CalendarCoverage:
    """How long official holiday data lasts, seen from one day (for alerts and metrics)."""

    until: date
    days_left: int  # negative once it has run out

    @property
    def runs_out_soon(self) -> bool:
        return self.days_left <= WARN_DAYS_BEFORE_RUNNING_OUT


class WorkCalendar:
    """Which days are working days: the official calendar, then the configured exceptions."""

    def __init__(
        self,
        holidays: Iterable[date] = (),
        adjusted_workdays: Iterable[date] = (),
        official_years: Iterable[int] = (),
    ) -> None:
        self._holidays = frozenset(holidays)
        self._workdays = frozenset(adjusted_workdays)
        self._configured_years = frozenset(official_years)

    def is_official(self, day: date) -> bool:
        """Whether the official calendar (packaged or typed in) covers this day's year."""
        return day.year in PACKAGED_YEARS or day.year in self._configured_years

    def official_until(self) -> date:
        """The last day of the unbroken run of covered years that starts with the package's."""
        year = PACKAGED_YEARS.stop - 1
        while year + 1 in self._configured_years:
            year += 1
        return date(year, 12, 31)

    def coverage(self, today: date) -> CalendarCoverage:
        until = self.official_until()
        return CalendarCoverage(until, (until - today).days)

    def is_workday(self, day: date) -> bool:
        if day in self._holidays:
            return False
        if day in self._workdays:
            return True
        if day.year in PACKAGED_YEARS:
            return bool(chinese_calendar.is_workday(day))
        return day.weekday() < 5  # typed-in years list their exceptions; unknown years: estimate

    def nth_workday_after(self, day: date, n: int) -> tuple[date, bool]:
        """The n-th working day strictly after ``day`` (n >= 1), and whether every day on the
        way was covered by official data."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        current = day
        found = 0
        official = True
        while found < n:
            current += timedelta(days=1)
            official = official and self.is_official(current)
            if self.is_workday(current):
                found += 1
        return current, official


def deadline(calendar: WorkCalendar, tz: ZoneInfo, start_ms: int, working_days: int) -> Deadline:
    """The end (local midnight) of the ``working_days``-th working day after ``start_ms``'s day.

    "回访 within 1 working day" of a 差评 on Friday afternoon means by the end of Monday (or of
    the next working day after a holiday); a 差评 on a Saturday 调休 working day counts from
    that day like any other.
    """
    local_day = datetime.fromtimestamp(start_ms / 1000, tz).date()
    last, official = calendar.nth_workday_after(local_day, working_days)
    after = last + timedelta(days=1)
    ms = int(datetime(after.year, after.month, after.day, tzinfo=tz).timestamp() * 1000)
    return Deadline(ms, official)
