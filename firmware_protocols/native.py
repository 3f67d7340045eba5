"""hallctl's native serial protocol for new firmware (the vendor spec is docs/protocol/serial.md).

Theory of operation: one master polls addressed devices on RS-485. A frame is
``A5 5A LEN ADDR TYPE SEQ EVT PAYLOAD CRC16``: length-based framing with a two-byte start
marker and no byte stuffing, so the decoder hunts for ``A5 5A``, trusts LEN only up to
``MAX_PAYLOAD`` and a CRC-16/CCITT-FALSE over LEN..PAYLOAD, and after a bad CRC resumes the hunt
one byte into the rejected candidate (a real frame may start inside it). SEQ pairs a reply with
its request (a retry reuses SEQ). Events (keys, ratings) wait in the device until acknowledged:
a poll reply carries the oldest unacknowledged event with its event number in EVT, and the
master's next frame to that device carries the same number in EVT as the acknowledgement.
The transport calls ``receive_gap`` when its reply timeout passes, so a candidate that can never
complete (noise with a large LEN) is given up and the bytes behind it are searched again.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from firmware_protocols.base import DecodeError, EncodeError, ErrorReason

START = b"\xa5\x5a"
HEADER = 7  # A5 5A LEN ADDR TYPE SEQ EVT
MAX_PAYLOAD = 240
MAX_FRAME = HEADER + MAX_PAYLOAD + 2
BROADCAST = 0
MAX_ADDRESS = 247
MAX_TEXT = 200
MAX_TICKET = 16
MAX_MODEL = 32
MAX_CONFIG_ITEMS = 16
NO_VALUE = 0xFFFF


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, not reflected; sent high byte first."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


class Key(enum.IntEnum):
    """Window keypad keys; the same codes as the common keypad bus."""

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
    ONE_METRE_LINE = 0x11
    PAUSE = 0x12
    TRANSFER = 0x13


class Rating(enum.IntEnum):
    """好差评 levels, coded as in the national data standard (1 = best)."""

    VERY_SATISFIED = 1
    SATISFIED = 2
    BASIC_SATISFIED = 3
    DISSATISFIED = 4
    VERY_DISSATISFIED = 5


class NackReason(enum.IntEnum):
    UNKNOWN_TYPE = 1
    BAD_PAYLOAD = 2
    BUSY = 3
    UNSUPPORTED = 4  # a config key or display line this device does not have
    TEXT_UNSUPPORTED = 5  # characters missing from the device's font


class ConfigKey(enum.IntEnum):
    RATING_WINDOW_S = 0x01
    BRIGHTNESS = 0x02  # 0..15
    VOLUME = 0x03  # 0..10
    POLL_TIMEOUT_S = 0x04  # show "offline" when not polled for this long


class DeviceFlags(enum.IntFlag):
    NONE = 0
    DISPLAY_FAULT = 0x01
    KEY_STUCK = 0x02
    UNCONFIGURED = 0x04  # running on defaults since power-up: push config
    EVENTS_LOST = 0x08  # the event buffer overflowed and dropped its oldest events


class PayloadError(ValueError):
    """A payload that does not match its type's layout (becomes DecodeError BAD_FIELD)."""


def _ascii(raw: bytes, what: str) -> str:
    if not raw.isascii() or any(b < 0x20 or b == 0x7F for b in raw):
        raise PayloadError(f"{what} must be printable ASCII")
    return raw.decode("ascii")


def _ascii_bytes(text: str, what: str, limit: int) -> bytes:
    raw = text.encode("ascii", errors="replace")
    if not text.isascii() or any(b < 0x20 or b == 0x7F for b in raw) or len(raw) > limit:
        raise EncodeError(f"{what} {text!r} must be printable ASCII of at most {limit} bytes")
    return raw


def _empty(payload: bytes) -> None:
    if payload:
        raise PayloadError("payload must be empty")


# --- master -> device ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Poll:
    """Reply with the oldest unacknowledged event, or a Heartbeat when there is none."""

    TYPE: ClassVar[int] = 0x01

    def payload(self) -> bytes:
        return b""

    @classmethod
    def parse(cls, payload: bytes) -> Poll:
        _empty(payload)
        return cls()


@dataclass(frozen=True, slots=True)
class GetVersion:
    TYPE: ClassVar[int] = 0x02

    def payload(self) -> bytes:
        return b""

    @classmethod
    def parse(cls, payload: bytes) -> GetVersion:
        _empty(payload)
        return cls()


@dataclass(frozen=True, slots=True)
class ConfigItem:
    key: int  # a ConfigKey; unknown keys decode so the device can NACK them as UNSUPPORTED
    value: int


