"""The checker's rules on hand-made device records (no broker: devices are never started)."""

from __future__ import annotations

import asyncio

from firmware_protocols import mqtt_v1 as p
from simulator.checker import ViolationKind, check, display_problem
from simulator.devices import Fleet, build_fleet
from simulator.devices.kiosk import PrintedTicket
from simulator.devices.requests import OutboxEntry
from simulator.ledger import Ledger
from tests.simulator.halls import tiny_hall

CONFIG = tiny_hall()
NOTICES = {"欢迎光临"}


def fleet() -> Fleet:
    return build_fleet(CONFIG, ("127.0.0.1", 1))


def printed(fleet: Fleet, *numbers: str) -> None:
    for i, number in enumerate(numbers, 1):
        fleet.kiosks[0].printed.append(
            PrintedTicket(number, "不动产登记", 0, None, "2026-11-22 09:00", None, "kiosk-1", i)
        )


def called(fleet: Fleet, window: int, *numbers: str) -> None:
    caller = fleet.callers[window]
    for rid, number in enumerate(numbers, 1):
        caller.requests.answers.append(
            (
                p.Press(rid=rid, op=p.PressOp.CALL_NEXT),
                p.Reply(id=rid, rid=rid, ok=True, number=number),
            )
        )


def kinds(result_violations: object) -> list[ViolationKind]:
    return [v.kind for v in result_violations]  # type: ignore[attr-defined]


def shown_waiting(fleet: Fleet, a: int, b: int = 0) -> None:
    fleet.kiosks[0].state = p.KioskState(
        services=[
            p.KioskService(id="A", name="不动产登记", waiting=a),
            p.KioskService(id="B", name="社保业务", waiting=b),
        ]
    )


def test_serial_devices_are_skipped() -> None:
    f = fleet()
    assert f.skipped == ["w3-keypad"]
    assert sorted(d.id for d in f) == sorted(
        [
            "kiosk-1",
            "kiosk-2",
            "screen",
            "w1-caller",
            "w1-led",
            "w1-pad",
            "w2-caller",
            "w2-pad",
            "w3-led",
        ]
    )


def test_uncalled_tickets_the_hall_still_shows_waiting_are_open_not_violations() -> None:
    f = fleet()
    printed(f, "A001", "A002", "A003")
    called(f, 1, "A001")
    shown_waiting(f, 2)
    result = check(CONFIG, f, Ledger())
    assert ViolationKind.TICKET_UNACCOUNTED not in kinds(result.violations)
    assert result.open_tickets == {"A": 2}
    assert (result.summary.tickets_issued, result.summary.tickets_called) == (3, 1)


def test_a_printed_ticket_the_hall_forgot_is_a_violation() -> None:
    f = fleet()
    printed(f, "A001", "A002", "A003")
    called(f, 1, "A001")
    shown_waiting(f, 1)
    result = check(CONFIG, f, Ledger())
    unaccounted = [v for v in result.violations if v.kind is ViolationKind.TICKET_UNACCOUNTED]
    assert [(v.subject, v.detail) for v in unaccounted] == [
        ("A", "2 printed tickets never called, but the hall shows 1 waiting")
    ]


def test_without_any_waiting_count_shown_open_tickets_are_only_counted() -> None:
    f = fleet()
    printed(f, "A001")
    result = check(CONFIG, f, Ledger())
    assert result.open_tickets == {"A": 1}
    assert ViolationKind.TICKET_UNACCOUNTED not in kinds(result.violations)


def test_an_issued_ticket_never_printed_is_a_violation() -> None:
    f = fleet()
    kiosk = f.kiosks[1]
    kiosk.requests.answers.append(
        (p.TakeTicket(rid=1, service="B"), p.Reply(id=1, rid=1, ok=True, number="B001"))
    )
    result = check(CONFIG, f, Ledger())
    [violation] = [v for v in result.violations if v.kind is ViolationKind.TICKET_NOT_PRINTED]
    assert violation.subject == "kiosk-2" and "B001" in violation.detail


