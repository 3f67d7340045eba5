"""Simulated LED window strips and hall screens (docs/protocol/led-strip.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from firmware_protocols import led_strip as led
from firmware_protocols.base import Decoder
from simulator.serial.device import SimDevice

WINDOW_STRIP = led.LedTarget(led.STANDARD, led.Variant.WINDOW_STRIP)


@dataclass(frozen=True, slots=True)
class Shown:
    at: float  # line time the frame's last byte arrived
    text: str


class SimLedStrip(SimDevice):
    """Records every text it shows (decoded from GB2312 by the codec); acknowledges if told."""

    checksum_index: ClassVar[int | None] = 5

    def __init__(
        self,
        address: int,
        target: led.LedTarget = WINDOW_STRIP,
        *,
        acknowledges: bool = True,
        turnaround_s: float = 0.005,
    ) -> None:
        self.target = target
        super().__init__(address, turnaround_s=turnaround_s)
        self.acknowledges = acknowledges
        self.history: list[Shown] = []

    @property
    def text(self) -> str:
        return self.history[-1].text if self.history else ""

    def make_decoder(self) -> Decoder[Any]:
        return led.LedStripDecoder(self.target.protocol)

    def handle(self, frame: object, at: float) -> bytes | None:
        if not isinstance(frame, led.ShowText) or frame.address != self.address:
            return None
        self.history.append(Shown(at, frame.text))
        if not self.acknowledges:
            return None
        return led.encode(led.StripAck(self.address, led.AckStatus.SHOWN), self.target.protocol)