@dataclass(frozen=True, slots=True)
class ConfigPush:
    TYPE: ClassVar[int] = 0x03
    items: tuple[ConfigItem, ...]

    def payload(self) -> bytes:
        if not 1 <= len(self.items) <= MAX_CONFIG_ITEMS:
            raise EncodeError(f"config push needs 1..{MAX_CONFIG_ITEMS} items")
        out = bytearray()
        for item in self.items:
            if not 0 <= item.key <= 0xFF or not 0 <= item.value <= 0xFFFF:
                raise EncodeError(f"config item {item} out of range")
            out += bytes([item.key]) + item.value.to_bytes(2, "big")
        return bytes(out)

    @classmethod
    def parse(cls, payload: bytes) -> ConfigPush:
        if not payload or len(payload) % 3 or len(payload) > 3 * MAX_CONFIG_ITEMS:
            raise PayloadError(f"{len(payload)} bytes is not 1..{MAX_CONFIG_ITEMS} items of 3")
        items = tuple(
            ConfigItem(payload[i], int.from_bytes(payload[i + 1 : i + 3], "big"))
            for i in range(0, len(payload), 3)
        )
        return cls(items)


@dataclass(frozen=True, slots=True)
class DisplayText:
    """Show GB18030 text on a display line (0 = first); empty text clears the line."""

    TYPE: ClassVar[int] = 0x04
    line: int
    text: str
    blink: bool = False
    scroll: bool = False

    def payload(self) -> bytes:
        if not 0 <= self.line <= 0xFF:
            raise EncodeError(f"display line {self.line} out of range")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in self.text):
            raise EncodeError(f"control character in display text {self.text!r}")
        try:
            raw = self.text.encode("gb18030")
        except UnicodeEncodeError as exc:
            raise EncodeError(f"{self.text!r} cannot be encoded as GB18030") from exc
        if len(raw) > MAX_TEXT:
            raise EncodeError(f"display text of {len(raw)} bytes exceeds {MAX_TEXT}")
        flags = (1 if self.blink else 0) | (2 if self.scroll else 0)
        return bytes([self.line, flags]) + raw

    @classmethod
    def parse(cls, payload: bytes) -> DisplayText:
        if len(payload) < 2 or len(payload) > 2 + MAX_TEXT:
            raise PayloadError("display text needs line, flags and at most 200 text bytes")
        if payload[1] & ~0x03:
            raise PayloadError(f"unknown display flags 0x{payload[1]:02X}")
        try:
            text = payload[2:].decode("gb18030")
        except UnicodeDecodeError:
            raise PayloadError("display text is not GB18030") from None
        return cls(payload[0], text, bool(payload[1] & 1), bool(payload[1] & 2))


@dataclass(frozen=True, slots=True)
class InviteRating:
    """Evaluator pad: invite a rating for ``ticket``, accepted for ``window_s`` seconds."""

    TYPE: ClassVar[int] = 0x05
    ticket: str
    window_s: int

    def payload(self) -> bytes:
        if not 1 <= self.window_s <= 0xFF:
            raise EncodeError(f"rating window {self.window_s} s outside 1..255")
        return bytes([self.window_s]) + _ascii_bytes(self.ticket, "ticket", MAX_TICKET)

    @classmethod
    def parse(cls, payload: bytes) -> InviteRating:
        if not 1 <= len(payload) <= 1 + MAX_TICKET or payload[0] == 0:
            raise PayloadError("invite needs a window of 1..255 s and a ticket of <= 16 bytes")
        return cls(_ascii(payload[1:], "ticket"), payload[0])


# --- device -> master ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ack:
    TYPE: ClassVar[int] = 0x80

    def payload(self) -> bytes:
        return b""

    @classmethod
    def parse(cls, payload: bytes) -> Ack:
        _empty(payload)
        return cls()


