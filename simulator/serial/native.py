"""A simulated native-protocol device (docs/protocol/serial.md): keypad, pad or display.

Events wait in a FIFO until the master acknowledges their number in EVT; a retried SEQ gets
the same reply again.
"""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

from firmware_protocols import native as nv
from firmware_protocols.base import Decoder
from simulator.serial.device import SimDevice

FIFO_DEPTH = 16


class SimNativeDevice(SimDevice):
    checksum_index: ClassVar[int | None] = -1

    def __init__(self, address: int, *, turnaround_s: float = 0.005) -> None:
        super().__init__(address, turnaround_s=turnaround_s)
        self.events: deque[tuple[int, nv.KeyEvent | nv.RatingEvent]] = deque()
        self.flags = nv.DeviceFlags.NONE
        self.texts: dict[int, str] = {}
        self.config: dict[int, int] = {}
        self.invited: list[nv.InviteRating] = []
        self.acked: list[int] = []
        self._evt = 0
        self._last: tuple[int, bytes] | None = None

    def make_decoder(self) -> Decoder[Any]:
        return nv.NativeDecoder()

    def _queue(self, message: nv.KeyEvent | nv.RatingEvent) -> None:
        if len(self.events) >= FIFO_DEPTH:
            self.events.popleft()
            self.flags |= nv.DeviceFlags.EVENTS_LOST
        self._evt = nv.next_event_number(self._evt)
        self.events.append((self._evt, message))

    def press(self, key: nv.Key, value: int | None = None) -> None:
        self._queue(nv.KeyEvent(key, value))

    def rate(self, rating: nv.Rating, ticket: str = "") -> None:
        self._queue(nv.RatingEvent(rating, ticket))

    def handle(self, frame: object, at: float) -> bytes | None:
        if not isinstance(frame, nv.Frame) or nv.from_device(frame.message.TYPE):
            return None
        if frame.address not in (self.address, nv.BROADCAST):
            return None
        if frame.address == self.address and self._last and self._last[0] == frame.seq:
            return self._last[1]  # the master's retry: same answer
        if frame.evt and self.events and self.events[0][0] == frame.evt:
            self.acked.append(self.events.popleft()[0])
        reply = self._answer(frame.message)
        if frame.address == nv.BROADCAST:
            return None
        evt = 0
        if isinstance(reply, nv.EVENT_TYPES):
            evt = self.events[0][0]
        data = nv.encode_frame(nv.Frame(self.address, frame.seq, reply, evt))
        self._last = (frame.seq, data)
        return data

    def _answer(self, message: nv.Message) -> nv.DeviceMessage:
        if isinstance(message, nv.Poll):
            if self.events:
                return self.events[0][1]
            return nv.Heartbeat(3600, self.flags)
        if isinstance(message, nv.GetVersion):
            return nv.VersionReport(1, 0, 0, "SIM-NATIVE")
        if isinstance(message, nv.ConfigPush):
            self.config.update({item.key: item.value for item in message.items})
            return nv.Ack()
        if isinstance(message, nv.DisplayText):
            self.texts[message.line] = message.text
            return nv.Ack()
        if isinstance(message, nv.InviteRating):
            self.invited.append(message)
            return nv.Ack()
        return nv.Nack(nv.NackReason.UNKNOWN_TYPE)
