"""HallExtras: what every link learns from a durable record, in one place."""

from __future__ import annotations

from controller.core import commands as c
from controller.core.engine import HallEngine
from devices.views import HallExtras, hall_screen_view
from tests.controller.halls import MONDAY_9AM, small_hall


def test_a_call_touches_its_window_and_reaches_the_hall_screen() -> None:
    engine = HallEngine(small_hall())
    extras = HallExtras()
    engine.handle(c.IssueTicket(service="A"), MONDAY_9AM)
    engine.handle(c.Login(window=3, staff="1003"), MONDAY_9AM)
    events = engine.handle(c.CallNext(window=3), MONDAY_9AM + 1)
    assert extras.observe(events, engine.state) == {3}
    calls = hall_screen_view(engine.state, extras).calls
    assert [(call.number, call.window, call.recall) for call in calls] == [
        ("A001", "3号窗口", False)
    ]
    engine.handle(c.Recall(window=3), MONDAY_9AM + 2)
    assert extras.recalling == {3: False}
    extras.observe(engine.handle(c.Recall(window=3), MONDAY_9AM + 3), engine.state)
    assert extras.recalling == {3: True}


def test_restart_seeds_the_latest_calls_from_the_state() -> None:
    engine = HallEngine(small_hall())
    engine.handle(c.Login(window=1, staff="1001"), MONDAY_9AM)
    for n in range(3):
        engine.handle(c.IssueTicket(service="A"), MONDAY_9AM + n)
        engine.handle(c.CallNext(window=1), MONDAY_9AM + 10 + n)
        engine.handle(c.Finish(window=1), MONDAY_9AM + 20 + n)
    extras = HallExtras.from_state(engine.state)
    assert [call.number for call in extras.recent_calls] == ["A003", "A002", "A001"]