@dataclass(frozen=True, slots=True)
class Nack:
    TYPE: ClassVar[int] = 0x81
    reason: NackReason

    def payload(self) -> bytes:
        return bytes([self.reason])

    @classmethod
    def parse(cls, payload: bytes) -> Nack:
        if len(payload) != 1:
            raise PayloadError("nack carries one reason byte")
        try:
            return cls(NackReason(payload[0]))
        except ValueError:
            raise PayloadError(f"unknown nack reason {payload[0]}") from None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The poll reply when no event is pending: proof of life plus health flags."""

    TYPE: ClassVar[int] = 0x82
    uptime_s: int
    flags: DeviceFlags = DeviceFlags.NONE

    def payload(self) -> bytes:
        if not 0 <= self.uptime_s <= 0xFFFFFFFF:
            raise EncodeError(f"uptime {self.uptime_s} out of range")
        return self.uptime_s.to_bytes(4, "big") + bytes([self.flags])

    @classmethod
    def parse(cls, payload: bytes) -> Heartbeat:
        if len(payload) != 5:
            raise PayloadError("heartbeat is uptime (4) + flags (1)")
        return cls(int.from_bytes(payload[:4], "big"), DeviceFlags(payload[4] & 0x0F))


@dataclass(frozen=True, slots=True)
class VersionReport:
    TYPE: ClassVar[int] = 0x83
    major: int
    minor: int
    patch: int
    model: str

    def payload(self) -> bytes:
        parts = (self.major, self.minor, self.patch)
        if not all(0 <= p <= 0xFF for p in parts):
            raise EncodeError(f"version {parts} out of range")
        return bytes(parts) + _ascii_bytes(self.model, "model", MAX_MODEL)

    @classmethod
    def parse(cls, payload: bytes) -> VersionReport:
        if not 3 <= len(payload) <= 3 + MAX_MODEL:
            raise PayloadError("version is major, minor, patch + model of <= 32 bytes")
        return cls(payload[0], payload[1], payload[2], _ascii(payload[3:], "model"))


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """A key press; ``value`` is the number typed before CONFIRM (None: nothing typed)."""

    TYPE: ClassVar[int] = 0x84
    key: Key
    value: int | None = None

    def payload(self) -> bytes:
        value = NO_VALUE if self.value is None else self.value
        if self.value is not None and not 0 <= self.value < NO_VALUE:
            raise EncodeError(f"typed value {self.value} outside 0..65534")
        return bytes([self.key]) + value.to_bytes(2, "big")

    @classmethod
    def parse(cls, payload: bytes) -> KeyEvent:
        if len(payload) != 3:
            raise PayloadError("key event is key (1) + value (2)")
        try:
            key = Key(payload[0])
        except ValueError:
            raise PayloadError(f"unknown key 0x{payload[0]:02X}") from None
        value = int.from_bytes(payload[1:], "big")
        return cls(key, None if value == NO_VALUE else value)


@dataclass(frozen=True, slots=True)
class RatingEvent:
    """One press on an evaluator pad, for the ticket it was invited for (may be empty)."""

    TYPE: ClassVar[int] = 0x85
    rating: Rating
    ticket: str = ""

    def payload(self) -> bytes:
        return bytes([self.rating]) + _ascii_bytes(self.ticket, "ticket", MAX_TICKET)

    @classmethod
    def parse(cls, payload: bytes) -> RatingEvent:
        if not 1 <= len(payload) <= 1 + MAX_TICKET:
            raise PayloadError("rating event is level (1) + ticket of <= 16 bytes")
        try:
            rating = Rating(payload[0])
        except ValueError:
            raise PayloadError(f"rating level {payload[0]} outside 1..5") from None
        return cls(rating, _ascii(payload[1:], "ticket"))


MasterMessage = Poll | GetVersion | ConfigPush | DisplayText | InviteRating
DeviceMessage = Ack | Nack | Heartbeat | VersionReport | KeyEvent | RatingEvent
Message = MasterMessage | DeviceMessage
EVENT_TYPES = (KeyEvent, RatingEvent)

_PARSERS = {
    cls.TYPE: cls.parse
    for cls in (
        Poll,
        GetVersion,
        ConfigPush,
        DisplayText,
        InviteRating,
        Ack,
        Nack,
        Heartbeat,
        VersionReport,
        KeyEvent,
        RatingEvent,
    )
}


def from_device(type_code: int) -> bool:
    return bool(type_code & 0x80)


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame on the wire.

    ``address``: the device addressed (master frames) or replying (device frames); 0 broadcasts.
    ``seq``: the master's request number, echoed by the reply. ``evt``: in a device frame the
    number (1..255) of the event it carries, else 0; in a master frame the number of the event
    being acknowledged, or 0.
    """

    address: int
    seq: int
    message: Message
    evt: int = 0


