"""Working-day deadlines follow the official calendar, 调休 weekends included."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from controller.core.workdays import PACKAGED_YEARS, Deadline, WorkCalendar, deadline

TZ = ZoneInfo("Asia/Shanghai")


def deadline_ms(calendar: WorkCalendar, tz: ZoneInfo, start_ms: int, days: int) -> int:
    return deadline(calendar, tz, start_ms, days).ms


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=TZ).timestamp() * 1000)


def test_one_working_day_skips_the_national_day_holiday() -> None:
    # 2026-09-30 is a Wednesday before the 国庆 holiday (Oct 1-7); the next working day is Oct 8.
    due = deadline_ms(WorkCalendar(), TZ, at("2026-09-30T16:00"), 1)
    assert due == at("2026-10-09T00:00")


def test_adjusted_working_saturday_counts() -> None:
    # Saturday 2026-10-10 is a 调休 working day: two working days after Thursday Oct 8 end with it.
    due = deadline_ms(WorkCalendar(), TZ, at("2026-10-08T10:00"), 2)
    assert due == at("2026-10-11T00:00")


def test_friday_afternoon_is_due_by_the_end_of_monday() -> None:
    assert deadline_ms(WorkCalendar(), TZ, at("2026-11-20T16:30"), 1) == at("2026-11-24T00:00")


def test_fifteen_working_days() -> None:
    # Monday 2026-11-23 + 15 working days (three full weeks) = Monday 2026-12-14.
    assert deadline_ms(WorkCalendar(), TZ, at("2026-11-23T09:00"), 15) == at("2026-12-15T00:00")


def test_years_beyond_the_table_use_weekdays_and_configured_days() -> None:
    calendar = WorkCalendar(holidays=[date(2027, 1, 1)], adjusted_workdays=[date(2027, 1, 9)])
    assert not calendar.is_workday(date(2027, 1, 1))  # a Friday, configured holiday
    assert calendar.is_workday(date(2027, 1, 4))  # a Monday, weekday fallback
    assert not calendar.is_workday(date(2027, 1, 10))  # a Sunday
    assert calendar.is_workday(date(2027, 1, 9))  # a Saturday made a working day
    assert calendar.nth_workday_after(date(2026, 12, 31), 1) == (date(2027, 1, 4), False)


def test_a_deadline_into_an_unknown_year_is_flagged_not_silently_wrong() -> None:
    # 差评 on Thursday 2026-12-31: one working day runs into 2027, which chinese-calendar 1.11
    # does not know. The deadline is computed on Mon-Fri and says it is an estimate.
    due = deadline(WorkCalendar(), TZ, at("2026-12-31T15:00"), 1)
    assert due == Deadline(at("2027-01-02T00:00"), official=False)
    # A case inside the known year is official.
    assert deadline(WorkCalendar(), TZ, at("2026-12-29T15:00"), 1).official


def test_a_typed_in_notice_makes_the_next_year_official() -> None:
    # A hall types in 2027's notice (illustrative days: 元旦 Jan 1, a 调休 Saturday Jan 9).
    calendar = WorkCalendar(
        holidays=[date(2027, 1, 1)], adjusted_workdays=[date(2027, 1, 9)], official_years=[2027]
    )
    due = deadline(calendar, TZ, at("2026-12-31T15:00"), 1)
    assert due == Deadline(at("2027-01-05T00:00"), official=True)  # Jan 1 holiday, weekend


def test_coverage_warns_sixty_days_before_the_data_runs_out() -> None:
    last = PACKAGED_YEARS.stop - 1
    end = date(last, 12, 31)
    assert WorkCalendar().coverage(end - timedelta(days=61)).runs_out_soon is False
    assert WorkCalendar().coverage(end - timedelta(days=60)).runs_out_soon is True
    assert WorkCalendar().coverage(end + timedelta(days=3)).days_left == -3
    typed_in = WorkCalendar(holidays=[date(last + 1, 1, 1)], official_years=[last + 1])
    assert typed_in.coverage(end).until == date(last + 1, 12, 31)
    assert not typed_in.coverage(end).runs_out_soon


def test_zero_working_days_is_refused() -> None:
    with pytest.raises(ValueError):
        WorkCalendar().nth_workday_after(date(2026, 11, 23), 0)
