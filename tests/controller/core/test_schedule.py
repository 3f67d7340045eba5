"""When the daily close is due: at closing time, once, and after a restart that missed it."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from controller.config.model import HallSettings
from controller.core.schedule import close_due, due_day, latest_closing_ms

SHANGHAI = ZoneInfo("Asia/Shanghai")
HALL = HallSettings(id="h", name="大厅", closing_time=time(17, 30))


def ms(day: int, hh: int, mm: int) -> int:
    return int(datetime(2026, 11, day, hh, mm, tzinfo=SHANGHAI).timestamp() * 1000)


def test_latest_closing_is_today_after_closing_time_and_yesterday_before() -> None:
    assert latest_closing_ms(HALL, ms(23, 18, 0)) == ms(23, 17, 30)
    assert latest_closing_ms(HALL, ms(23, 17, 30)) == ms(23, 17, 30)
    assert latest_closing_ms(HALL, ms(23, 9, 0)) == ms(22, 17, 30)


def test_close_is_due_once_per_closing_time() -> None:
    opened = ms(23, 8, 0)
    assert not close_due(HALL, "", ms(23, 17, 29), opened)
    assert due_day(HALL, "", ms(23, 17, 30), opened) == "2026-11-23"
    assert not close_due(HALL, "2026-11-23", ms(23, 17, 31), opened)
    assert not close_due(HALL, "2026-11-23", ms(24, 17, 29), opened)
    assert due_day(HALL, "2026-11-23", ms(24, 17, 31), opened) == "2026-11-24"


def test_a_daemon_down_at_closing_time_closes_when_back() -> None:
    assert due_day(HALL, "2026-11-22", ms(24, 8, 0), ms(20, 8, 0)) == "2026-11-23"


def test_days_missed_while_down_are_settled_by_one_close_of_the_latest_day() -> None:
    assert due_day(HALL, "2026-11-20", ms(24, 8, 0), ms(20, 8, 0)) == "2026-11-23"
    assert not close_due(HALL, "2026-11-23", ms(24, 8, 0), ms(20, 8, 0))


def test_an_early_close_settles_its_day_for_the_scheduled_close() -> None:
    # An administrator closed the 23rd at 15:00: 17:30 that day is not due again.
    assert not close_due(HALL, "2026-11-23", ms(23, 17, 30), ms(20, 8, 0))


def test_a_new_hall_opened_after_closing_time_does_not_close_at_once() -> None:
    assert not close_due(HALL, "", ms(23, 19, 0), ms(23, 18, 0))
    assert due_day(HALL, "", ms(24, 17, 30), ms(23, 18, 0)) == "2026-11-24"
