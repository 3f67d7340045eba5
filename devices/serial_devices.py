"""RS-485 devices of one hall: key presses and pad ratings in, desired states out.

The serial twin of ``devices.hub``: the same desired states (``devices.views``), the same
engine commands, the same availability record; only the wire differs. One ``BusMaster`` per
configured bus owns its port; this module maps what a device reported (a key press, a rating)
to an engine command, and what the hall's state says a device should show to a frame.

Mapped today (the protocols with queue semantics):

* ``keypad_bus`` callers: digits + keys through ``keypad_bus.KeySequence`` (呼叫, 指呼 with
  digits, 重呼, 办结 = finish and invite a rating, 弃号 ``6``+确认, 挂起 ``0``+确认, 回呼
  ``3``+确认 (the window's latest suspended ticket), 暂停 toggles pause/resume, 转移 with
  digits = to that window); a refused press beeps. The six-digit display shows the ticket at
  the window, else the waiting count. Legacy keypads have no login key: staff log in at the
  web caller or the console, and the keypad works for whoever is logged in at its window.
* ``keypad_bus`` evaluators: FUNC 11 values 1..5 are the national coding (1 = 非常满意 ...
  5 = 非常不满意); four-key pads send 1..4 and cannot express 非常不满意. The rating is for the
  service last finished at the pad's window.
* ``native`` callers and evaluators (typed key and rating events) and displays.
* ``led_strip*`` window strips and hall screens: the text of the window's or hall's view.
* ``escpos`` printers (kind ``kiosk``): tickets taken through ``take_ticket`` are printed.

QSystem boards/buttons and Modbus devices are attached (polled, availability, statistics) but
not yet mapped to hall operations.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from controller.config.model import Device, DeviceKind, HallConfig, LinkKind
from controller.core import commands as cmd
from controller.core import events as ev
from controller.core.lifecycle import Rejected
from controller.core.ports import HallPort, HallUnavailable
from controller.core.queries import estimated_wait_minutes
from devices.availability import Availability
from devices.operations import KeypadOperation, Op, window_command
from devices.serial.adapter import (
    Availability as BusAvailability,
)
from devices.serial.adapter import (
    AvailabilityChange,
    DeviceReport,
)
from devices.serial.adapters.factory import adapter_for
from devices.serial.bus import BusMaster, CommandRefused
from devices.views import HallExtras, display_view, hall_screen_view
from firmware_protocols import escpos as ep
from firmware_protocols import keypad_bus as kb
from firmware_protocols import led_strip
from firmware_protocols import native as nv

log = logging.getLogger("hallctl.serial")

CALLER_REFRESH_S = 2.0

_KEY_OPS = {
    kb.Operation.CALL_NEXT: "call_next",
    kb.Operation.CALL_NUMBER: "call_number",
    kb.Operation.RECALL: "recall",
    kb.Operation.REQUEST_RATING: "finish",
    kb.Operation.NO_SHOW: "no_show",
    kb.Operation.SUSPEND: "suspend",
    kb.Operation.CALL_BACK: "call_back",
    kb.Operation.LINE_REMINDER: "one_metre_line",
    kb.Operation.PAUSE: "pause_toggle",
    kb.Operation.TRANSFER: "transfer",
}

# National coding on legacy pads and in the native protocol: 1 = 非常满意 ... 5 = 非常不满意.
_NATIONAL_LEVELS = {
    1: cmd.RatingLevel.VERY_SATISFIED,
    2: cmd.RatingLevel.SATISFIED,
    3: cmd.RatingLevel.BASICALLY_SATISFIED,
    4: cmd.RatingLevel.DISSATISFIED,
    5: cmd.RatingLevel.VERY_DISSATISFIED,
}


@dataclass(frozen=True, slots=True)
class SerialDevice:
    device: Device
    bus: str
    address: int
    protocol: str


class SerialDevices:
    """Every serial device of one hall; see the module docstring."""

    def __init__(
        self,
        hall: HallPort,
        buses: dict[str, BusMaster],
        availability: Availability,
        *,
        followup_url: Callable[[int], str | None] = lambda ticket: None,
    ) -> None:
        self.hall = hall
        self.config: HallConfig = hall.engine.config
        self.buses = buses
        self.availability = availability
        self.extras = HallExtras.from_state(hall.state)
        self._followup_url = followup_url
        self._tz = ZoneInfo(self.config.hall.timezone)
        self._keys = kb.KeySequence()
        self._at: dict[tuple[str, int], SerialDevice] = {}
        self._by_window: dict[int, list[SerialDevice]] = {}
        self._hall_wide: list[SerialDevice] = []
        self._last: dict[str, object] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.refused = 0
        self.errors = 0
        for device in self.config.devices:
            if device.link is not LinkKind.SERIAL or device.serial is None:
                continue
            link = device.serial
            if device.id not in availability.devices:
                availability.add(device.id, device.kind.value, "serial", device.window)
            entry = SerialDevice(device, link.bus, link.address, link.protocol)
            buses[link.bus].attach(adapter_for(link), self)
            self._at[(link.bus, link.address)] = entry
            if device.window is not None:
                self._by_window.setdefault(device.window, []).append(entry)
            if device.kind in (DeviceKind.HALL_SCREEN, DeviceKind.CALLER):
                self._hall_wide.append(entry)
        hall.subscribe(self.on_events)

    @property
    def devices(self) -> list[SerialDevice]:
        return list(self._at.values())

    # -- lifecycle -----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Start the buses, show every device its state, refresh hall-wide views; then stop."""
        for bus in self.buses.values():
            bus.start()
        for entry in self._at.values():
            self._show(entry, force=True)
        try:
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), CALLER_REFRESH_S)
                except TimeoutError:
                    for entry in self._hall_wide:
                        self._show(entry)
        finally:
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=1.0)
            for bus in self.buses.values():
                await bus.close()

    # -- BusListener ---------------------------------------------------------------------

    def availability_changed(self, change: AvailabilityChange) -> None:
        entry = self._at.get((change.bus, change.address))
        if entry is None:
            return
        now = self.hall.now()
        if change.availability is BusAvailability.ONLINE:
            self.availability.birth(entry.device.id, None, now)
            self._show(entry, force=True)  # a strip that was off shows the right text again
        elif change.availability is BusAvailability.OFFLINE:
            self.availability.offline(entry.device.id, now)

    def device_report(self, report: DeviceReport) -> None:
        entry = self._at.get((report.bus, report.address))
        if entry is None:
            return
        self.availability.seen(entry.device.id, self.hall.now())
        item = report.item
        if isinstance(item, kb.KeyPress) and entry.device.kind is DeviceKind.CALLER:
            outcome = self._keys.feed(item)
            if isinstance(outcome, kb.KeyOperation):
                self._spawn(self._operate(entry, _KEY_OPS[outcome.operation], outcome.argument))
            elif isinstance(outcome, kb.KeyRejected):
                self._beep(entry)
        elif isinstance(item, nv.KeyEvent) and entry.device.kind is DeviceKind.CALLER:
            op, argument = _native_key(item)
            if op is None:
                self._beep(entry)
            else:
                self._spawn(self._operate(entry, op, argument))
        elif isinstance(item, kb.Rating) and entry.device.kind is DeviceKind.EVALUATOR:
            self._spawn(self._rate(entry, item.value))
        elif isinstance(item, nv.RatingEvent) and entry.device.kind is DeviceKind.EVALUATOR:
            self._spawn(self._rate(entry, int(item.rating)))
        elif isinstance(item, ep.PrinterStatus):
            flags = [
                name
                for name in ("paper_out", "paper_near_end", "cover_open")
                if getattr(item, name, False)
            ]
            self.availability.devices[entry.device.id].printer = ",".join(flags) or "ok"

    # -- requests ------------------------------------------------------------------------

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _operate(self, entry: SerialDevice, op: str, argument: str | None) -> None:
        window_number = entry.device.window
        assert window_number is not None
        try:
            command = self._command(window_number, op, argument)
            if command is None:
                if op not in ("one_metre_line",):
                    self._beep(entry)
                return
            await self.hall.submit(command)
        except Rejected as exc:
            self.refused += 1
            log.info(
                "serial press refused",
                extra={"device": entry.device.id, "reason": exc.reason.value},
            )
            self._beep(entry)
        except HallUnavailable:  # the log cannot be written: the daemon reports that once
            self.refused += 1
            self._beep(entry)
        except Exception:
            self.errors += 1
            log.exception("serial press failed", extra={"device": entry.device.id})
            self._beep(entry)

    def _command(self, window: int, op: str, argument: str | None) -> cmd.AnyCommand | None:
        """A legacy key operation as a keypad operation: digits are a ticket number for 指呼
        and a window number for 转移; 回呼 takes the window's latest suspended ticket."""
        operation = KeypadOperation(Op(op))
        if operation.op is Op.CALL_NUMBER:
            if not argument:
                return None
            operation = KeypadOperation(Op.CALL_NUMBER, number=self._number_for(window, argument))
        elif operation.op is Op.TRANSFER:
            if not argument or not argument.isdigit():
                return None
            operation = KeypadOperation(Op.TRANSFER, to_window=int(argument))
        return window_command(self.hall.state, window, operation)

    def _number_for(self, window: int, digits: str) -> str:
        """Keypads type digits only: 23 at a window serving A means A023 (the first open
        ticket with those digits among the window's services)."""
        state = self.hall.state
        runtime = state.windows[window]
        for service_id, _ in runtime.services:
            service = self.config.service(service_id)
            if service is None:
                continue
            number = f"{service.prefix}{int(digits):0{service.number_width}d}"
            if number in state.open_numbers:
                return number
        return digits

    async def _rate(self, entry: SerialDevice, value: int) -> None:
        level = _NATIONAL_LEVELS.get(value)
        window_number = entry.device.window
        runtime = self.hall.state.windows.get(window_number) if window_number else None
        if level is None or runtime is None or runtime.last_finished is None:
            self.refused += 1
            return
        try:
            await self.hall.submit(
                cmd.Rate(
                    ticket=runtime.last_finished,
                    level=level,
                    channel=cmd.RatingChannel.WINDOW_PAD,
                    evidence=cmd.Evidence.LEGACY_SERIAL,  # the bus cannot sign: say so
                )
            )
            if window_number is not None:
                self.extras.thanks_until_ms[window_number] = self.hall.now() + 5000
        except Rejected as exc:
            # A repeated press after a lost acknowledgement lands here (already evaluated):
            # the keypad bus cannot tell it from a new press, the engine refuses the second.
            self.refused += 1
            log.info(
                "serial rating refused",
                extra={"device": entry.device.id, "reason": exc.reason.value},
            )

    # -- kiosk printers ------------------------------------------------------------------

    async def take_ticket(self, kiosk: str, service: str, *, green: bool = False) -> str:
        """Issue a ticket for a kiosk whose printer is on a serial line, and print it.
        Raises ``Rejected`` (nothing printed) or ``CommandRefused``."""
        entry = next((e for e in self._at.values() if e.device.id == kiosk), None)
        if entry is None or entry.protocol != "escpos":
            raise KeyError(f"{kiosk} is not a serial kiosk printer")
        receipt = await self.hall.submit(cmd.IssueTicket(service=service, green_channel=green))
        [issued] = [e for e in receipt.events if isinstance(e, ev.TicketIssued)]
        state = self.hall.state
        service_config = self.config.service(issued.service)
        ahead = max(0, state.waiting_by_service.get(issued.service, 1) - 1)
        local = datetime.fromtimestamp(issued.at / 1000, self._tz)
        ticket = ep.TicketPrint(
            hall_name=self.config.hall.name,
            ticket_number=issued.number,
            service_name=service_config.name if service_config else issued.service,
            people_ahead=ahead,
            wait_minutes=estimated_wait_minutes(state, issued.service, ahead),
            issued_at=local.strftime("%Y-%m-%d %H:%M"),
            rating_url=self._followup_url(issued.ticket) or "",
            footer=self.config.hall.notice,
        )
        await self.buses[entry.bus].request(entry.address, ticket)
        return issued.number

    # -- outbound ------------------------------------------------------------------------

    def on_events(self, events: list[ev.AnyEvent], seq: int) -> None:
        for window in self.extras.observe(events, self.hall.state):
            for entry in self._by_window.get(window, ()):
                self._show(entry)
        if any(isinstance(e, ev.TicketCalled | ev.TicketRecalled) for e in events):
            for entry in self._hall_wide:
                if entry.device.kind is DeviceKind.HALL_SCREEN:
                    self._show(entry)  # a hall screen shows each call as it happens

    def _show(self, entry: SerialDevice, *, force: bool = False) -> None:
        message = self._render(entry)
        if message is None or (not force and self._last.get(entry.device.id) == message):
            return
        self._last[entry.device.id] = message
        try:
            self.buses[entry.bus].show(entry.address, message)
        except CommandRefused as exc:
            self.errors += 1
            log.warning(
                "serial display refused", extra={"device": entry.device.id, "reason": str(exc)}
            )

    def _render(self, entry: SerialDevice) -> object | None:
        state = self.hall.state
        kind = entry.device.kind
        window = entry.device.window
        if kind is DeviceKind.WINDOW_DISPLAY and window is not None:
            view = display_view(state, window, self.extras)
            text = " ".join(view.lines)
            if entry.protocol == "native":
                return nv.DisplayText(line=0, text=text, blink=view.blink)
            if entry.protocol.startswith("led_strip"):
                return led_strip.ShowText(entry.address, text)
            return None
        if kind is DeviceKind.HALL_SCREEN and entry.protocol.startswith("led_strip"):
            screen = hall_screen_view(state, self.extras)
            calls = " ".join(f"{c.number}→{c.window}" for c in screen.calls[:4])
            return led_strip.ShowText(
                entry.address, calls or screen.notice, variant=led_strip.Variant.HALL_SCREEN
            )
        if kind is DeviceKind.CALLER and window is not None and entry.protocol == "keypad_bus":
            runtime = state.windows[window]
            if runtime.ticket is not None:
                digits = "".join(c for c in state.tickets[runtime.ticket].number if c.isdigit())
                return kb.Display.ticket(entry.address, digits[-6:] or "0")
            waiting = sum(state.waiting_by_service.get(s, 0) for s, _ in runtime.services)
            return kb.Display.waiting_count(entry.address, min(waiting, 999))
        return None

    def _beep(self, entry: SerialDevice) -> None:
        if entry.protocol != "keypad_bus":
            return
        try:
            self.buses[entry.bus].submit(entry.address, kb.Beep(entry.address))
        except CommandRefused:
            self.errors += 1


def _native_key(event: nv.KeyEvent) -> tuple[str | None, str | None]:
    value = None if event.value is None else str(event.value)
    key = event.key
    if key is nv.Key.CALL:
        return ("call_number", value) if value else ("call_next", None)
    if key is nv.Key.CONFIRM:
        return {"6": ("no_show", None), "0": ("suspend", None), "3": ("call_back", None)}.get(
            value or "", (None, None)
        )
    simple = {
        nv.Key.RECALL: "recall",
        nv.Key.REQUEST_RATING: "finish",
        nv.Key.ONE_METRE_LINE: "one_metre_line",
        nv.Key.PAUSE: "pause_toggle",
    }
    if key in simple:
        return simple[key], None
    if key is nv.Key.TRANSFER and value:
        return "transfer", value
    return None, None


def build_buses(config: HallConfig) -> dict[str, BusMaster]:
    """A bus master for every configured bus that has devices."""
    used = {d.serial.bus for d in config.devices if d.serial is not None}
    return {bus.id: BusMaster(bus) for bus in config.buses if bus.id in used}
