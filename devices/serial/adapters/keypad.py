"""Window keypads and evaluator pads on the DL/T645-like bus (firmware_protocols.keypad_bus).

Poll: POLL; the reply is the device's oldest event or IDLE. A key press is acknowledged by
echoing it, a rating by RATING_ACK, both as a follow-up with no reply due. DISPLAY and BEEP
are answered with IDLE. The driver sees key presses and ratings, never IDLE. A repeated
event after a lost acknowledgement looks like a new press: a known limit of this protocol.
"""

from __future__ import annotations

from collections.abc import Iterable

from devices.serial.adapter import Exchange, ProtocolAdapter, UnsupportedCommandError
from firmware_protocols import keypad_bus as kb
from firmware_protocols.base import DecodeError

# One preamble byte plus the longest device frame (KEY/RATING, 1 DATA byte) is 10 bytes;
# the codec accepts up to 4 preamble bytes, so a reply may be 13.
MAX_REPLY = kb.MAX_PREAMBLE + 9
_HOST_COMMANDS = (kb.Display, kb.Beep, kb.Poll)


class KeypadAdapter(ProtocolAdapter):
    protocol = "keypad_bus"

    def __init__(self, address: int) -> None:
        super().__init__(address)
        self._poll = Exchange(kb.encode(kb.Poll(address)), True, MAX_REPLY, kb.Poll(address))
        self._decoder = kb.KeypadBusDecoder()

    def poll(self) -> Exchange:
        return self._poll

    def command(self, message: object) -> Exchange:
        if not isinstance(message, _HOST_COMMANDS) or message.address != self.address:
            raise UnsupportedCommandError(
                f"keypad {self.address} takes Display, Beep or Poll for itself, not {message!r}"
            )
        return Exchange(kb.encode(message), True, MAX_REPLY, message)

    def begin_reply(self, exchange: Exchange) -> None:
        self._decoder.receive_gap()  # leftovers from an earlier window are not this reply
        list(self._decoder.events_received())

    def receive(self, data: bytes) -> Iterable[kb.KeypadFrame | DecodeError]:
        self._decoder.receive_data(data)
        return list(self._decoder.events_received())

    def end_reply(self) -> Iterable[kb.KeypadFrame | DecodeError]:
        self._decoder.receive_gap()
        return list(self._decoder.events_received())

    def is_reply(self, exchange: Exchange, item: object) -> bool:
        return isinstance(item, (kb.KeyPress, kb.Rating, kb.Idle)) and item.address == self.address

    def follow_up(self, exchange: Exchange, reply: object) -> Exchange | None:
        if not isinstance(reply, (kb.KeyPress, kb.Rating)):
            return None
        ack = kb.acknowledgement(reply)
        assert ack is not None
        return Exchange(kb.encode(ack), False, 0, ack)

    def reportable(self, item: object, exchange: Exchange | None) -> object | None:
        return item if isinstance(item, (kb.KeyPress, kb.Rating)) else None
