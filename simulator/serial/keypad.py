"""Simulated window keypads and evaluator pads on the keypad bus (docs/protocol/keypad-bus.md).

Presses and ratings queue in the pad (at least 16, as the spec asks); each POLL is answered
with the oldest, repeated until acknowledged (echo for a key, RATING_ACK for a rating).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from firmware_protocols import keypad_bus as kb
from firmware_protocols.base import Decoder
from simulator.serial.device import SimDevice

QUEUE_DEPTH = 16


class SimKeypad(SimDevice):
    def __init__(self, address: int, *, turnaround_s: float = 0.005) -> None:
        super().__init__(address, turnaround_s=turnaround_s)
        self.pending: deque[kb.KeyPress | kb.Rating] = deque(maxlen=QUEUE_DEPTH)
        self.acknowledged: list[kb.KeyPress | kb.Rating] = []
        self.display = kb.Display.blank(address).text
        self.beeps = 0
        self.poll_times: list[float] = []
        self.display_times: list[float] = []

    def make_decoder(self) -> Decoder[Any]:
        return kb.KeypadBusDecoder()

    def press(self, *keys: kb.Key) -> None:
        for key in keys:
            self.pending.append(kb.KeyPress(self.address, key))

    def handle(self, frame: object, at: float) -> bytes | None:
        if getattr(frame, "address", None) != self.address:
            return None
        oldest = self.pending[0] if self.pending else None
        if isinstance(frame, kb.Poll):
            self.poll_times.append(at)
            return kb.encode(oldest if oldest is not None else kb.Idle(self.address))
        if isinstance(frame, (kb.KeyPress, kb.RatingAck)):
            if oldest is not None and kb.acknowledgement(oldest) == frame:
                self.acknowledged.append(self.pending.popleft())
            return None
        if isinstance(frame, kb.Display):
            self.display = frame.text
            self.display_times.append(at)
        elif isinstance(frame, kb.Beep):
            self.beeps += 1
        else:
            return None
        return kb.encode(kb.Idle(self.address))

    @property
    def polls(self) -> int:
        return len(self.poll_times)


class SimEvaluatorPad(SimKeypad):
    """An evaluator pad (评价器): the citizen's press is a RATING frame."""

    def rate(self, value: int) -> None:
        self.pending.append(kb.Rating(self.address, value))
