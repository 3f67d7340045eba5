"""The worked examples of docs/calling-policy.md, as tests: the page and the code agree."""

from __future__ import annotations

from dataclasses import replace

from controller.config.model import Service, Window, WindowService
from controller.core import commands as c
from controller.core import events as ev
from controller.core.engine import HallEngine
from tests.controller.halls import MINUTE, MONDAY_9AM, small_hall

NINE = MONDAY_9AM


def at(hh: int, mm: int) -> int:
    return NINE + ((hh - 9) * 60 + mm) * MINUTE


def hall() -> HallEngine:
    base = small_hall()
    config = replace(
        base,
        services=(
            Service(id="A", name="社保", prefix="A"),
            Service(id="B", name="医保", prefix="B"),
        ),
        windows=(
            Window(
                number=1, name="1号窗口", services=(WindowService("A", 2), WindowService("B", 1))
            ),
            Window(number=2, name="2号窗口", services=(WindowService("B", 1),)),
            Window(number=3, name="3号窗口", services=(WindowService("A", 1),)),
        ),
    )
    engine = HallEngine(config)
    for window, staff in ((1, "1001"), (2, "1002"), (3, "1003")):
        engine.handle(c.Login(window=window, staff=staff), NINE - MINUTE)
    return engine


def issue(engine: HallEngine, service: str, when: int, **kw: object) -> str:
    [e] = engine.handle(c.IssueTicket(service=service, **kw), when)  # type: ignore[arg-type]
    assert isinstance(e, ev.TicketIssued)
    return e.number


def call(engine: HallEngine, window: int, when: int) -> str:
    [e] = engine.handle(c.CallNext(window=window), when)
    assert isinstance(e, ev.TicketCalled)
    return e.number


def test_weights_before_arrival() -> None:
    engine = hall()
    issue(engine, "B", at(9, 0))
    issue(engine, "A", at(9, 5))
    assert call(engine, 1, at(9, 10)) == "A001"
    assert call(engine, 2, at(9, 10)) == "B001"


def test_green_channel_before_weights() -> None:
    engine = hall()
    issue(engine, "A", at(9, 0))
    issue(engine, "B", at(9, 20), green_channel=True)
    assert call(engine, 1, at(9, 21)) == "B001"


def test_fairness_bound() -> None:
    for when, expected in ((at(9, 31), "B001"), (at(9, 29), "A001")):
        engine = hall()
        issue(engine, "B", at(9, 0))
        issue(engine, "A", at(9, 25), green_channel=True)
        assert call(engine, 1, when) == expected


def test_appointments_only_in_their_slot() -> None:
    slot = {"appointment_id": "Y1", "slot_start_ms": at(10, 0), "slot_end_ms": at(10, 30)}
    engine = hall()
    issue(engine, "A", at(9, 35))
    issue(engine, "A", at(9, 38), **slot)
    assert call(engine, 1, at(9, 40)) == "A001"
    engine = hall()
    issue(engine, "A", at(9, 35))
    issue(engine, "A", at(9, 38), **slot)
    assert call(engine, 1, at(9, 55)) == "A002"
    # Checked in 20 minutes after the slot ended: an ordinary ticket by arrival.
    engine = hall()
    issue(engine, "A", at(10, 45))
    issue(engine, "A", at(10, 50), **slot)
    assert call(engine, 1, at(10, 51)) == "A001"


def test_transfers_keep_their_place() -> None:
    engine = hall()
    for _ in range(6):  # A001..A006; A006 arrives at 9:00 in the page's example
        issue(engine, "A", at(9, 0))
    issue(engine, "B", at(9, 25))
    for minute in range(5):  # window 3 serves A001..A005 and A006 is called at 9:40
        call(engine, 3, at(9, 30 + minute))
        engine.handle(c.Finish(window=3), at(9, 30 + minute))
    assert call(engine, 3, at(9, 40)) == "A006"
    engine.handle(c.Transfer(window=3, to_service="B"), at(9, 40))
    assert call(engine, 1, at(9, 41)) == "A006"


def test_a_late_ordinary_ticket_outranks_a_transfer() -> None:
    engine = hall()
    issue(engine, "A", at(9, 0))
    issue(engine, "B", at(9, 10))
    call(engine, 3, at(9, 40))
    engine.handle(c.Transfer(window=3, to_service="B"), at(9, 40))
    assert call(engine, 1, at(9, 41)) == "B001"


def test_transfer_to_a_window() -> None:
    engine = hall()
    issue(engine, "A", at(9, 0))
    call(engine, 3, at(9, 1))
    engine.handle(c.Transfer(window=3, to_window=1), at(9, 2))
    issue(engine, "A", at(9, 3))
    assert call(engine, 3, at(9, 4)) == "A002"
    engine.handle(c.Finish(window=3), at(9, 5))
    assert call(engine, 1, at(9, 6)) == "A001"
