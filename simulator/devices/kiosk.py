"""Simulated ticket kiosk (取号机): take_ticket -> Reply -> PrintTicket, and its printer.

The printer holds a number of sheets; it reports ``low`` from ``paper_low`` down and ``out`` at
zero (a PrinterStatus after every birth and on every change). A PrintTicket that cannot be
printed is acked ``printer``. Printed slips are kept: they are what the citizens hold.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass

from firmware_protocols import mqtt_v1 as proto
from simulator.devices.base import SimDevice
from simulator.devices.connection import Endpoint
from simulator.devices.requests import RETRY_AFTER

PRINT_WAIT = 5.0  # real seconds between an ok Reply and its PrintTicket before we give up


@dataclass(frozen=True, slots=True)
class PrintedTicket:
    number: str
    service_name: str
    ahead: int
    wait_min: int | None
    issued: str
    qr: str | None
    kiosk: str
    command_id: int


class TakeResult(enum.Enum):
    PRINTED = "printed"
    REFUSED = "refused"  # Reply ok=False: ``code`` says why
    NOT_PRINTED = "not_printed"  # Reply ok, but no PrintTicket came (or printing failed)
    UNANSWERED = "unanswered"  # no Reply after every re-send


@dataclass(frozen=True, slots=True)
class TakeOutcome:
    result: TakeResult
    service: str
    number: str | None = None
    code: str | None = None
    ticket: PrintedTicket | None = None
    text: str = ""  # the controller's words with a refusal (shown on the kiosk's screen)


class SimKiosk(SimDevice):
    kind = proto.DeviceKind.KIOSK

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        paper: int = 2000,
        paper_low: int = 50,
        retry_after: float = RETRY_AFTER,
    ) -> None:
        super().__init__(endpoint, retry_after=retry_after)
        self.paper = paper
        self.paper_low = paper_low
        self.jam = False
        self.state: proto.KioskState | None = None
        self.printed: list[PrintedTicket] = []
        self.outcomes: list[TakeOutcome] = []
        self.print_failures = 0
        self._reported: proto.PrinterStatus | None = None
        self._print_waiters: dict[str, asyncio.Future[PrintedTicket | None]] = {}
        self._screen = asyncio.Lock()  # one citizen at the touch screen at a time

    # --- state ---------------------------------------------------------------------------------

    def accepts(self, state: proto.DeviceState) -> bool:
        return isinstance(state, proto.KioskState)

    def apply(self, state: proto.DeviceState) -> None:
        assert isinstance(state, proto.KioskState)
        self.state = state

    def offers(self, service: str) -> bool:
        """Whether the screen shows ``service`` as available right now."""
        if self.state is None:
            return False
        return any(s.id == service and s.enabled for s in self.state.services)

    # --- printer -------------------------------------------------------------------------------

    def printer_status(self) -> proto.PrinterStatus:
        if self.paper <= 0:
            paper = proto.PaperLevel.OUT
        elif self.paper <= self.paper_low:
            paper = proto.PaperLevel.LOW
        else:
            paper = proto.PaperLevel.OK
        return proto.PrinterStatus(paper=paper, jam=self.jam)

    @property
    def printer_ready(self) -> bool:
        return self.paper > 0 and not self.jam

    def set_paper(self, sheets: int) -> None:
        """Load or remove paper (``0``: run out); reports the change."""
        self.paper = max(0, sheets)
        self._report_printer()

    def _report_printer(self, *, always: bool = False) -> None:
        status = self.printer_status()
        if (always or status != self._reported) and self._publish_up(status):
            self._reported = status

    def on_connected(self, session: int) -> None:
        self._report_printer(always=True)

    def execute(self, command: proto.PrintTicket) -> proto.Ack:
        if not self.printer_ready:
            self.print_failures += 1
            self._report_printer()
            waiter = self._print_waiters.get(command.number)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            return proto.Ack(id=command.id, ok=False, code=proto.AckError.PRINTER, text="缺纸")
        self.paper -= 1
        ticket = PrintedTicket(
            number=command.number,
            service_name=command.service,
            ahead=command.ahead,
            wait_min=command.wait_min,
            issued=command.issued,
            qr=command.qr,
            kiosk=self.id,
            command_id=command.id,
        )
        self.printed.append(ticket)
        waiter = self._print_waiters.get(command.number)
        if waiter is not None and not waiter.done():
            waiter.set_result(ticket)
        self._report_printer()
        return proto.Ack(id=command.id, ok=True)

    # --- citizens ------------------------------------------------------------------------------

    async def take_ticket(
        self, service: str, *, green: bool = False, appt: str | None = None
    ) -> TakeOutcome:
        """Press the service button and wait for the slip (citizens queue for the screen)."""
        async with self._screen:
            return await self._take(service, green, appt)

    async def _take(self, service: str, green: bool, appt: str | None) -> TakeOutcome:
        reply, _ = await self.requests.send(
            lambda rid: proto.TakeTicket(rid=rid, service=service, green=green, appt=appt)
        )
        if reply is None:
            return self._outcome(TakeOutcome(TakeResult.UNANSWERED, service))
        if not reply.ok or reply.number is None:
            return self._outcome(
                TakeOutcome(TakeResult.REFUSED, service, code=reply.code, text=reply.text)
            )
        number = reply.number
        for ticket in reversed(self.printed):  # the print may have come with the reply
            if ticket.number == number:
                return self._outcome(TakeOutcome(TakeResult.PRINTED, service, number, None, ticket))
        waiter: asyncio.Future[PrintedTicket | None] = asyncio.get_running_loop().create_future()
        self._print_waiters[number] = waiter
        try:
            async with asyncio.timeout(PRINT_WAIT):
                printed = await waiter
        except TimeoutError:
            printed = None
        finally:
            self._print_waiters.pop(number, None)
        if printed is None:
            return self._outcome(TakeOutcome(TakeResult.NOT_PRINTED, service, number))
        return self._outcome(TakeOutcome(TakeResult.PRINTED, service, number, None, printed))

    def _outcome(self, outcome: TakeOutcome) -> TakeOutcome:
        self.outcomes.append(outcome)
        return outcome
