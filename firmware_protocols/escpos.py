"""ESC/POS for ticket kiosks: ticket bytes, printer status, and a ticket-stream decoder.

Theory of operation: ``ticket_bytes`` lays out one queue ticket. python-escpos builds the
commands (init, styles, native QR, cut); the text bytes are written here in GB18030 because
python-escpos's text path picks Western code pages for some characters and prints "?" for
others (docs/decisions/0002-escpos-bytes.md). ``status_request`` and ``StatusDecoder`` cover
DLE EOT n, the one-byte status a kiosk polls before and after printing. ``TicketDecoder`` is
the printer's side, for the simulator: it parses any ESC/POS stream into typed elements and
reports commands it does not know as ``DecodeError(UNKNOWN_FUNCTION)`` without stopping.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from escpos.constants import QR_ECLEVEL_M  # type: ignore[import-untyped]
from escpos.printer import Dummy  # type: ignore[import-untyped]

from firmware_protocols.base import DecodeError, EncodeError, ErrorReason

ESC, GS, FS, DLE, LF, CR, HT = 0x1B, 0x1D, 0x1C, 0x10, 0x0A, 0x0D, 0x09
CHINESE_MODE_ON = b"\x1c\x26"  # FS &
QR_MAX_DATA = 7089  # the QR symbol's capacity; GS ( k store allows pL pH = len + 3
MAX_LINE = 1024  # bytes of text before LF; a thermal line holds 48 ASCII / 24 Chinese


# --- ticket layout ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TicketPrint:
    """What a kiosk prints for one ticket; all text is Unicode, GB18030 on the wire."""

    hall_name: str
    ticket_number: str
    service_name: str
    people_ahead: int
    wait_minutes: int
    issued_at: str
    rating_url: str
    footer: str


def encode_text(text: str, encoding: str = "gb18030") -> bytes:
    """Printable text only: a control byte in a name would be an ESC/POS command."""
    bad = [c for c in text if ord(c) < 0x20 or ord(c) == 0x7F]
    if bad:
        raise EncodeError(f"control character {bad[0]!r} in ticket text {text!r}")
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        raise EncodeError(f"{text[exc.start : exc.end]!r} cannot be encoded as {encoding}") from exc


def _check_ticket(ticket: TicketPrint) -> None:
    if not ticket.ticket_number:
        raise EncodeError("ticket number is empty")
    if ticket.people_ahead < 0 or ticket.wait_minutes < 0:
        raise EncodeError("people ahead and wait minutes cannot be negative")
    url = ticket.rating_url
    if not url.isascii() or any(not c.isprintable() for c in url):
        raise EncodeError(f"QR payload must be printable ASCII (percent-encode it): {url!r}")
    if len(url) > QR_MAX_DATA:
        raise EncodeError(f"QR payload of {len(url)} bytes exceeds {QR_MAX_DATA}")


def ticket_bytes(ticket: TicketPrint, *, encoding: str = "gb18030") -> bytes:
    """The whole print job for one ticket, from ESC @ to the cut."""
    _check_ticket(ticket)
    printer = Dummy()

    def line(text: str) -> None:
        printer._raw(encode_text(text, encoding) + b"\n")

    printer.hw("INIT")
    printer._raw(CHINESE_MODE_ON)
    printer.set(align="center", bold=True, double_height=True, double_width=True)
    line(ticket.hall_name)
    printer.set(align="center", custom_size=True, width=3, height=3)
    line(ticket.ticket_number)
    printer.set(align="center", normal_textsize=True, bold=False)
    line(ticket.service_name)
    line(f"前面还有 {ticket.people_ahead} 人等候")
    line(f"预计等待约 {ticket.wait_minutes} 分钟")
    line(f"取号时间 {ticket.issued_at}")
    if ticket.rating_url:
        printer.qr(ticket.rating_url, native=True, size=6, ec=QR_ECLEVEL_M)
        line("扫码评价本次服务")
    if ticket.footer:
        line(ticket.footer)
    printer.cut()
    output: bytes = printer.output
    return output


# --- status (DLE EOT n) ----------------------------------------------------------------------


class StatusKind(enum.IntEnum):
    """The ``n`` of DLE EOT n that hallctl asks for."""

    PRINTER = 1
    OFFLINE_CAUSE = 2
    PAPER_SENSOR = 4


@dataclass(frozen=True, slots=True)
class PrinterStatus:
    """What one or more status replies said; ``None`` means that reply did not tell."""

    online: bool | None = None
    cover_open: bool | None = None
    paper_near_end: bool | None = None
    paper_out: bool | None = None
    error: bool | None = None

    def merge(self, newer: PrinterStatus) -> PrinterStatus:
        """Combine replies to different ``n``: the newer reply wins where it tells."""

        def pick(old: bool | None, new: bool | None) -> bool | None:
            return old if new is None else new

        return PrinterStatus(
            pick(self.online, newer.online),
            pick(self.cover_open, newer.cover_open),
            pick(self.paper_near_end, newer.paper_near_end),
            pick(self.paper_out, newer.paper_out),
            pick(self.error, newer.error),
        )


_FIXED_MASK, _FIXED_BITS = 0x93, 0x12  # bit 1 and bit 4 set, bits 0 and 7 clear in every reply


def status_request(kind: StatusKind) -> bytes:
    return bytes([DLE, 0x04, kind])


def decode_status(kind: StatusKind, byte: int) -> PrinterStatus | DecodeError:
    """One reply byte to DLE EOT ``kind``; a byte without the fixed bits is not a status."""
    if byte & _FIXED_MASK != _FIXED_BITS:
        return DecodeError(ErrorReason.BAD_FIELD, bytes([byte]), "fixed bits 0x12/0x93 wrong")
    if kind is StatusKind.PRINTER:
        return PrinterStatus(online=not byte & 0x08)
    if kind is StatusKind.OFFLINE_CAUSE:
        return PrinterStatus(
            cover_open=bool(byte & 0x04), paper_out=bool(byte & 0x20), error=bool(byte & 0x40)
        )
    # Spec: bits 2-3 both set = near end, bits 5-6 both set = out; some printers set one bit.
    return PrinterStatus(paper_near_end=bool(byte & 0x0C), paper_out=bool(byte & 0x60))


def encode_status(kind: StatusKind, status: PrinterStatus) -> int:
    """The reply byte a printer sends (the simulator's printer uses this)."""
    byte = _FIXED_BITS
    if kind is StatusKind.PRINTER:
        byte |= 0x08 if status.online is False else 0
    elif kind is StatusKind.OFFLINE_CAUSE:
        byte |= (0x04 if status.cover_open else 0) | (0x20 if status.paper_out else 0)
        byte |= 0x40 if status.error else 0
    else:
        byte |= (0x0C if status.paper_near_end else 0) | (0x60 if status.paper_out else 0)
    return byte


class StatusDecoder:
    """Pairs each reply byte with the oldest request still waiting for one."""

    def __init__(self) -> None:
        self._pending: deque[StatusKind] = deque(maxlen=16)
        self._events: list[PrinterStatus | DecodeError] = []

    def expect(self, kind: StatusKind) -> None:
        self._pending.append(kind)

    def cancel(self) -> None:
        """The transport's reply timeout ran out: forget unanswered requests."""
        self._pending.clear()

    def receive_data(self, data: bytes) -> None:
        for byte in data:
            if self._pending:
                self._events.append(decode_status(self._pending.popleft(), byte))
            else:
                self._events.append(DecodeError(ErrorReason.GARBAGE, bytes([byte]), "unasked"))

    def events_received(self) -> Iterator[PrinterStatus | DecodeError]:
        events, self._events = self._events, []
        yield from events


# --- ticket-stream decoder (the printer's side) ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Initialize:
    """ESC @."""


@dataclass(frozen=True, slots=True)
class ChineseMode:
    """FS & (on) or FS . (off)."""

    enabled: bool


@dataclass(frozen=True, slots=True)
class TextLine:
    """Text up to LF (or up to a command that prints), decoded from the stream encoding."""

    text: str


@dataclass(frozen=True, slots=True)
class Formatting:
    """A known command that only changes how later text looks (ESC !, ESC a, GS !...)."""

    command: str
    argument: bytes


@dataclass(frozen=True, slots=True)
class Feed:
    """ESC d n: print and feed n lines."""

    lines: int


@dataclass(frozen=True, slots=True)
class QrCode:
    """Stored by GS ( k fn 50, printed by fn 51, with the settings in force then."""

    data: bytes
    model: int
    module_size: int
    error_level: str


@dataclass(frozen=True, slots=True)
class Cut:
    partial: bool
    feed: int = 0


@dataclass(frozen=True, slots=True)
class StatusRequest:
    """DLE EOT n inside the stream; the printer answers at once with one byte."""

    kind: StatusKind


Element = Initialize | ChineseMode | TextLine | Formatting | Feed | QrCode | Cut | StatusRequest

# (prefix, command) -> argument bytes, for the fixed-length commands we recognise.
_FIXED_ARGS = {
    ESC: {" ": 1, "!": 1, "-": 1, "2": 0, "3": 1, "E": 1, "G": 1, "J": 1, "M": 1, "R": 1,
          "S": 0, "V": 1, "a": 1, "d": 1, "t": 1, "{": 1},
    GS: {"!": 1, "B": 1, "H": 1, "b": 1, "f": 1, "h": 1, "w": 1, "L": 2, "W": 2},
    FS: {"!": 1, "-": 1, "W": 1},
}  # fmt: skip
_PREFIX_NAMES = {ESC: "ESC", GS: "GS", FS: "FS"}
_FIXED: dict[tuple[int, int], tuple[str, int]] = {
    (prefix, ord(c)): (f"{_PREFIX_NAMES[prefix]} {c}", n)
    for prefix, table in _FIXED_ARGS.items()
    for c, n in table.items()
}
_QR_LEVELS = {0x30: "L", 0x31: "M", 0x32: "Q", 0x33: "H"}
_TEXT_END = frozenset(range(0x20)) - {HT}


class TicketDecoder:
    """Sans-I/O ESC/POS stream parser; buffers at most one command and one line."""

    def __init__(self, *, encoding: str = "gb18030", max_line: int = MAX_LINE) -> None:
        self.encoding = encoding
        self.max_line = max_line
        self._buffer = bytearray()
        self._line = bytearray()
        self._line_overflow = False
        self._skip = 0
        self._events: list[Element | DecodeError] = []
        self._qr_data: bytes | None = None
        self._qr_model, self._qr_size, self._qr_level = 2, 3, "L"

    @property
    def buffered(self) -> int:
        return len(self._buffer) + len(self._line)

    def receive_data(self, data: bytes) -> None:
        if self._skip:
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            data = data[dropped:]
        self._buffer += data
        self._parse()

    def events_received(self) -> Iterator[Element | DecodeError]:
        events, self._events = self._events, []
        yield from events

    # -- parsing --

    def _parse(self) -> None:
        buf = self._buffer
        while buf:
            first = buf[0]
            if first not in _TEXT_END:
                end = next((i for i, b in enumerate(buf) if b in _TEXT_END), len(buf))
                self._add_text(bytes(buf[:end]))
                del buf[:end]
                continue
            used = self._command(first)
            if used == 0:
                return  # wait for the rest of the command
            del buf[:used]

    def _add_text(self, chunk: bytes) -> None:
        if self._line_overflow:
            return
        self._line += chunk
        if len(self._line) > self.max_line:
            self._emit(DecodeError(ErrorReason.OVERSIZED, bytes(self._line), "no LF in time"))
            self._line.clear()
            self._line_overflow = True

    def _end_line(self, *, force: bool) -> None:
        """Emit pending text; LF ends even an empty line, other printing commands only text."""
        if self._line_overflow:
            self._line_overflow = False
            return
        if not self._line and not force:
            return
        raw = bytes(self._line)
        self._line.clear()
        try:
            self._emit(TextLine(raw.decode(self.encoding)))
        except UnicodeDecodeError:
            self._emit(DecodeError(ErrorReason.BAD_FIELD, raw, f"not valid {self.encoding}"))

    def _emit(self, event: Element | DecodeError) -> None:
        self._events.append(event)

    def _command(self, first: int) -> int:
        """Handle the command at the buffer start; return bytes used, 0 if incomplete."""
        buf = self._buffer
        if first == LF:
            self._end_line(force=True)
            return 1
        if first == CR:
            return 1
        if first not in (ESC, GS, FS, DLE):
            self._emit(DecodeError(ErrorReason.UNKNOWN_FUNCTION, bytes([first]), "control byte"))
            return 1
        if len(buf) < 2:
            return 0
        key = (first, buf[1])
        if key in _FIXED:
            name, nargs = _FIXED[key]
            if len(buf) < 2 + nargs:
                return 0
            self._fixed(name, bytes(buf[2 : 2 + nargs]))
            return 2 + nargs
        if buf[1] == ord("(") and first in (ESC, GS, FS):
            return self._function_block()
        if key == (GS, ord("V")):
            return self._cut()
        if key == (DLE, 0x04):
            if len(buf) < 3:
                return 0
            try:
                self._emit(StatusRequest(StatusKind(buf[2])))
            except ValueError:
                self._emit(DecodeError(ErrorReason.BAD_FIELD, bytes(buf[:3]), "DLE EOT n"))
            return 3
        simple: dict[tuple[int, int], Element] = {
            (ESC, ord("@")): Initialize(),
            (FS, ord("&")): ChineseMode(True),
            (FS, ord(".")): ChineseMode(False),
        }
        if key in simple:
            if key == (ESC, ord("@")) and self._line:
                self._emit(DecodeError(ErrorReason.TRUNCATED, bytes(self._line), "ESC @ clears"))
                self._line.clear()
            if key == (ESC, ord("@")):
                self._qr_data = None
                self._qr_model, self._qr_size, self._qr_level = 2, 3, "L"
            self._emit(simple[key])
            return 2
        self._emit(DecodeError(ErrorReason.UNKNOWN_FUNCTION, bytes(buf[:2]), "unknown command"))
        return 2

    def _fixed(self, name: str, argument: bytes) -> None:
        if name == "ESC d":
            self._end_line(force=False)
            self._emit(Feed(argument[0]))
        else:
            self._emit(Formatting(name, argument))

    def _cut(self) -> int:
        buf = self._buffer
        if len(buf) < 3:
            return 0
        mode = buf[2]
        if mode in (0x00, 0x01, 0x30, 0x31):
            self._end_line(force=False)
            self._emit(Cut(partial=mode in (0x01, 0x31)))
            return 3
        if mode in (65, 66, 97, 98, 103, 104):
            if len(buf) < 4:
                return 0
            self._end_line(force=False)
            self._emit(Cut(partial=mode in (66, 98, 104), feed=buf[3]))
            return 4
        self._emit(DecodeError(ErrorReason.BAD_FIELD, bytes(buf[:3]), "GS V mode"))
        return 3

    def _function_block(self) -> int:
        """``<prefix> ( fn pL pH <pL+256pH bytes>``: length known even when fn is not."""
        buf = self._buffer
        if len(buf) < 5:
            return 0
        size = buf[3] + 256 * buf[4]
        header = bytes(buf[:5])
        if size > QR_MAX_DATA + 3:
            self._emit(DecodeError(ErrorReason.OVERSIZED, header, f"{size}-byte function block"))
            available = len(buf) - 5
            self._skip = max(0, size - available)
            return 5 + min(size, available)
        if len(buf) < 5 + size:
            return 0
        block = bytes(buf[: 5 + size])
        if header[:3] != b"\x1d(k":
            self._emit(DecodeError(ErrorReason.UNKNOWN_FUNCTION, block, "function block"))
        else:
            self._qr_function(block)
        return 5 + size

    def _qr_function(self, block: bytes) -> None:
        body = block[5:]
        if len(body) < 2 or body[0] != 0x31:
            self._emit(DecodeError(ErrorReason.UNKNOWN_FUNCTION, block, "2D code other than QR"))
            return
        fn, params = body[1], body[2:]
        if fn == 0x41 and len(params) == 2 and 0x31 <= params[0] <= 0x33:
            self._qr_model = params[0] - 0x30
        elif fn == 0x43 and len(params) == 1 and 1 <= params[0] <= 16:
            self._qr_size = params[0]
        elif fn == 0x45 and len(params) == 1 and params[0] in _QR_LEVELS:
            self._qr_level = _QR_LEVELS[params[0]]
        elif fn == 0x50 and params[:1] == b"\x30":
            self._qr_data = params[1:]
        elif fn == 0x51 and params == b"\x30":
            self._end_line(force=False)
            if self._qr_data is None:
                self._emit(DecodeError(ErrorReason.BAD_FIELD, block, "QR print with no data"))
            else:
                self._emit(QrCode(self._qr_data, self._qr_model, self._qr_size, self._qr_level))
        else:
            self._emit(DecodeError(ErrorReason.BAD_FIELD, block, f"QR function 0x{fn:02X}"))
