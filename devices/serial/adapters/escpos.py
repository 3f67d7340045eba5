"""ESC/POS ticket printers on a point-to-point serial line (firmware_protocols.escpos).

The poll asks DLE EOT n in turn for n = 1 (online), 2 (cover, paper out, error) and 4 (paper
sensor); each answer is one byte. Print jobs are written with no reply due; the next status
poll tells whether paper ran out. The driver gets the merged ``PrinterStatus`` whenever it
changes. There are no addresses on this line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from devices.serial.adapter import Exchange, ProtocolAdapter, UnsupportedCommandError
from firmware_protocols import escpos as ep
from firmware_protocols.base import DecodeError

_KINDS = (ep.StatusKind.PRINTER, ep.StatusKind.OFFLINE_CAUSE, ep.StatusKind.PAPER_SENSOR)


@dataclass(frozen=True, slots=True)
class PrintJob:
    """Raw ESC/POS bytes (a ticket from ``escpos.ticket_bytes``, or a test page)."""

    data: bytes


class EscPosAdapter(ProtocolAdapter):
    protocol = "escpos"

    def __init__(self, address: int = 0) -> None:
        super().__init__(address)
        self._decoder = ep.StatusDecoder()
        self._turn = 0
        self.status = ep.PrinterStatus()

    def poll(self) -> Exchange:
        kind = _KINDS[self._turn % len(_KINDS)]
        self._turn += 1
        return Exchange(ep.status_request(kind), True, 1, kind)

    def command(self, message: object) -> Exchange:
        if isinstance(message, ep.TicketPrint):
            message = PrintJob(ep.ticket_bytes(message))
        if not isinstance(message, PrintJob) or not message.data:
            raise UnsupportedCommandError(f"a printer takes TicketPrint or PrintJob: {message!r}")
        return Exchange(message.data, False, 0, message)

    def begin_reply(self, exchange: Exchange) -> None:
        assert isinstance(exchange.request, ep.StatusKind)
        self._decoder.cancel()
        self._decoder.expect(exchange.request)

    def receive(self, data: bytes) -> Iterable[ep.PrinterStatus | DecodeError]:
        self._decoder.receive_data(data)
        return list(self._decoder.events_received())

    def end_reply(self) -> Iterable[ep.PrinterStatus | DecodeError]:
        self._decoder.cancel()
        return ()

    def is_reply(self, exchange: Exchange, item: object) -> bool:
        return isinstance(item, ep.PrinterStatus)

    def frame_address(self, item: object) -> int | None:
        return None

    def reportable(self, item: object, exchange: Exchange | None) -> object | None:
        if not isinstance(item, ep.PrinterStatus):
            return None
        merged = self.status.merge(item)
        changed = merged != self.status
        self.status = merged
        return merged if changed else None
