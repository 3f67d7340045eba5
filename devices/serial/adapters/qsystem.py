"""QSystem 11-byte boards and button boxes (firmware_protocols.qsystem).

Nothing on this bus answers: boards only show text, and button boxes send a press unasked
(when the line has been idle), never a reply. So neither is polled, commands
expect no reply, and presses come through the master's unsolicited path. A board's
availability stays UNKNOWN; a button box becomes ONLINE when it is heard.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from devices.serial.adapter import Exchange, ProtocolAdapter, UnsupportedCommandError
from firmware_protocols import qsystem as qs
from firmware_protocols.base import DecodeError, Decoder


class QSystemBoardAdapter(ProtocolAdapter):
    protocol = "qsystem_board"
    _accepts: tuple[type, ...] = (qs.BoardText,)

    def poll(self) -> Exchange | None:
        return None

    def command(self, message: object) -> Exchange:
        accepted = isinstance(message, self._accepts)
        if not accepted or not isinstance(message, (qs.BoardText, qs.ButtonLeds)):
            names = ", ".join(t.__name__ for t in self._accepts)
            raise UnsupportedCommandError(f"{self.protocol} {self.address} takes {names}")
        if message.address != self.address:
            raise UnsupportedCommandError(f"{message!r} is not for {self.protocol} {self.address}")
        return Exchange(qs.encode(message), False, 0, message)

    def receive(self, data: bytes) -> Iterable[object | DecodeError]:
        return ()  # never due a reply

    def is_reply(self, exchange: Exchange, item: object) -> bool:
        return False


class QSystemButtonsAdapter(QSystemBoardAdapter):
    protocol = "qsystem_buttons"
    _accepts = (qs.ButtonLeds,)

    def unsolicited_decoder(self) -> Decoder[Any]:
        return qs.QSystemDecoder(qs.Role.SERVER)

    def reportable(self, item: object, exchange: Exchange | None) -> object | None:
        return item if isinstance(item, qs.ButtonPress) else None
