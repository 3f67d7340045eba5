"""Window keypads and evaluator pads on a DL/T645-like RS-485 bus (docs/protocol/keypad-bus.md).

Frame: ``FF 68 L L 68 ADDR FUNC DATA... CS 16``; L = 2 + len(DATA) is sent twice, CS is the
8-bit sum of ADDR, FUNC and DATA. The leading FF is a wake-up preamble: we send one, and
accept none to four. The bus is master-polled: the host sends ``POLL``, the device answers
with its oldest unacknowledged event (a key press or a rating) or ``IDLE``; the host
acknowledges a key press by echoing it and a rating with ``RATING_ACK``.

Field-confirmed: framing, checksum, key codes, FUNC 01/02/03/11. Our assumptions (documented
for vendors): FUNC 10 carries key presses (DATA = the key code), FUNC 04 is the poll and FUNC 14
the idle reply, and a device answers DISPLAY and BEEP with IDLE.

``KeySequence`` turns key presses into queue operations (digits then CONFIRM selects no-show,
suspend or call back; digits then CALL calls that number); the mapping is the table
``KEY_OPERATIONS``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import ClassVar, Self

from firmware_protocols.base import EncodeError, ErrorReason
from firmware_protocols.checksums import sum8
from firmware_protocols.framing import NEED_MORE, FrameScanner, Parsed, ParseResult, Rejected

PREAMBLE = 0xFF
MAX_PREAMBLE = 4
START = 0x68
END = 0x16
DEFAULT_MAX_DATA = 16


class Function(enum.IntEnum):
    """FUNC byte. Host→device below 0x10, device→host from 0x10."""

    RATING_ACK = 0x01
    DISPLAY = 0x02
    BEEP = 0x03
    POLL = 0x04  # our assumption
    KEY = 0x10  # our assumption
    RATING = 0x11
    IDLE = 0x14  # our assumption: reply to POLL (0x04 | 0x10) when nothing is pending


class Key(enum.IntEnum):
    """Key codes: the DATA byte of a KEY frame."""

    DIGIT_0 = 0x00
    DIGIT_1 = 0x01
    DIGIT_2 = 0x02
    DIGIT_3 = 0x03
    DIGIT_4 = 0x04
    DIGIT_5 = 0x05
    DIGIT_6 = 0x06
    DIGIT_7 = 0x07
    DIGIT_8 = 0x08
    DIGIT_9 = 0x09
    REQUEST_RATING = 0x0B
    CALL = 0x0C
    RECALL = 0x0D
    CONFIRM = 0x0F
    LINE_REMINDER = 0x11  # 一米线 reminder
    PAUSE = 0x12
    TRANSFER = 0x13

    @property
    def digit(self) -> str | None:
        """ "0"-"9" for digit keys, None for command keys."""
        return str(self.value) if self.value <= 9 else None


def _check_byte(name: str, value: int) -> None:
    if not 0 <= value <= 0xFF:
        raise EncodeError(f"{name} {value} is not a byte (0-255)")


def _expect_length(function: Function, data: bytes, length: int) -> None:
    if len(data) != length:
        raise EncodeError(f"{function.name} carries {length} data bytes, got {len(data)}")


@dataclass(frozen=True, slots=True)
class KeyPress:
    """Device→host: a key was pressed (FUNC 10, DATA = key code). Acknowledged by echo."""

    function: ClassVar[Function] = Function.KEY
    address: int
    key: Key

    def __post_init__(self) -> None:
        _check_byte("address", self.address)

    def data(self) -> bytes:
        return bytes([self.key])

    @classmethod
    def from_data(cls, address: int, data: bytes) -> Self:
        _expect_length(cls.function, data, 1)
        try:
            key = Key(data[0])
        except ValueError:
            raise EncodeError(f"unknown key code 0x{data[0]:02X}") from None
        return cls(address, key)


@dataclass(frozen=True, slots=True)
class Rating:
    """Device→host: the citizen's rating (FUNC 11, DATA = value; meaning is per pad model)."""

    function: ClassVar[Function] = Function.RATING
    address: int
    value: int

    def __post_init__(self) -> None:
        _check_byte("address", self.address)
        _check_byte("rating value", self.value)

    def data(self) -> bytes:
        return bytes([self.value])

    @classmethod
    def from_data(cls, address: int, data: bytes) -> Self:
        _expect_length(cls.function, data, 1)
        return cls(address, data[0])


