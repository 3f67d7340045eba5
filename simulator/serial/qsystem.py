"""Simulated QSystem boards and button boxes (docs/protocol/qsystem.md)."""

from __future__ import annotations

from typing import Any, ClassVar

from firmware_protocols import qsystem as qs
from firmware_protocols.base import Decoder
from simulator.serial.device import SimDevice

IDLE_CHARS = 3  # a box waits this long on a quiet line before it talks


class SimQSystemBoard(SimDevice):
    checksum_index: ClassVar[int | None] = None

    def __init__(self, address: int, *, turnaround_s: float = 0.005) -> None:
        super().__init__(address, turnaround_s=turnaround_s)
        self.shown: list[qs.BoardText] = []

    def make_decoder(self) -> Decoder[Any]:
        return qs.QSystemDecoder(qs.Role.DEVICE)

    def handle(self, frame: object, at: float) -> bytes | None:
        if isinstance(frame, qs.BoardText) and frame.address == self.address:
            self.shown.append(frame)
        return None


class SimButtonBox(SimDevice):
    """Sends a press unasked once the line is idle; records LED commands."""

    checksum_index: ClassVar[int | None] = None

    def __init__(self, address: int, *, turnaround_s: float = 0.005) -> None:
        super().__init__(address, turnaround_s=turnaround_s)
        self.leds: list[int] = []

    def make_decoder(self) -> Decoder[Any]:
        return qs.QSystemDecoder(qs.Role.DEVICE)

    def handle(self, frame: object, at: float) -> bytes | None:
        if isinstance(frame, qs.ButtonLeds) and frame.address == self.address:
            self.leds.append(frame.command)
        return None

    def press(self, key: int) -> None:
        line = self.bus.line
        start = max(line.loop.time(), line.idle_since() + IDLE_CHARS * line.settings.char_time)
        self.send(qs.encode(qs.ButtonPress(self.address, key)), start)
