"""QSystem-style 11-byte text boards and button boxes (docs/protocol/qsystem.md).

Frames run from a start byte 01 to an end byte 07 and carry no checksum; their length is the
only integrity check, so it is checked strictly:

    board text      01 ADDR BLINK T1 T2 T3 T4 T5 T6 T7 07    server → board   (11 bytes)
    button LEDs     01 ADDR CMD 07                            server → box     (4 bytes)
    button press    01 ADDR KEY 07                            box → server     (4 bytes)

A run from 01 to 07 of any other length, or a second 01 before the 07, is two devices talking
at once: a ``COLLISION`` error. The two 4-byte frames look alike, so a decoder is told which
side of the bus it listens on (``Role``). Text is printable ASCII (0x20-0x7E); '<' '>' '-' are
drawn as arrows. Addresses and key codes may be any byte except 01 and 07 (our rule: it keeps
the framing unambiguous).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from firmware_protocols.base import EncodeError, ErrorReason
from firmware_protocols.framing import NEED_MORE, FrameScanner, Parsed, ParseResult, Rejected

START = 0x01
END = 0x07
BOARD_LENGTH = 11
SHORT_LENGTH = 4
TEXT_LENGTH = BOARD_LENGTH - 4
LED_COMMANDS = range(0x30, 0x3E)

ARROW_LEFT = "<"
ARROW_RIGHT = ">"
ARROW_STRAIGHT = "-"

_STEADY = 0x20
_CONTINUOUS = 0x21
MAX_BLINKS = 0x7F - 0x21


def _check_link_byte(name: str, value: int) -> None:
    if not 0 <= value <= 0xFF or value in (START, END):
        raise EncodeError(f"{name} 0x{value:X} must be a byte other than 0x01 and 0x07")


class BlinkMode(enum.Enum):
    STEADY = "steady"
    CONTINUOUS = "continuous"
    COUNTED = "counted"


@dataclass(frozen=True, slots=True)
class Blink:
    """The BLINK byte: 0x20 steady, 0x21 blink until replaced, 0x22-0x7F blink N-0x21 times."""

    mode: BlinkMode = BlinkMode.STEADY
    times: int = 0

    def __post_init__(self) -> None:
        if self.mode is BlinkMode.COUNTED and not 1 <= self.times <= MAX_BLINKS:
            raise EncodeError(f"blink count {self.times} outside 1-{MAX_BLINKS}")
        if self.mode is not BlinkMode.COUNTED and self.times != 0:
            raise EncodeError(f"{self.mode.value} blink takes no count")

    def to_byte(self) -> int:
        if self.mode is BlinkMode.STEADY:
            return _STEADY
        if self.mode is BlinkMode.CONTINUOUS:
            return _CONTINUOUS
        return _CONTINUOUS + self.times

    @classmethod
    def from_byte(cls, value: int) -> Blink:
        if value == _STEADY:
            return cls()
        if value == _CONTINUOUS:
            return cls(BlinkMode.CONTINUOUS)
        if _CONTINUOUS < value <= 0x7F:
            return cls(BlinkMode.COUNTED, value - _CONTINUOUS)
        raise EncodeError(f"blink byte 0x{value:02X} outside 0x20-0x7F")


@dataclass(frozen=True, slots=True)
class BoardText:
    """Server→board: show up to 7 ASCII characters; shorter text is padded with spaces."""

    address: int
    text: str
    blink: Blink = Blink()

    def __post_init__(self) -> None:
        _check_link_byte("address", self.address)
        if len(self.text) > TEXT_LENGTH:
            raise EncodeError(f"board text {self.text!r} is longer than {TEXT_LENGTH}")
        if not all(" " <= c <= "~" for c in self.text):
            raise EncodeError(f"board text {self.text!r} is not printable ASCII")
        object.__setattr__(self, "text", self.text.ljust(TEXT_LENGTH))


@dataclass(frozen=True, slots=True)
class ButtonLeds:
    """Server→button box: set its LEDs; CMD 0x30-0x3D (meaning per box model)."""

    address: int
    command: int

    def __post_init__(self) -> None:
        _check_link_byte("address", self.address)
        if self.command not in LED_COMMANDS:
            raise EncodeError(f"LED command 0x{self.command:02X} outside 0x30-0x3D")


@dataclass(frozen=True, slots=True)
class ButtonPress:
    """Button box→server: a button was pressed (KEY is the box's own code)."""

    address: int
    key: int

    def __post_init__(self) -> None:
        _check_link_byte("address", self.address)
        _check_link_byte("key", self.key)


QSystemFrame = BoardText | ButtonLeds | ButtonPress


def encode(frame: QSystemFrame) -> bytes:
    if isinstance(frame, BoardText):
        middle = bytes([frame.blink.to_byte()]) + frame.text.encode("ascii")
    elif isinstance(frame, ButtonLeds):
        middle = bytes([frame.command])
    else:
        middle = bytes([frame.key])
    return bytes([START, frame.address]) + middle + bytes([END])


class Role(enum.Enum):
    """Which side of the bus a decoder listens on."""

    SERVER = "server"  # hears button presses
    DEVICE = "device"  # hears board text and LED commands


class QSystemDecoder(FrameScanner[QSystemFrame]):
    def __init__(self, role: Role = Role.SERVER) -> None:
        self._role = role
        super().__init__(start_bytes=bytes([START]), max_frame=BOARD_LENGTH)

    def parse_candidate(self, buffer: bytearray, start: int) -> ParseResult[QSystemFrame]:
        last = min(len(buffer), start + BOARD_LENGTH)
        for position in range(start + 1, last):
            byte = buffer[position]
            if byte == START:
                return Rejected(
                    ErrorReason.COLLISION, "a frame began before this one ended", position - start
                )
            if byte == END:
                return self._interpret(bytes(buffer[start : position + 1]))
        if last - start == BOARD_LENGTH:
            return Rejected(ErrorReason.COLLISION, "no end byte within 11 bytes", BOARD_LENGTH)
        return NEED_MORE

    def _interpret(self, frame: bytes) -> ParseResult[QSystemFrame]:
        length = len(frame)
        allowed = (SHORT_LENGTH,) if self._role is Role.SERVER else (SHORT_LENGTH, BOARD_LENGTH)
        if length not in allowed:
            detail = f"{length}-byte frame from 01 to 07"
            return Rejected(ErrorReason.COLLISION, detail, length)
        address = frame[1]
        try:
            if length == BOARD_LENGTH:
                text = frame[3:-1].decode("ascii", errors="replace")
                decoded: QSystemFrame = BoardText(address, text, Blink.from_byte(frame[2]))
            elif self._role is Role.SERVER:
                decoded = ButtonPress(address, frame[2])
            else:
                decoded = ButtonLeds(address, frame[2])
        except EncodeError as exc:
            return Rejected(ErrorReason.BAD_FIELD, str(exc), length)
        return Parsed(decoded, length)