@dataclass(frozen=True, slots=True)
class RatingAck:
    """Host→device: the rating was recorded (FUNC 01, DATA = the value, our assumption)."""

    function: ClassVar[Function] = Function.RATING_ACK
    address: int
    value: int

    def __post_init__(self) -> None:
        _check_byte("address", self.address)
        _check_byte("rating value", self.value)

    def data(self) -> bytes:
        return bytes([self.value])

    @classmethod
    def from_data(cls, address: int, data: bytes) -> Self:
        _expect_length(cls.function, data, 1)
        return cls(address, data[0])


class _Empty:
    """Frames with no DATA: only the address matters (subclasses name their FUNC)."""

    __slots__ = ()
    function: ClassVar[Function]
    address: int

    def __post_init__(self) -> None:
        _check_byte("address", self.address)

    def data(self) -> bytes:
        return b""

    @classmethod
    def from_data(cls, address: int, data: bytes) -> Self:
        _expect_length(cls.function, data, 0)
        return cls(address)  # type: ignore[call-arg]  # subclasses are dataclasses


@dataclass(frozen=True, slots=True)
class Poll(_Empty):
    """Host→device: "anything to report?" (FUNC 04, no DATA)."""

    function: ClassVar[Function] = Function.POLL
    address: int


@dataclass(frozen=True, slots=True)
class Idle(_Empty):
    """Device→host: nothing pending; also the reply to DISPLAY and BEEP (FUNC 14, no DATA)."""

    function: ClassVar[Function] = Function.IDLE
    address: int


@dataclass(frozen=True, slots=True)
class Beep(_Empty):
    """Host→device: sound the buzzer once (FUNC 03, no DATA)."""

    function: ClassVar[Function] = Function.BEEP
    address: int


BLANK = 0x0A
DISPLAY_CELLS = 6


def _digit_cells(number: int | str, name: str, width: int) -> tuple[int, ...]:
    digits = str(number)
    if isinstance(number, int) and number < 0:
        raise EncodeError(f"{name} {number} is negative")
    if not digits or not all("0" <= c <= "9" for c in digits):
        raise EncodeError(f"{name} {number!r} is not made of digits 0-9")
    if len(digits) > width:
        raise EncodeError(f"{name} {number!r} has more than {width} digits")
    return (BLANK,) * (width - len(digits)) + tuple(int(c) for c in digits)


@dataclass(frozen=True, slots=True)
class Display:
    """Host→device: six digit cells (FUNC 02); each 0-9 or ``BLANK`` (0x0A), left to right."""

    function: ClassVar[Function] = Function.DISPLAY
    address: int
    cells: tuple[int, ...]

    def __post_init__(self) -> None:
        _check_byte("address", self.address)
        if len(self.cells) != DISPLAY_CELLS:
            raise EncodeError(f"display has {DISPLAY_CELLS} cells, got {len(self.cells)}")
        if any(not 0 <= cell <= BLANK for cell in self.cells):
            raise EncodeError(f"display cells are 0-9 or 0x0A (blank), got {self.cells}")

    @classmethod
    def ticket(cls, address: int, number: int | str) -> Self:
        """A ticket number right-aligned ("001" keeps its zeros): blank blank blank 0 0 1."""
        return cls(address, _digit_cells(number, "ticket number", DISPLAY_CELLS))

    @classmethod
    def waiting_count(cls, address: int, count: int) -> Self:
        """A waiting count (0-999) right-aligned in the left three cells, the rest blank."""
        return cls(address, _digit_cells(count, "waiting count", 3) + (BLANK,) * 3)

    @classmethod
    def blank(cls, address: int) -> Self:
        return cls(address, (BLANK,) * DISPLAY_CELLS)

    @property
    def text(self) -> str:
        """What the display shows, blanks as spaces (for logs and the simulator)."""
        return "".join(" " if cell == BLANK else str(cell) for cell in self.cells)

    def data(self) -> bytes:
        return bytes(self.cells)

    @classmethod
    def from_data(cls, address: int, data: bytes) -> Self:
        _expect_length(cls.function, data, DISPLAY_CELLS)
        return cls(address, tuple(data))


