"""When the daily close is due: at closing time, once, and after a restart that missed it."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from controller.config.model import HallSettings
from controller.schedule import close_due, latest_closing_ms

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
    assert not close_due(HALL, 0, ms(23, 17, 29), opened)
    assert close_due(HALL, 0, ms(23, 17, 30), opened)
    closed_at = ms(23, 17, 30)
    assert not close_due(HALL, closed_at, ms(23, 23, 0), opened)
    assert close_due(HALL, closed_at, ms(24, 17, 31), opened)


def test_a_daemon_down_at_closing_time_closes_when_back() -> None:
    assert close_due(HALL, ms(22, 17, 30), ms(24, 8, 0), ms(20, 8, 0))


def test_a_new_hall_opened_after_closing_time_does_not_close_at_once() -> None:
    assert not close_due(HALL, 0, ms(23, 19, 0), ms(23, 18, 0))
