"""The waiting estimate shown on screens: flagged when it runs past today's closing time
(a figure like 3435 分 means "not today", and screens say that instead)."""

from __future__ import annotations

from controller.core import commands as c
from controller.core.engine import HallEngine
from controller.core.queries import hall_view
from tests.controller.halls import MINUTE, MONDAY_9AM, small_hall

T0 = MONDAY_9AM  # closing 17:30: 510 minutes left


def service_a(engine: HallEngine, now: int) -> tuple[int, bool]:
    [a] = [s for s in hall_view(engine.state, now).services if s.id == "A"]
    return a.estimated_wait_minutes, a.beyond_closing


def test_an_estimate_within_the_day_is_not_flagged() -> None:
    engine = HallEngine(small_hall())
    engine.handle(c.Login(window=1, staff="1001"), T0)
    for i in range(5):
        engine.handle(c.IssueTicket(service="A"), T0 + i)
    assert service_a(engine, T0 + 10) == (50, False)
    # the same 50 minutes at 17:00, half an hour before closing: not today any more
    assert service_a(engine, T0 + 480 * MINUTE) == (50, True)


def test_an_estimate_past_closing_is_flagged() -> None:
    engine = HallEngine(small_hall())
    engine.handle(c.Login(window=1, staff="1001"), T0)
    for i in range(60):
        engine.handle(c.IssueTicket(service="A"), T0 + i)
    assert service_a(engine, T0 + 100) == (600, True)