KeypadFrame = KeyPress | Rating | RatingAck | Poll | Idle | Beep | Display

_FRAME_TYPES: Mapping[int, type[KeypadFrame]] = MappingProxyType(
    {kind.function: kind for kind in (KeyPress, Rating, RatingAck, Poll, Idle, Beep, Display)}
)


def encode(frame: KeypadFrame) -> bytes:
    """The bytes of one frame, preamble included."""
    body = bytes([frame.address, frame.function]) + frame.data()
    length = len(body)
    return bytes([PREAMBLE, START, length, length, START]) + body + bytes([sum8(body), END])


def acknowledgement(frame: KeypadFrame) -> KeypadFrame | None:
    """What the host sends back for a device frame: key presses are echoed, ratings get
    RATING_ACK; other frames are not acknowledged."""
    if isinstance(frame, KeyPress):
        return frame
    if isinstance(frame, Rating):
        return RatingAck(frame.address, frame.value)
    return None


class KeypadBusDecoder(FrameScanner[KeypadFrame]):
    """Decodes both directions (the host and the simulated devices use the same decoder).

    ``max_data_length`` bounds DATA (the largest standard frame, DISPLAY, has 6 bytes); a
    header announcing more is rejected at once instead of waiting for bytes that never come.
    """

    def __init__(self, max_data_length: int = DEFAULT_MAX_DATA) -> None:
        if not 0 <= max_data_length <= 253:
            raise ValueError("max_data_length must be 0-253 (L is one byte)")
        self._max_length = max_data_length + 2
        super().__init__(
            start_bytes=bytes([PREAMBLE, START]),
            max_frame=MAX_PREAMBLE + 4 + self._max_length + 2,
        )

    def parse_candidate(self, buffer: bytearray, start: int) -> ParseResult[KeypadFrame]:
        available = len(buffer)
        head = start
        while head < available and buffer[head] == PREAMBLE and head - start < MAX_PREAMBLE:
            head += 1
        if head == available:
            return NEED_MORE
        if buffer[head] != START:
            return Rejected(ErrorReason.GARBAGE)
        if head + 2 < available and buffer[head + 1] != buffer[head + 2]:
            return Rejected(ErrorReason.GARBAGE)
        if head + 3 < available and buffer[head + 3] != START:
            return Rejected(ErrorReason.GARBAGE)
        if head + 4 > available:
            return NEED_MORE
        skip = head - start + 1
        length = buffer[head + 1]
        if length < 2:
            return Rejected(ErrorReason.BAD_LENGTH, f"L={length} leaves no ADDR and FUNC", skip)
        if length > self._max_length:
            return Rejected(ErrorReason.OVERSIZED, f"L={length} > {self._max_length}", skip)
        body_start = head + 4
        end = body_start + length + 2
        if end > available:
            return NEED_MORE
        body = bytes(buffer[body_start : body_start + length])
        if buffer[end - 1] != END:
            return Rejected(ErrorReason.BAD_TERMINATOR, f"0x{buffer[end - 1]:02X} not 0x16", skip)
        if buffer[end - 2] != sum8(body):
            detail = f"CS 0x{buffer[end - 2]:02X}, computed 0x{sum8(body):02X}"
            return Rejected(ErrorReason.BAD_CHECKSUM, detail, skip)
        address, function, data = body[0], body[1], body[2:]
        kind = _FRAME_TYPES.get(function)
        if kind is None:
            return Rejected(ErrorReason.UNKNOWN_FUNCTION, f"FUNC 0x{function:02X}", end - start)
        try:
            frame = kind.from_data(address, data)
        except EncodeError as exc:
            return Rejected(ErrorReason.BAD_FIELD, str(exc), end - start)
        return Parsed(frame, end - start)


# -- key presses to queue operations ------------------------------------------------------


