"""Window LED strips and hall screens showing GB2312 text (docs/protocol/led-strip.md).

Frame (field reference, sum8 vendor)::

    AA ADDR BB 51 54 CS 01 00 99 00 63 <GB2312 text> FF
    |start   signature  |  mode  attributes          end
                        checksum over everything from the mode bytes through the end byte

The hall-screen variant has mode ``08 02`` instead of ``01 00``. Vendors differ in the
checksum (sum8, xor8, CRC-16/CCITT); a ``LedStripProtocol`` value holds those differences, so
a new vendor is a new value, not new code. A checksum wider than one byte takes the place of
CS, high byte first unless the ``Checksum`` says otherwise; it always covers the bytes from
the one after it through the end byte. The end byte (FF) cannot occur in GB2312/GBK text,
which is what makes it a usable terminator.

Our assumption (optional for devices): an acknowledgement ``AA ADDR BB 51 54 CS 06 ST FF``
with ST 00 = shown, 01 = rejected; CS as above over ``06 ST FF``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from firmware_protocols.base import EncodeError, ErrorReason, gb2312_encode
from firmware_protocols.checksums import CRC16_CCITT, SUM8, XOR8, Checksum
from firmware_protocols.framing import NEED_MORE, FrameScanner, Parsed, ParseResult, Rejected


class Variant(enum.Enum):
    WINDOW_STRIP = "window_strip"  # 窗口条屏
    HALL_SCREEN = "hall_screen"  # 大厅综合屏


class AckStatus(enum.IntEnum):
    SHOWN = 0x00
    REJECTED = 0x01  # e.g. text too long for the device, font missing


@dataclass(frozen=True, slots=True)
class LedStripProtocol:
    """Everything that differs between vendors of this frame family."""

    name: str
    checksum: Checksum = SUM8
    encoding: str = "gb2312"
    max_text_bytes: int = 240
    start: int = 0xAA
    signature: bytes = b"\xbb\x51\x54"
    strip_mode: bytes = b"\x01\x00"
    hall_mode: bytes = b"\x08\x02"
    attributes: bytes = b"\x99\x00\x63"
    end: int = 0xFF
    ack_mode: int = 0x06

    def __post_init__(self) -> None:
        if len(self.strip_mode) != len(self.hall_mode) or self.strip_mode == self.hall_mode:
            raise ValueError("strip and hall modes must be distinct and of equal length")
        if self.ack_mode in (self.strip_mode[:1] + self.hall_mode[:1]):
            raise ValueError("the ack mode byte must differ from the first mode byte")
        if self.max_text_bytes < 0:
            raise ValueError("max_text_bytes must not be negative")

    def mode(self, variant: Variant) -> bytes:
        return self.strip_mode if variant is Variant.WINDOW_STRIP else self.hall_mode

    @property
    def header_length(self) -> int:
        """Bytes before the checksum: start, address, signature."""
        return 2 + len(self.signature)

    @property
    def max_frame(self) -> int:
        fixed = len(self.strip_mode) + len(self.attributes) + 1
        return self.header_length + self.checksum.width + fixed + self.max_text_bytes


#: The field-reference vendor, and two others seen with the same frame.
STANDARD = LedStripProtocol("sum8")
XOR8_VENDOR = LedStripProtocol("xor8", checksum=XOR8)
CRC16_VENDOR = LedStripProtocol("crc16_ccitt", checksum=CRC16_CCITT)


@dataclass(frozen=True, slots=True)
class ShowText:
    """Host→device: replace what the display shows."""

    address: int
    text: str
    variant: Variant = Variant.WINDOW_STRIP


@dataclass(frozen=True, slots=True)
class StripAck:
    """Device→host (our assumption, optional): the text was shown or rejected."""

    address: int
    status: AckStatus


LedFrame = ShowText | StripAck


def _check_address(address: int) -> None:
    if not 0 <= address <= 0xFF:
        raise EncodeError(f"address {address} is not a byte (0-255)")


def _frame(protocol: LedStripProtocol, address: int, body: bytes) -> bytes:
    head = bytes([protocol.start, address]) + protocol.signature
    return head + protocol.checksum.digest(body) + body


def encode(frame: LedFrame, protocol: LedStripProtocol = STANDARD) -> bytes:
    """The bytes of one frame; ``EncodeError`` for text the device cannot take."""
    _check_address(frame.address)
    if isinstance(frame, StripAck):
        return _frame(
            protocol, frame.address, bytes([protocol.ack_mode, frame.status, protocol.end])
        )
    text = gb2312_encode(frame.text, encoding=protocol.encoding)
    if len(text) > protocol.max_text_bytes:
        raise EncodeError(
            f"text is {len(text)} bytes in {protocol.encoding}, at most "
            f"{protocol.max_text_bytes} fit ({frame.text[:10]!r}...)"
        )
    if protocol.end in text:
        raise EncodeError(f"text contains the end byte 0x{protocol.end:02X}")
    body = protocol.mode(frame.variant) + protocol.attributes + text + bytes([protocol.end])
    return _frame(protocol, frame.address, body)


def encode_text(
    address: int,
    text: str,
    variant: Variant = Variant.WINDOW_STRIP,
    protocol: LedStripProtocol = STANDARD,
) -> bytes:
    """Shorthand for ``encode(ShowText(address, text, variant), protocol)``."""
    return encode(ShowText(address, text, variant), protocol)


@dataclass(frozen=True, slots=True)
class LedTarget:
    """What a hall-config protocol name selects: a vendor definition and a variant."""

    protocol: LedStripProtocol
    variant: Variant

    def encode_text(self, address: int, text: str) -> bytes:
        return encode_text(address, text, self.variant, self.protocol)


class LedStripDecoder(FrameScanner[LedFrame]):
    """Decodes text frames (what a simulated strip hears) and acks (what the host hears)."""

    def __init__(self, protocol: LedStripProtocol = STANDARD) -> None:
        self._protocol = protocol
        self._modes = {
            protocol.strip_mode: Variant.WINDOW_STRIP,
            protocol.hall_mode: Variant.HALL_SCREEN,
        }
        super().__init__(start_bytes=bytes([protocol.start]), max_frame=protocol.max_frame)

    def parse_candidate(self, buffer: bytearray, start: int) -> ParseResult[LedFrame]:
        proto = self._protocol
        available = len(buffer)
        for offset, expected in enumerate(proto.signature, start=start + 2):
            if offset < available and buffer[offset] != expected:
                return Rejected(ErrorReason.GARBAGE)
        body_start = start + proto.header_length + proto.checksum.width
        if body_start >= available:
            return NEED_MORE
        if buffer[body_start] == proto.ack_mode:
            end = body_start + 3
        else:
            text_start = body_start + len(proto.strip_mode) + len(proto.attributes)
            end_at = buffer.find(proto.end, text_start, text_start + proto.max_text_bytes + 1)
            if end_at < 0:
                if available - text_start > proto.max_text_bytes:
                    limit = f"no end byte within {proto.max_text_bytes} text bytes"
                    return Rejected(ErrorReason.OVERSIZED, limit)
                return NEED_MORE
            end = end_at + 1
        if end > available:
            return NEED_MORE
        if buffer[end - 1] != proto.end:
            return Rejected(ErrorReason.BAD_TERMINATOR, f"0x{buffer[end - 1]:02X} at the end")
        body = bytes(buffer[body_start:end])
        sent = bytes(buffer[body_start - proto.checksum.width : body_start])
        if sent != proto.checksum.digest(body):
            detail = (
                f"{proto.checksum.name} {sent.hex()}, computed {proto.checksum.digest(body).hex()}"
            )
            return Rejected(ErrorReason.BAD_CHECKSUM, detail)
        return self._interpret(buffer[start + 1], body, end - start)

    def _interpret(self, address: int, body: bytes, length: int) -> ParseResult[LedFrame]:
        proto = self._protocol
        if body[0] == proto.ack_mode:
            try:
                return Parsed(StripAck(address, AckStatus(body[1])), length)
            except ValueError:
                return Rejected(ErrorReason.BAD_FIELD, f"ack status 0x{body[1]:02X}", length)
        mode_length = len(proto.strip_mode)
        variant = self._modes.get(body[:mode_length])
        if variant is None:
            return Rejected(
                ErrorReason.UNKNOWN_FUNCTION, f"mode {body[:mode_length].hex()}", length
            )
        attributes = body[mode_length : mode_length + len(proto.attributes)]
        if attributes != proto.attributes:
            return Rejected(ErrorReason.BAD_FIELD, f"attributes {attributes.hex()}", length)
        raw_text = body[mode_length + len(proto.attributes) : -1]
        try:
            text = raw_text.decode(proto.encoding)
        except UnicodeDecodeError as exc:
            return Rejected(ErrorReason.BAD_FIELD, f"text is not {proto.encoding}: {exc}", length)
        return Parsed(ShowText(address, text, variant), length)
