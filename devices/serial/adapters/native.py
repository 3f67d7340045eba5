"""hallctl's native protocol (firmware_protocols.native): addressed, CRC'd, events acked by EVT.

Each new exchange takes the next SEQ; a retry resends the same bytes (same SEQ, same EVT), as
the spec asks. An event in a reply is acknowledged by putting its number in EVT of the next
frame to the device; that frame is sent at once as a follow-up POLL, so a burst of presses
drains in one turn instead of one per cycle. An event number already accepted is acked again
but not reported twice. Heartbeats are reported only when their flags change.
"""

from __future__ import annotations

from collections.abc import Iterable

from devices.serial.adapter import Exchange, ProtocolAdapter, UnsupportedCommandError
from firmware_protocols import native as nv
from firmware_protocols.base import DecodeError

_MASTER = (nv.Poll, nv.GetVersion, nv.ConfigPush, nv.DisplayText, nv.InviteRating)
_FRAME_OVERHEAD = nv.HEADER + 2


def max_reply_bytes(message: object) -> int:
    if isinstance(message, nv.Poll):
        return _FRAME_OVERHEAD + 1 + nv.MAX_TICKET  # the longest event: a rating with a ticket
    if isinstance(message, nv.GetVersion):
        return _FRAME_OVERHEAD + 3 + nv.MAX_MODEL
    return _FRAME_OVERHEAD + 1  # ACK or NACK


class NativeAdapter(ProtocolAdapter):
    protocol = "native"

    def __init__(self, address: int) -> None:
        if not 1 <= address <= nv.MAX_ADDRESS:
            raise ValueError(f"native address {address} outside 1..{nv.MAX_ADDRESS}")
        super().__init__(address)
        self._decoder = nv.NativeDecoder()
        self._seq = 0
        self._pending_ack = 0  # event number to acknowledge in the next frame
        self._last_accepted = 0
        self._flags: nv.DeviceFlags | None = None

    def _next(self, message: nv.MasterMessage) -> Exchange:
        self._seq = (self._seq + 1) & 0xFF
        frame = nv.Frame(self.address, self._seq, message, self._pending_ack)
        return Exchange(nv.encode_frame(frame), True, max_reply_bytes(message), frame)

    def poll(self) -> Exchange:
        return self._next(nv.Poll())

    def command(self, message: object) -> Exchange:
        if not isinstance(message, _MASTER):
            raise UnsupportedCommandError(f"native device takes a master message, not {message!r}")
        return self._next(message)

    def begin_reply(self, exchange: Exchange) -> None:
        self._decoder.receive_gap()
        list(self._decoder.events_received())

    def receive(self, data: bytes) -> Iterable[nv.Frame | DecodeError]:
        self._decoder.receive_data(data)
        return list(self._decoder.events_received())

    def end_reply(self) -> Iterable[nv.Frame | DecodeError]:
        self._decoder.receive_gap()
        return list(self._decoder.events_received())

    def is_reply(self, exchange: Exchange, item: object) -> bool:
        request = exchange.request
        assert isinstance(request, nv.Frame)
        return (
            isinstance(item, nv.Frame)
            and item.address == self.address
            and item.seq == request.seq
            and nv.from_device(item.message.TYPE)
        )

    def reportable(self, item: object, exchange: Exchange | None) -> object | None:
        if not isinstance(item, nv.Frame):
            return None
        message = item.message
        if isinstance(message, nv.EVENT_TYPES):
            if item.evt == self._last_accepted:
                return None  # the device repeats an event whose ack it missed
            self._last_accepted = item.evt
            return message
        if isinstance(message, nv.Heartbeat):
            changed = message.flags != self._flags
            self._flags = message.flags
            return message if changed else None
        return message if isinstance(message, (nv.Nack, nv.VersionReport)) else None

    def follow_up(self, exchange: Exchange, reply: object) -> Exchange | None:
        request = exchange.request
        assert isinstance(request, nv.Frame) and isinstance(reply, nv.Frame)
        if request.evt and request.evt == self._pending_ack:
            self._pending_ack = 0  # the device has seen the ack: it answered that frame
        if reply.evt:
            self._pending_ack = reply.evt
            return self._next(nv.Poll())
        return None