class Operation(enum.Enum):
    """What a keypad asks the queue engine to do."""

    CALL_NEXT = "call_next"  # 呼叫
    CALL_NUMBER = "call_number"  # 指呼: digits then CALL
    RECALL = "recall"  # 重呼
    REQUEST_RATING = "request_rating"  # 办结 → invite rating
    NO_SHOW = "no_show"  # 弃号
    SUSPEND = "suspend"  # 挂起
    CALL_BACK = "call_back"  # 回呼
    LINE_REMINDER = "line_reminder"  # 一米线
    PAUSE = "pause"  # 暂停
    TRANSFER = "transfer"  # 转移; with digits: the target


NO_DIGITS = ""
ANY_DIGITS = "*"

#: (key, digits typed before it) → operation. ``NO_DIGITS``: the key alone; ``ANY_DIGITS``:
#: one or more digits, passed on as the operation's argument; otherwise exactly those digits.
KEY_OPERATIONS: Mapping[tuple[Key, str], Operation] = MappingProxyType(
    {
        (Key.CALL, NO_DIGITS): Operation.CALL_NEXT,
        (Key.CALL, ANY_DIGITS): Operation.CALL_NUMBER,
        (Key.RECALL, NO_DIGITS): Operation.RECALL,
        (Key.REQUEST_RATING, NO_DIGITS): Operation.REQUEST_RATING,
        (Key.CONFIRM, "6"): Operation.NO_SHOW,
        (Key.CONFIRM, "0"): Operation.SUSPEND,
        (Key.CONFIRM, "3"): Operation.CALL_BACK,
        (Key.LINE_REMINDER, NO_DIGITS): Operation.LINE_REMINDER,
        (Key.PAUSE, NO_DIGITS): Operation.PAUSE,
        (Key.TRANSFER, NO_DIGITS): Operation.TRANSFER,
        (Key.TRANSFER, ANY_DIGITS): Operation.TRANSFER,
    }
)


@dataclass(frozen=True, slots=True)
class KeyOperation:
    address: int
    operation: Operation
    argument: str | None = None  # the digits, for ANY_DIGITS rows


class RejectReason(enum.Enum):
    NOT_MAPPED = "not_mapped"  # no row in KEY_OPERATIONS for these keys
    TOO_MANY_DIGITS = "too_many_digits"


@dataclass(frozen=True, slots=True)
class KeyRejected:
    """The keys typed mean nothing; the pad should beep. The digit buffer is cleared."""

    address: int
    key: Key
    digits: str
    reason: RejectReason


class KeySequence:
    """Per-keypad digit buffers; pure state, no clock (the driver calls ``reset`` after a
    pause in typing if it wants stale digits dropped)."""

    def __init__(
        self,
        operations: Mapping[tuple[Key, str], Operation] = KEY_OPERATIONS,
        max_digits: int = DISPLAY_CELLS,
    ) -> None:
        self._operations = operations
        self._max_digits = max_digits
        self._typed: dict[int, str] = {}

    def typed(self, address: int) -> str:
        """Digits typed on this keypad since its last command key."""
        return self._typed.get(address, "")

    def reset(self, address: int | None = None) -> None:
        if address is None:
            self._typed.clear()
        else:
            self._typed.pop(address, None)

    def feed(self, press: KeyPress) -> KeyOperation | KeyRejected | None:
        """One key press in; an operation, a rejection, or None while digits are typed."""
        digits = self._typed.pop(press.address, "")
        digit = press.key.digit
        if digit is not None:
            if len(digits) >= self._max_digits:
                return KeyRejected(
                    press.address, press.key, digits + digit, RejectReason.TOO_MANY_DIGITS
                )
            self._typed[press.address] = digits + digit
            return None
        operation = self._operations.get((press.key, digits))
        if operation is not None:
            return KeyOperation(press.address, operation)
        if digits:
            operation = self._operations.get((press.key, ANY_DIGITS))
            if operation is not None:
                return KeyOperation(press.address, operation, digits)
        return KeyRejected(press.address, press.key, digits, RejectReason.NOT_MAPPED)
