"""A simulated ESC/POS ticket printer: decodes each print job and answers DLE EOT status.

A ticket runs from ESC @ to the cut; the printer keeps its text lines (GB18030, decoded by the
codec) and QR payloads. Paper state is set by the test and reported in status replies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from firmware_protocols import escpos as ep
from firmware_protocols.base import Decoder
from simulator.serial.device import SimDevice


@dataclass(slots=True)
class PrintedTicket:
    lines: list[str] = field(default_factory=list)
    qr_payloads: list[bytes] = field(default_factory=list)
    cut: bool = False
    finished_at: float = 0.0


class SimPrinter(SimDevice):
    checksum_index: ClassVar[int | None] = 0  # no checksum: flipping bit 0 breaks fixed bits

    def __init__(self, *, encoding: str = "gb18030", turnaround_s: float = 0.001) -> None:
        self.encoding = encoding
        super().__init__(0, turnaround_s=turnaround_s)
        self.status = ep.PrinterStatus(online=True, cover_open=False, paper_near_end=False,
                                       paper_out=False, error=False)  # fmt: skip
        self.tickets: list[PrintedTicket] = []
        self._current: PrintedTicket | None = None

    def make_decoder(self) -> Decoder[Any]:
        return ep.TicketDecoder(encoding=self.encoding)

    def handle(self, frame: object, at: float) -> bytes | None:
        if isinstance(frame, ep.StatusRequest):
            return bytes([ep.encode_status(frame.kind, self.status)])
        if isinstance(frame, ep.Initialize):
            self._current = PrintedTicket()
        elif self._current is not None:
            if isinstance(frame, ep.TextLine):
                self._current.lines.append(frame.text)
            elif isinstance(frame, ep.QrCode):
                self._current.qr_payloads.append(frame.data)
            elif isinstance(frame, ep.Cut):
                self._current.cut, self._current.finished_at = True, at
                self.tickets.append(self._current)
                self._current = None
        return None
