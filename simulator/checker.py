"""What the simulator can see and check at the end of a run, from the devices' records.

Sources, all device-side: slips the kiosks printed; Replies the keypads got (recorded when they
arrive, even after the clerk stopped waiting, so a run cut mid-press counts what the controller
did); what the strips, keypads, hall screens and kiosks show last; the pads' outboxes.

Rules (docs/simulator.md explains why they are fair):

1. Tickets. A printed ticket is *called* once a keypad Reply named it. A run always ends before
   the hall's closing time from the simulator's view, so a ticket never called is not a
   violation by itself: it is *open*, reported as a count per service. It is a violation
   (``ticket_unaccounted``) when a service has more open tickets than the hall still shows
   waiting for it (highest count shown by a hall screen or kiosk; no check when none shows
   one): the controller forgot (or silently expired) a ticket it printed. A Reply ok to a
   take_ticket with no slip printed is ``ticket_not_printed``.
2. Window strips. A window with an MQTT keypad and an MQTT strip must end showing what its
   keypad's last state implies (calling, serving, paused, idle); else ``display_mismatch``.
3. Ratings. Every pressed rating must end with an ok Reply: still in the outbox is
   ``rating_lost``, answered ok=False is ``rating_rejected``.
4. Requests. A request with no Reply after every re-send is ``request_unanswered``; a device
   still offline at the end is ``device_offline``.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from controller.config.model import HallConfig
from firmware_protocols import mqtt_v1 as proto
from simulator.devices import Fleet, SimCaller, SimWindowDisplay
from simulator.ledger import Ledger

PAUSED_TEXT = "暂停服务"
CALL_OPS = frozenset({proto.PressOp.CALL_NEXT, proto.PressOp.CALL_NUMBER})


class ViolationKind(enum.Enum):
    TICKET_UNACCOUNTED = "ticket_unaccounted"
    TICKET_NOT_PRINTED = "ticket_not_printed"
    DISPLAY_MISMATCH = "display_mismatch"
    RATING_LOST = "rating_lost"
    RATING_REJECTED = "rating_rejected"
    REQUEST_UNANSWERED = "request_unanswered"
    DEVICE_OFFLINE = "device_offline"
    SIMULATOR_ERROR = "simulator_error"  # a simulated person crashed: a bug here, not there


@dataclass(frozen=True, slots=True)
class Violation:
    kind: ViolationKind
    subject: str  # device id, service id or window
    detail: str


@dataclass(frozen=True, slots=True)
class Summary:
    tickets_issued: int  # slips printed
    tickets_called: int  # distinct numbers a keypad Reply called
    tickets_served: int  # finish presses answered ok
    ratings: int  # ratings answered ok
    not_evaluated: int  # rating timeouts answered ok
    lost: int  # ratings still undelivered
    devices_online: int
    devices_total: int
    errors: int  # bad payloads, protocol-error Replies, crashed people
    no_shows: int = 0
    transfers: int = 0
    refused: int = 0  # take_ticket refusals


@dataclass(frozen=True, slots=True)
class CheckResult:
    summary: Summary
    violations: tuple[Violation, ...]
    open_tickets: dict[str, int] = field(default_factory=dict)  # service -> never called


def called_numbers(callers: Iterable[SimCaller]) -> set[str]:
    numbers: set[str] = set()
    for caller in callers:
        for request, reply in caller.requests.answers:
            if (
                isinstance(request, proto.Press)
                and request.op in CALL_OPS
                and reply.ok
                and reply.number
            ):
                numbers.add(reply.number)
    return numbers


def _ok_presses(callers: Iterable[SimCaller], op: proto.PressOp) -> int:
    return sum(
        1
        for caller in callers
        for request, reply in caller.requests.answers
        if isinstance(request, proto.Press) and request.op is op and reply.ok
    )


def shown_waiting(fleet: Fleet) -> dict[str, int] | None:
    """Per service, the highest waiting count any hall screen or kiosk shows last."""
    counts: dict[str, int] = {}
    seen = False
    for screen in fleet.hall_screens:
        if screen.state is not None:
            seen = True
            for entry in screen.state.waiting:
                counts[entry.service] = max(counts.get(entry.service, 0), entry.waiting)
    for kiosk in fleet.kiosks:
        if kiosk.state is not None:
            seen = True
            for service in kiosk.state.services:
                counts[service.id] = max(counts.get(service.id, 0), service.waiting)
    return counts if seen else None


def _notices(config: HallConfig, fleet: Fleet) -> set[str]:
    notices = {config.hall.notice}
    notices.update(s.state.notice for s in fleet.hall_screens if s.state is not None)
    notices.update(k.state.notice for k in fleet.kiosks if k.state is not None)
    return notices


def display_problem(
    config: HallConfig,
    window: int,
    keypad: proto.CallerState,
    shown: proto.WindowDisplayState,
    notices: set[str],
) -> str | None:
    """Why ``shown`` is not what a strip must show for ``keypad``, or None if it is."""
    line = shown.lines[0] if shown.lines else ""
    state, current = keypad.window, keypad.current
    if state in (proto.WindowState.CALLING, proto.WindowState.SERVING) and current is None:
        return f"keypad shows {state.value} without a ticket"
    if state is proto.WindowState.CALLING:
        assert current is not None
        w = config.window(window)
        texts = {f"请{current}号到{window}号窗口办理"}
        if w is not None:
            texts.add(f"请{current}号到{w.name}办理")
        ok = shown.mode is proto.DisplayMode.CALLING and line in texts and shown.blink
        want = f"calling {sorted(texts)} blinking"
    elif state is proto.WindowState.SERVING:
        text = f"{current} 正在办理"
        ok = shown.mode is proto.DisplayMode.SERVING and line == text and not shown.blink
        want = f"serving {text!r}"
    elif state in (proto.WindowState.PAUSED, proto.WindowState.LOGGED_OUT):
        ok = shown.mode is proto.DisplayMode.PAUSED and line == PAUSED_TEXT
        want = f"paused {PAUSED_TEXT!r}"
    else:  # idle, or suspended (the window is free while the ticket is set aside)
        ok = shown.mode is proto.DisplayMode.IDLE and line in notices
        want = f"idle with the hall notice {sorted(notices)}"
    if ok:
        return None
    got = f"{shown.mode.value} {shown.lines!r} blink={shown.blink}"
    return f"keypad {state.value} {current or ''}: want {want}, strip shows {got}"


def check(
    config: HallConfig,
    fleet: Fleet,
    ledger: Ledger,
    *,
    people_failures: Iterable[BaseException] = (),
) -> CheckResult:
    violations: list[Violation] = []
    callers = list(fleet.callers.values())

    # 1. tickets
    printed = [t for kiosk in fleet.kiosks for t in kiosk.printed]
    printed_numbers = {t.number for t in printed}
    called = called_numbers(callers)
    service_of = {
        t.number: ledger.issued[t.number].service for t in printed if t.number in ledger.issued
    }
    prefixes = {s.prefix: s.id for s in config.services}
    open_tickets: Counter[str] = Counter()
    for number in printed_numbers - called:
        service = service_of.get(number) or prefixes.get(number.rstrip("0123456789"), "?")
        open_tickets[service] += 1
    waiting = shown_waiting(fleet)
    if waiting is not None:
        for service, count in sorted(open_tickets.items()):
            if count > waiting.get(service, 0):
                violations.append(
                    Violation(
                        ViolationKind.TICKET_UNACCOUNTED,
                        service,
                        f"{count} printed tickets never called, but the hall shows "
                        f"{waiting.get(service, 0)} waiting",
                    )
                )
    for kiosk in fleet.kiosks:
        for request, reply in kiosk.requests.answers:
            if not (isinstance(request, proto.TakeTicket) and reply.ok and reply.number):
                continue
            if reply.number not in printed_numbers:
                violations.append(
                    Violation(
                        ViolationKind.TICKET_NOT_PRINTED,
                        kiosk.id,
                        f"{reply.number} issued for {request.service} but never printed "
                        f"(printer {kiosk.printer_status().paper.value})",
                    )
                )

    # 2. window strips
    notices = _notices(config, fleet)
    for window, display in sorted(fleet.displays.items()):
        caller = fleet.callers.get(window)
        if caller is None:
            continue
        problem = _strip_problem(config, window, caller, display, notices)
        if problem is not None:
            violations.append(Violation(ViolationKind.DISPLAY_MISMATCH, display.id, problem))

    # 3. ratings
    ratings = not_evaluated = lost = 0
    for pad in fleet.evaluators.values():
        for entry in pad.outbox.pending:
            lost += 1
            violations.append(
                Violation(ViolationKind.RATING_LOST, pad.id, f"rating {entry.key} never answered")
            )
        for entry in pad.outbox.delivered:
            if entry.reply is not None and entry.reply.ok:
                ratings += 1
            else:
                code = entry.reply.code if entry.reply is not None else "?"
                violations.append(
                    Violation(ViolationKind.RATING_REJECTED, pad.id, f"rating {entry.key}: {code}")
                )
        not_evaluated += sum(1 for t in pad.timeouts if t.reply is not None and t.reply.ok)

    # 4. requests and devices
    errors = 0
    devices = list(fleet)
    for device in devices:
        errors += device.stats.decode_errors + device.stats.protocol_errors
        for record in device.requests.unanswered:
            violations.append(
                Violation(
                    ViolationKind.REQUEST_UNANSWERED,
                    device.id,
                    f"{record.kind} rid {record.rid}: no reply after {record.sends} sends",
                )
            )
        if not device.online:
            violations.append(
                Violation(ViolationKind.DEVICE_OFFLINE, device.id, "offline at the end")
            )
    for failure in people_failures:
        errors += 1
        violations.append(Violation(ViolationKind.SIMULATOR_ERROR, "people", repr(failure)))

    summary = Summary(
        tickets_issued=len(printed),
        tickets_called=len(called),
        tickets_served=_ok_presses(callers, proto.PressOp.FINISH),
        ratings=ratings,
        not_evaluated=not_evaluated,
        lost=lost,
        devices_online=sum(1 for d in devices if d.online),
        devices_total=len(devices),
        errors=errors,
        no_shows=_ok_presses(callers, proto.PressOp.NO_SHOW),
        transfers=_ok_presses(callers, proto.PressOp.TRANSFER),
        refused=sum(ledger.refusals.values()),
    )
    return CheckResult(summary, tuple(violations), dict(sorted(open_tickets.items())))


def _strip_problem(
    config: HallConfig,
    window: int,
    caller: SimCaller,
    display: SimWindowDisplay,
    notices: set[str],
) -> str | None:
    if caller.state is None:
        return None  # the keypad never got a state: nothing to compare with (see offline)
    if display.state is None:
        return "the strip never received a state"
    return display_problem(config, window, caller.state, display.state, notices)
