"""The base of every simulated serial device: hear bytes, answer own frames, inject faults.

Every device on a ``SimBus`` hears every byte the master sends (a multi-drop bus) through its
own device-side decoder from firmware_protocols, and answers only frames for its address,
``turnaround_s`` after the request's last byte arrived. A device acts on a frame at once but
time-stamps what it did with the frame's arrival time on the simulated line, so tests and
benchmarks measure line time, not how early the pty delivered the bytes.

Faults (``Faults``, changed by tests at any time) apply to the device's replies: ``silent``
answers nothing; ``garble``, ``bad_checksum`` and ``split`` spoil the next N replies.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from firmware_protocols.base import DecodeError, Decoder

if TYPE_CHECKING:
    from simulator.serial.bus import SimBus


@dataclass(slots=True)
class Faults:
    silent: bool = False
    garble: int = 0  # next N replies: three bytes in the middle inverted
    bad_checksum: int = 0  # next N replies: the checksum byte flipped
    split: int = 0  # next N replies: sent in two writes with a pause between
    split_pause_s: float = 0.004


class SimDevice(abc.ABC):
    #: Index (may be negative) of a byte covered by the checksum in a reply, or None.
    checksum_index: ClassVar[int | None] = -2

    def __init__(self, address: int, *, turnaround_s: float = 0.005) -> None:
        self.address = address
        self.turnaround_s = turnaround_s
        self.faults = Faults()
        self.decode_errors: list[DecodeError] = []
        self.replies_sent = 0
        self._bus: SimBus | None = None
        self._decoder = self.make_decoder()

    @abc.abstractmethod
    def make_decoder(self) -> Decoder[Any]:
        """The device side of the protocol's codec."""

    @abc.abstractmethod
    def handle(self, frame: object, at: float) -> bytes | None:
        """React to a decoded frame heard at ``at``; return reply bytes or None."""

    def attach(self, bus: SimBus) -> None:
        self._bus = bus

    @property
    def bus(self) -> SimBus:
        assert self._bus is not None, "add the device to a SimBus first"
        return self._bus

    def hear(self, data: bytes, at: float) -> None:
        self._decoder.receive_data(data)
        self._drain(at)

    def line_quiet(self, at: float) -> None:  # noqa: B027 - optional hook
        """The line has been silent for 3.5 characters (only gap-framed protocols care)."""

    def _drain(self, at: float) -> None:
        for event in self._decoder.events_received():
            if isinstance(event, DecodeError):
                self.decode_errors.append(event)
                continue
            reply = self.handle(event, at)
            if reply:
                self.send(reply, at + self.turnaround_s)

    def send(self, reply: bytes, start: float) -> None:
        faults = self.faults
        if faults.silent:
            return
        data = bytearray(reply)
        if faults.garble:
            faults.garble -= 1
            middle = len(data) // 2
            for i in range(max(0, middle - 1), min(len(data), middle + 2)):
                data[i] ^= 0xFF
        if faults.bad_checksum and self.checksum_index is not None:
            faults.bad_checksum -= 1
            data[self.checksum_index] ^= 0x01
        split_at = 0
        if faults.split:
            faults.split -= 1
            split_at = len(data) // 2
        self.replies_sent += 1
        self.bus.line.transmit(bytes(data), start, split_at=split_at, pause=faults.split_pause_s)
