"""ESC/POS: ticket bytes, status replies, and the printer-side stream decoder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from escpos.printer import Dummy
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_protocols.base import DecodeError, EncodeError, ErrorReason
from firmware_protocols.escpos import (
    MAX_LINE,
    QR_MAX_DATA,
    ChineseMode,
    Cut,
    Element,
    Feed,
    Formatting,
    Initialize,
    PrinterStatus,
    QrCode,
    StatusDecoder,
    StatusKind,
    StatusRequest,
    TextLine,
    TicketDecoder,
    TicketPrint,
    decode_status,
    encode_status,
    status_request,
    ticket_bytes,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "protocol" / "escpos.md"

TICKET = TicketPrint(
    hall_name="XX市政务服务中心",
    ticket_number="A023",
    service_name="不动产登记",
    people_ahead=5,
    wait_minutes=25,
    issued_at="2024-05-06 09:31",
    rating_url="https://hall.example.cn/r/A023",
    footer="请留意叫号，过号请重新取号",
)


def decode(data: bytes, *, chunk: int | None = None) -> list[Element | DecodeError]:
    decoder = TicketDecoder()
    events: list[Element | DecodeError] = []
    pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for piece in pieces:
        decoder.receive_data(piece)
        events += decoder.events_received()
    return events


def content(events: list[Element | DecodeError]) -> list[Element | DecodeError]:
    """Everything but formatting: what the ticket says."""
    return [e for e in events if not isinstance(e, Formatting)]


EXPECTED = [
    Initialize(),
    ChineseMode(True),
    TextLine("XX市政务服务中心"),
    TextLine("A023"),
    TextLine("不动产登记"),
    TextLine("前面还有 5 人等候"),
    TextLine("预计等待约 25 分钟"),
    TextLine("取号时间 2024-05-06 09:31"),
    QrCode(b"https://hall.example.cn/r/A023", model=2, module_size=6, error_level="M"),
    TextLine("扫码评价本次服务"),
    TextLine("请留意叫号，过号请重新取号"),
    Feed(6),
    Cut(partial=False),
]


# --- ticket layout ---------------------------------------------------------------------------


def test_ticket_bytes_structure() -> None:
    data = ticket_bytes(TICKET)
    assert data.startswith(b"\x1b@\x1c&")
    assert data.endswith(b"\x1dV\x00")
    assert "不动产登记".encode("gb18030") in data
    url = TICKET.rating_url.encode()
    store = b"\x1d(k" + (len(url) + 3).to_bytes(2, "little") + b"1P0" + url
    assert store in data
    assert b"\x1d(k\x03\x001Q0" in data  # print the stored symbol
    assert b"\x1d(k\x03\x001E1" in data  # error level M


def test_ticket_decodes_back_whole_and_byte_by_byte() -> None:
    data = ticket_bytes(TICKET)
    assert content(decode(data)) == EXPECTED
    assert decode(data, chunk=1) == decode(data)


def test_four_byte_gb18030_characters_survive() -> None:
    ticket = TicketPrint("䶮𠀀大厅", "B001", "社保·医保", 0, 0, "09:00", "", "")
    events = content(decode(ticket_bytes(ticket)))
    assert TextLine("䶮𠀀大厅") in events
    assert TextLine("社保·医保") in events
    assert not any(isinstance(e, QrCode) for e in events)  # no URL, no QR


def test_python_escpos_text_path_is_why_we_encode_ourselves() -> None:
    # docs/decisions/0002-escpos-bytes.md: the library switches code pages or prints "?".
    printer = Dummy()
    printer.text("䶮·\n")
    assert printer.output != "䶮·\n".encode("gb18030")
    assert b"\x1bt" in printer.output


@pytest.mark.parametrize(
    "change",
    [
        {"hall_name": "大厅\x1b@"},
        {"service_name": "\ud800"},
        {"ticket_number": ""},
        {"people_ahead": -1},
        {"wait_minutes": -5},
        {"rating_url": "https://例子.cn/r"},
        {"rating_url": "https://x.cn/\n"},
        {"rating_url": "h" * (QR_MAX_DATA + 1)},
    ],
)
def test_bad_ticket_fields_are_rejected(change: dict[str, object]) -> None:
    fields = {f: getattr(TICKET, f) for f in TicketPrint.__dataclass_fields__}
    with pytest.raises(EncodeError):
        ticket_bytes(TicketPrint(**{**fields, **change}))  # type: ignore[arg-type]


# --- status ----------------------------------------------------------------------------------


def test_status_requests() -> None:
    assert status_request(StatusKind.PRINTER) == b"\x10\x04\x01"
    assert status_request(StatusKind.OFFLINE_CAUSE) == b"\x10\x04\x02"
    assert status_request(StatusKind.PAPER_SENSOR) == b"\x10\x04\x04"


@pytest.mark.parametrize(
    ("kind", "byte", "expected"),
    [
        (StatusKind.PRINTER, 0x12, PrinterStatus(online=True)),
        (StatusKind.PRINTER, 0x16, PrinterStatus(online=True)),  # drawer pin high: ignored
        (StatusKind.PRINTER, 0x1A, PrinterStatus(online=False)),
        (
            StatusKind.OFFLINE_CAUSE,
            0x12,
            PrinterStatus(cover_open=False, paper_out=False, error=False),
        ),
        (
            StatusKind.OFFLINE_CAUSE,
            0x16,
            PrinterStatus(cover_open=True, paper_out=False, error=False),
        ),
        (
            StatusKind.OFFLINE_CAUSE,
            0x32,
            PrinterStatus(cover_open=False, paper_out=True, error=False),
        ),
        (
            StatusKind.OFFLINE_CAUSE,
            0x52,
            PrinterStatus(cover_open=False, paper_out=False, error=True),
        ),
        (StatusKind.PAPER_SENSOR, 0x12, PrinterStatus(paper_near_end=False, paper_out=False)),
        (StatusKind.PAPER_SENSOR, 0x1E, PrinterStatus(paper_near_end=True, paper_out=False)),
        (StatusKind.PAPER_SENSOR, 0x72, PrinterStatus(paper_near_end=False, paper_out=True)),
        (StatusKind.PAPER_SENSOR, 0x7E, PrinterStatus(paper_near_end=True, paper_out=True)),
        (StatusKind.PAPER_SENSOR, 0x16, PrinterStatus(paper_near_end=True, paper_out=False)),
    ],
)
def test_status_bytes(kind: StatusKind, byte: int, expected: PrinterStatus) -> None:
    assert decode_status(kind, byte) == expected


@pytest.mark.parametrize("byte", [0x00, 0xFF, 0x10, 0x02, 0x13, 0x92])
def test_status_byte_without_fixed_bits_is_rejected(byte: int) -> None:
    result = decode_status(StatusKind.PRINTER, byte)
    assert isinstance(result, DecodeError) and result.reason is ErrorReason.BAD_FIELD


@given(
    st.sampled_from(list(StatusKind)), st.booleans(), st.booleans(), st.booleans(), st.booleans()
)
@settings(max_examples=100)
def test_status_encode_decode_round_trip(
    kind: StatusKind, online: bool, cover: bool, near: bool, out: bool
) -> None:
    full = PrinterStatus(online=online, cover_open=cover, paper_near_end=near, paper_out=out)
    decoded = decode_status(kind, encode_status(kind, full))
    assert isinstance(decoded, PrinterStatus)
    for field in ("online", "cover_open", "paper_near_end", "paper_out"):
        told = getattr(decoded, field)
        assert told is None or told == getattr(full, field)


def test_status_merge_keeps_what_each_reply_told() -> None:
    merged = PrinterStatus(online=True).merge(PrinterStatus(paper_near_end=True, paper_out=False))
    assert merged == PrinterStatus(online=True, paper_near_end=True, paper_out=False)
    assert merged.merge(PrinterStatus(paper_out=True)).paper_out is True


def test_status_decoder_pairs_replies_with_requests() -> None:
    decoder = StatusDecoder()
    decoder.expect(StatusKind.PRINTER)
    decoder.expect(StatusKind.PAPER_SENSOR)
    decoder.receive_data(b"\x12\x1e\x12")
    online, paper, extra = decoder.events_received()
    assert online == PrinterStatus(online=True)
    assert paper == PrinterStatus(paper_near_end=True, paper_out=False)
    assert isinstance(extra, DecodeError) and extra.reason is ErrorReason.GARBAGE


def test_status_decoder_cancel_forgets_requests() -> None:
    decoder = StatusDecoder()
    decoder.expect(StatusKind.PRINTER)
    decoder.cancel()
    decoder.receive_data(b"\x12")
    (event,) = decoder.events_received()
    assert isinstance(event, DecodeError)


@given(st.lists(st.sampled_from(list(StatusKind)), max_size=30), st.binary(max_size=40))
@settings(max_examples=200)
def test_status_decoder_never_raises(kinds: list[StatusKind], data: bytes) -> None:
    decoder = StatusDecoder()
    for kind in kinds:
        decoder.expect(kind)
    decoder.receive_data(data)
    events = list(decoder.events_received())
    assert len(events) == len(data)
    assert all(isinstance(e, PrinterStatus | DecodeError) for e in events)


# --- stream decoder: every path --------------------------------------------------------------


def one_error(data: bytes) -> DecodeError:
    errors = [e for e in decode(data) if isinstance(e, DecodeError)]
    assert len(errors) == 1, errors
    return errors[0]


def test_unknown_command_is_reported_and_skipped() -> None:
    events = decode(b"\x1bx" + "好\n".encode("gb18030"))
    assert events == [
        DecodeError(ErrorReason.UNKNOWN_FUNCTION, b"\x1bx", "unknown command"),
        TextLine("好"),
    ]


def test_unknown_control_byte() -> None:
    assert one_error(b"\x07ok\n").reason is ErrorReason.UNKNOWN_FUNCTION


def test_invalid_gb18030_line() -> None:
    error = one_error(b"\x81\x20\n")
    assert error.reason is ErrorReason.BAD_FIELD and error.data == b"\x81\x20"
    assert decode(b"\x81\x20\nok\n")[-1] == TextLine("ok")


def test_overlong_line_reported_once_then_recovers() -> None:
    events = decode(b"x" * (MAX_LINE + 500) + b"\nok\n")
    assert [type(e) for e in events] == [DecodeError, TextLine]
    assert isinstance(events[0], DecodeError) and events[0].reason is ErrorReason.OVERSIZED
    assert events[1] == TextLine("ok")


def test_oversized_function_block_is_skipped_exactly() -> None:
    size = QR_MAX_DATA + 10
    block = b"\x1d(k" + size.to_bytes(2, "little") + b"\x1b" * size
    for chunk in (None, 1000):
        events = decode(block + b"ok\n", chunk=chunk)
        assert [type(e) for e in events] == [DecodeError, TextLine]
        assert isinstance(events[0], DecodeError) and events[0].reason is ErrorReason.OVERSIZED


def test_unknown_function_block_is_skipped_whole() -> None:
    block = b"\x1d(L\x04\x000p\x01\x01"  # a raster graphics command we do not interpret
    assert decode(block + b"ok\n") == [
        DecodeError(ErrorReason.UNKNOWN_FUNCTION, block, "function block"),
        TextLine("ok"),
    ]


def test_qr_paths() -> None:
    print_qr = b"\x1d(k\x03\x001Q0"
    assert one_error(print_qr).reason is ErrorReason.BAD_FIELD  # nothing stored
    assert one_error(b"\x1d(k\x03\x002A0").reason is ErrorReason.UNKNOWN_FUNCTION  # not QR
    assert one_error(b"\x1d(k\x03\x001Z0").reason is ErrorReason.BAD_FIELD  # unknown fn
    store = b"\x1d(k\x05\x001P0ab"
    assert decode(store + print_qr) == [QrCode(b"ab", 2, 3, "L")]
    # ESC @ resets the stored symbol
    assert one_error(store + b"\x1b@" + print_qr).reason is ErrorReason.BAD_FIELD


def test_cuts_and_feeds() -> None:
    assert decode(b"\x1dV\x01") == [Cut(partial=True)]
    assert decode(b"\x1dVB\x03") == [Cut(partial=True, feed=3)]
    assert decode(b"\x1dVA\x00") == [Cut(partial=False, feed=0)]
    assert one_error(b"\x1dV\x07").reason is ErrorReason.BAD_FIELD
    assert decode("半行".encode("gb18030") + b"\x1bd\x02") == [TextLine("半行"), Feed(2)]


def test_status_request_inside_stream() -> None:
    assert decode(b"\x10\x04\x02") == [StatusRequest(StatusKind.OFFLINE_CAUSE)]
    assert one_error(b"\x10\x04\x09").reason is ErrorReason.BAD_FIELD


def test_init_discards_pending_text() -> None:
    events = decode(b"lost\x1b@\x1c.kept\r\n")
    assert events == [
        DecodeError(ErrorReason.TRUNCATED, b"lost", "ESC @ clears"),
        Initialize(),
        ChineseMode(False),
        TextLine("kept"),
    ]


def test_incomplete_command_waits() -> None:
    decoder = TicketDecoder()
    for part in (b"\x1d", b"(", b"k\x05", b"\x00", b"1P0a", b"b"):
        decoder.receive_data(part)
        assert list(decoder.events_received()) == []
    decoder.receive_data(b"\x1d(k\x03\x001Q0")
    assert list(decoder.events_received()) == [QrCode(b"ab", 2, 3, "L")]


# --- properties ------------------------------------------------------------------------------

BOUND = MAX_LINE + QR_MAX_DATA + 8
gb_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\x7f"),
    max_size=20,
)


@given(st.lists(st.binary(max_size=200), max_size=20))
@settings(max_examples=200)
def test_any_stream_never_raises_and_stays_bounded(chunks: list[bytes]) -> None:
    decoder = TicketDecoder()
    for data in chunks:
        decoder.receive_data(data)
        for event in decoder.events_received():
            assert isinstance(event, Element | DecodeError)
        assert decoder.buffered <= BOUND


@given(
    gb_text,
    st.text(alphabet="ABCDEFGH0123456789", min_size=1, max_size=5),
    gb_text,
    st.integers(0, 999),
    st.integers(0, 600),
    st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=80
    ),
)
@settings(max_examples=200)
def test_ticket_round_trip(
    hall: str, number: str, service: str, ahead: int, wait: int, url: str
) -> None:
    ticket = TicketPrint(hall, number, service, ahead, wait, "10:00", url, "")
    events = content(decode(ticket_bytes(ticket), chunk=7))
    assert events[2:5] == [TextLine(hall), TextLine(number), TextLine(service)]
    assert QrCode(url.encode(), 2, 6, "M") in events
    assert events[-1] == Cut(partial=False)


KNOWN_SECOND = set(b" !-23EGJMRSVad{t@(&.")
garbage = st.one_of(
    # text without command prefixes, even invalid GB18030, ended by LF
    st.binary(max_size=60).map(lambda b: bytes(x for x in b if x >= 0x20) + b"\n"),
    # commands nobody knows
    st.integers(0x20, 0xFF).filter(lambda x: x not in KNOWN_SECOND).map(lambda x: bytes([0x1B, x])),
)


@given(st.lists(garbage, max_size=5), st.lists(garbage, max_size=5))
@settings(max_examples=200)
def test_ticket_survives_surrounding_garbage(before: list[bytes], after: list[bytes]) -> None:
    data = b"".join(before) + ticket_bytes(TICKET) + b"".join(after)
    events = content(decode(data, chunk=13))
    start = events.index(Initialize())
    assert events[start : start + len(EXPECTED)] == EXPECTED


# --- docs ------------------------------------------------------------------------------------


def test_docs_examples_are_what_the_code_produces() -> None:
    text = DOCS.read_text(encoding="utf-8")

    def hexline(data: bytes) -> str:
        return " ".join(f"{b:02X}" for b in data)

    for kind in StatusKind:
        assert hexline(status_request(kind)) in text
    small = TicketPrint("政务大厅", "A023", "社保", 3, 15, "09:31", "https://x.cn/r/A023", "谢谢")
    match = re.search(r"```hexdump\n(.*?)```", text, re.S)
    assert match, "docs/protocol/escpos.md must carry the example ticket as a hexdump block"
    dump = " ".join(line.split("|")[0] for line in match.group(1).splitlines())
    assert bytes.fromhex(dump) == ticket_bytes(small)