def encode_frame(frame: Frame) -> bytes:
    """Bytes for a frame; raises ``EncodeError`` on any field out of range."""
    message = frame.message
    if not BROADCAST <= frame.address <= MAX_ADDRESS:
        raise EncodeError(f"address {frame.address} outside 0..{MAX_ADDRESS}")
    if from_device(message.TYPE) and frame.address == BROADCAST:
        raise EncodeError("a device frame carries the device's own address, not 0")
    if not 0 <= frame.seq <= 0xFF or not 0 <= frame.evt <= 0xFF:
        raise EncodeError(f"seq {frame.seq} / evt {frame.evt} outside 0..255")
    _check_evt(message, frame.evt, EncodeError)
    payload = message.payload()
    if len(payload) > MAX_PAYLOAD:
        raise EncodeError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    body = bytes([len(payload), frame.address, message.TYPE, frame.seq, frame.evt]) + payload
    return START + body + crc16_ccitt_false(body).to_bytes(2, "big")


def _check_evt(message: Message, evt: int, error: type[ValueError]) -> None:
    if isinstance(message, EVENT_TYPES) and evt == 0:
        raise error("an event frame needs an event number 1..255")
    if from_device(message.TYPE) and not isinstance(message, EVENT_TYPES) and evt != 0:
        raise error("only event frames carry an event number")


def next_event_number(evt: int) -> int:
    """Event numbers run 1..255 and wrap to 1; 0 means 'none'."""
    return evt % 255 + 1


class NativeDecoder:
    """Sans-I/O decoder for both directions; holds at most one frame's worth of bytes."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._events: list[Frame | DecodeError] = []
        self._garbage = bytearray()
        self._quiet = 0  # upcoming skipped bytes already reported inside a bad-CRC candidate

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def receive_data(self, data: bytes) -> None:
        self._buffer += data
        self._parse()
        self._flush_garbage()

    def receive_gap(self) -> None:
        """The line went quiet (the master's reply timeout): nothing pending will complete.

        Without this, noise that looks like a start marker with a large LEN holds back a real
        frame behind it until more bytes arrive; here the pending candidate is reported as
        TRUNCATED and the bytes after its first are searched again.
        """
        while self._buffer:
            self._flush_garbage()
            if self._quiet < len(self._buffer):
                self._events.append(DecodeError(ErrorReason.TRUNCATED, bytes(self._buffer)))
            self._quiet = len(self._buffer)
            self._skip(1)
            self._parse()
        self._flush_garbage()
        self._quiet = 0

    def events_received(self) -> Iterator[Frame | DecodeError]:
        events, self._events = self._events, []
        yield from events

    def _skip(self, n: int) -> None:
        quiet = min(n, self._quiet)
        self._quiet -= quiet
        self._garbage += self._buffer[quiet:n]
        del self._buffer[:n]

    def _flush_garbage(self) -> None:
        if self._garbage:
            self._events.append(DecodeError(ErrorReason.GARBAGE, bytes(self._garbage)))
            self._garbage.clear()

    def _parse(self) -> None:
        buf = self._buffer
        while buf:
            at = buf.find(START)
            if at < 0:
                keep = 1 if buf[-1] == START[0] else 0
                self._skip(len(buf) - keep)
                return
            if at:
                self._skip(at)
                continue
            if len(buf) < HEADER:
                return
            length = buf[2]
            if length > MAX_PAYLOAD:
                self._flush_garbage()
                self._events.append(
                    DecodeError(ErrorReason.OVERSIZED, bytes(buf[:HEADER]), f"LEN {length}")
                )
                self._quiet = max(self._quiet, HEADER)
                self._skip(1)
                continue
            total = HEADER + length + 2
            if len(buf) < total:
                return
            candidate = bytes(buf[:total])
            crc = int.from_bytes(candidate[-2:], "big")
            if crc16_ccitt_false(candidate[2:-2]) != crc:
                self._flush_garbage()
                self._events.append(DecodeError(ErrorReason.BAD_CHECKSUM, candidate))
                self._quiet = max(self._quiet, total)
                self._skip(1)
                continue
            self._quiet = 0
            self._flush_garbage()
            self._events.append(_parse_frame(candidate))
            del buf[:total]


def _parse_frame(frame: bytes) -> Frame | DecodeError:
    _, _, _length, address, type_code, seq, evt = frame[:HEADER]
    parser = _PARSERS.get(type_code)
    if parser is None:
        return DecodeError(ErrorReason.UNKNOWN_FUNCTION, frame, f"type 0x{type_code:02X}")
    try:
        message = parser(frame[HEADER:-2])
        _check_evt(message, evt, PayloadError)
        if from_device(type_code) and address == BROADCAST:
            raise PayloadError("device frame from address 0")
        if address > MAX_ADDRESS:
            raise PayloadError(f"address {address} outside 0..{MAX_ADDRESS}")
    except PayloadError as exc:
        return DecodeError(ErrorReason.BAD_FIELD, frame, str(exc))
    return Frame(address, seq, message, evt)