def test_strip_rules_follow_the_keypad_state() -> None:
    calling = p.CallerState(window=p.WindowState.CALLING, current="A007")
    serving = p.CallerState(window=p.WindowState.SERVING, current="A007")
    idle = p.CallerState(window=p.WindowState.IDLE)
    out = p.CallerState(window=p.WindowState.LOGGED_OUT)
    strip = p.WindowDisplayState
    good = [
        (calling, strip(mode=p.DisplayMode.CALLING, lines=["请A007号到1号窗口办理"], blink=True)),
        (
            calling,
            strip(
                mode=p.DisplayMode.CALLING, lines=["请A007号到综合窗口办理", "(重呼)"], blink=True
            ),
        ),
        (serving, strip(mode=p.DisplayMode.SERVING, lines=["A007 正在办理"])),
        (idle, strip(mode=p.DisplayMode.IDLE, lines=["欢迎光临"])),
        (out, strip(mode=p.DisplayMode.PAUSED, lines=["暂停服务"])),
    ]
    bad = [
        (calling, strip(mode=p.DisplayMode.CALLING, lines=["请A008号到1号窗口办理"], blink=True)),
        (calling, strip(mode=p.DisplayMode.CALLING, lines=["请A007号到1号窗口办理"], blink=False)),
        (serving, strip(mode=p.DisplayMode.CALLING, lines=["请A007号到1号窗口办理"], blink=True)),
        (idle, strip(mode=p.DisplayMode.PAUSED, lines=["暂停服务"])),
        (out, strip(mode=p.DisplayMode.IDLE, lines=["欢迎光临"])),
    ]
    assert [display_problem(CONFIG, 1, k, s, NOTICES) for k, s in good] == [None] * len(good)
    assert all(display_problem(CONFIG, 1, k, s, NOTICES) for k, s in bad)


def test_a_strip_left_behind_its_keypad_is_a_violation() -> None:
    f = fleet()
    f.callers[1].state = p.CallerState(window=p.WindowState.SERVING, current="A001")
    f.displays[1].state = p.WindowDisplayState(
        mode=p.DisplayMode.CALLING, lines=["请A001号到1号窗口办理"], blink=True
    )
    result = check(CONFIG, f, Ledger())
    [violation] = [v for v in result.violations if v.kind is ViolationKind.DISPLAY_MISMATCH]
    assert violation.subject == "w1-led" and "serving" in violation.detail


async def test_ratings_still_in_the_outbox_are_lost_and_refused_ones_rejected() -> None:
    f = fleet()
    pad = f.evaluators[1]
    loop = asyncio.get_running_loop()

    def make(rid: int) -> p.UpMessage:
        return p.RatingTimeout(rid=rid, ticket=1)

    pad.outbox.pending.append(OutboxEntry("r-1", make, loop.time()))
    pad.outbox.delivered.append(
        OutboxEntry(
            "r-2", make, loop.time(), reply=p.Reply(id=1, rid=1, ok=False, code="evaluation_closed")
        )
    )
    pad.outbox.delivered.append(
        OutboxEntry("r-3", make, loop.time(), reply=p.Reply(id=2, rid=2, ok=True))
    )
    result = check(CONFIG, f, Ledger())
    assert [(v.kind, v.subject) for v in result.violations if v.subject == "w1-pad"] == [
        (ViolationKind.RATING_LOST, "w1-pad"),
        (ViolationKind.RATING_REJECTED, "w1-pad"),
        (ViolationKind.DEVICE_OFFLINE, "w1-pad"),
    ]
    assert (result.summary.ratings, result.summary.lost) == (1, 1)


def test_devices_that_never_connected_are_reported_offline() -> None:
    result = check(CONFIG, fleet(), Ledger())
    offline = [v.subject for v in result.violations if v.kind is ViolationKind.DEVICE_OFFLINE]
    assert len(offline) == 9 and result.summary.devices_online == 0
    assert result.summary.devices_total == 9


def test_a_crashed_person_is_a_simulator_error() -> None:
    result = check(CONFIG, fleet(), Ledger(), people_failures=[RuntimeError("boom")])
    assert ViolationKind.SIMULATOR_ERROR in kinds(result.violations)
    assert result.summary.errors == 1
