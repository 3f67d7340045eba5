"""hallctl native serial protocol: frames, the event/ack exchange, every bad path, properties."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_protocols.base import DecodeError, EncodeError, ErrorReason
from firmware_protocols.native import (
    MAX_FRAME,
    MAX_PAYLOAD,
    Ack,
    ConfigItem,
    ConfigKey,
    ConfigPush,
    DeviceFlags,
    DisplayText,
    Frame,
    GetVersion,
    Heartbeat,
    InviteRating,
    Key,
    KeyEvent,
    Message,
    Nack,
    NackReason,
    NativeDecoder,
    Poll,
    Rating,
    RatingEvent,
    VersionReport,
    crc16_ccitt_false,
    encode_frame,
    next_event_number,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "protocol" / "serial.md"

# The exchanges shown in docs/protocol/serial.md, in order.
EXAMPLES = [
    Frame(3, 0x10, Poll()),
    Frame(3, 0x10, KeyEvent(Key.CALL), evt=1),
    Frame(3, 0x11, Poll(), evt=1),
    Frame(3, 0x11, Heartbeat(3600)),
    Frame(3, 0x12, Poll()),
    Frame(3, 0x12, KeyEvent(Key.CONFIRM, 6), evt=2),
    Frame(3, 0x13, GetVersion(), evt=2),
    Frame(3, 0x13, VersionReport(1, 4, 2, "HK-KP200")),
    Frame(
        3,
        0x14,
        ConfigPush((ConfigItem(ConfigKey.BRIGHTNESS, 8), ConfigItem(ConfigKey.POLL_TIMEOUT_S, 10))),
    ),
    Frame(3, 0x14, Ack()),
    Frame(5, 0x20, DisplayText(0, "请A001号到3号窗口", blink=True)),
    Frame(5, 0x20, Nack(NackReason.TEXT_UNSUPPORTED)),
    Frame(7, 0x30, InviteRating("A001", 30)),
    Frame(7, 0x30, Ack()),
    Frame(7, 0x31, Poll()),
    Frame(7, 0x31, RatingEvent(Rating.VERY_SATISFIED, "A001"), evt=9),
    Frame(7, 0x32, Poll(), evt=9),
    Frame(7, 0x32, Heartbeat(86400, DeviceFlags.UNCONFIGURED)),
    Frame(0, 0x40, DisplayText(1, "暂停服务")),
]


def decode(
    data: bytes, chunk: int | None = None, *, gap: bool = False
) -> list[Frame | DecodeError]:
    decoder = NativeDecoder()
    out: list[Frame | DecodeError] = []
    pieces = [data] if chunk is None else [data[i : i + chunk] for i in range(0, len(data), chunk)]
    for piece in pieces:
        decoder.receive_data(piece)
        out += decoder.events_received()
    if gap:
        decoder.receive_gap()
        out += decoder.events_received()
        assert decoder.buffered == 0
    return out


def reframe(body: bytes) -> bytes:
    """A frame with a correct CRC around an arbitrary LEN..PAYLOAD body."""
    return b"\xa5\x5a" + body + crc16_ccitt_false(body).to_bytes(2, "big")


def only_error(data: bytes) -> DecodeError:
    (event,) = decode(data)
    assert isinstance(event, DecodeError), event
    return event


def hexline(data: bytes) -> str:
    return " ".join(f"{b:02X}" for b in data)


# --- known frames ----------------------------------------------------------------------------


def test_crc_check_value() -> None:
    assert crc16_ccitt_false(b"123456789") == 0x29B1


def test_known_frames() -> None:
    assert encode_frame(Frame(3, 0x10, Poll())) == bytes.fromhex("A5 5A 00 03 01 10 00 BE 93")
    assert encode_frame(Frame(3, 0x10, KeyEvent(Key.CALL), evt=1)) == bytes.fromhex(
        "A5 5A 03 03 84 10 01 0C FF FF E9 C8"
    )


def test_examples_whole_and_byte_by_byte() -> None:
    stream = b"".join(encode_frame(f) for f in EXAMPLES)
    assert decode(stream) == EXAMPLES
    assert decode(stream, chunk=1) == EXAMPLES


def test_docs_carry_every_example() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for frame in EXAMPLES:
        assert hexline(encode_frame(frame)) in text, frame


def test_event_numbers_wrap_past_zero() -> None:
    assert next_event_number(0) == 1
    assert next_event_number(1) == 2
    assert next_event_number(255) == 1


def test_display_text_four_byte_gb18030() -> None:
    frame = Frame(5, 1, DisplayText(2, "䶮𠀀·窗口", scroll=True))
    assert decode(encode_frame(frame)) == [frame]


# --- encoding errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        Frame(248, 0, Poll()),
        Frame(-1, 0, Poll()),
        Frame(1, 256, Poll()),
        Frame(1, 0, Poll(), evt=256),
        Frame(0, 0, Ack()),  # device frames carry their own address
        Frame(1, 0, KeyEvent(Key.CALL)),  # events need a number
        Frame(1, 0, Heartbeat(1), evt=3),  # only events carry one
        Frame(1, 0, KeyEvent(Key.CONFIRM, 0xFFFF), evt=1),
        Frame(1, 0, DisplayText(0, "字" * 101)),
        Frame(1, 0, DisplayText(0, "a\x1bb")),
        Frame(1, 0, DisplayText(0, "\ud800")),
        Frame(1, 0, DisplayText(256, "")),
        Frame(1, 0, ConfigPush(())),
        Frame(1, 0, ConfigPush((ConfigItem(1, 0x10000),))),
        Frame(1, 0, ConfigPush((ConfigItem(1, 1),) * 17)),
        Frame(1, 0, InviteRating("A001", 0)),
        Frame(1, 0, InviteRating("号", 30)),
        Frame(1, 0, InviteRating("A" * 17, 30)),
        Frame(1, 0, VersionReport(256, 0, 0, "x")),
        Frame(1, 0, VersionReport(1, 0, 0, "型号")),
        Frame(1, 0, Heartbeat(-1)),
        Frame(1, 0, RatingEvent(Rating.SATISFIED, "\x07"), evt=1),
    ],
)
def test_encode_rejects(frame: Frame) -> None:
    with pytest.raises(EncodeError):
        encode_frame(frame)


# --- every bad-input path --------------------------------------------------------------------


def test_bad_crc_then_recovery() -> None:
    good = encode_frame(EXAMPLES[0])
    bad = good[:-1] + bytes([good[-1] ^ 0xFF])
    events = decode(bad + good)
    assert events == [DecodeError(ErrorReason.BAD_CHECKSUM, bad), EXAMPLES[0]]


def test_frame_hidden_inside_a_corrupt_candidate_is_found() -> None:
    # A frame whose LEN byte was hit by noise swallows the next frame; the hunt finds it again.
    inner = encode_frame(EXAMPLES[3])
    corrupt = b"\xa5\x5a\x10\x03\x01\x10\x00" + inner + b"\x00" * 20
    events = decode(corrupt)
    assert events[0] == DecodeError(ErrorReason.BAD_CHECKSUM, corrupt[: 7 + 16 + 2])
    assert EXAMPLES[3] in events
    # the false header, already in the BAD_CHECKSUM error, is not reported again as garbage
    garbage = [e for e in events if isinstance(e, DecodeError) and e.reason is ErrorReason.GARBAGE]
    assert b"".join(e.data for e in garbage) == b"\x00" * 20


def test_truncated_frame_waits_then_gives_way() -> None:
    decoder = NativeDecoder()
    decoder.receive_data(encode_frame(EXAMPLES[1])[:-3])
    assert list(decoder.events_received()) == []
    assert decoder.buffered == len(encode_frame(EXAMPLES[1])) - 3
    decoder.receive_gap()
    (event,) = decoder.events_received()
    assert isinstance(event, DecodeError) and event.reason is ErrorReason.TRUNCATED
    assert decoder.buffered == 0


def test_gap_releases_a_frame_held_behind_a_false_start() -> None:
    good = encode_frame(EXAMPLES[3])
    noise = b"\xa5\x5a\xf0\x01\x02\x03\x04"  # claims 240 payload bytes
    events = decode(noise + good, gap=True)
    assert events[0] == DecodeError(ErrorReason.TRUNCATED, noise + good)
    assert events[1:] == [EXAMPLES[3]]


def test_oversized_length() -> None:
    body = bytes([MAX_PAYLOAD + 1, 3, 0x01, 0, 0])
    events = decode(b"\xa5\x5a" + body + encode_frame(EXAMPLES[0]))
    assert isinstance(events[0], DecodeError) and events[0].reason is ErrorReason.OVERSIZED
    assert events[-1] == EXAMPLES[0]


def test_unknown_type() -> None:
    assert only_error(reframe(bytes([0, 3, 0x7E, 0, 0]))).reason is ErrorReason.UNKNOWN_FUNCTION


@pytest.mark.parametrize(
    "body",
    [
        bytes([1, 3, 0x01, 0, 0, 9]),  # poll with payload
        bytes([1, 3, 0x80, 0, 0, 9]),  # ack with payload
        bytes([2, 3, 0x81, 0, 0, 9, 9]),  # nack with 2 bytes
        bytes([1, 3, 0x81, 0, 0, 99]),  # unknown nack reason
        bytes([3, 3, 0x84, 0, 0, 0x0C, 0xFF, 0xFF]),  # key event without event number
        bytes([3, 3, 0x84, 0, 1, 0x0A, 0xFF, 0xFF]),  # unknown key 0A
        bytes([2, 3, 0x84, 0, 1, 0x0C, 0xFF]),  # short key event
        bytes([1, 3, 0x85, 0, 1, 6]),  # rating 6
        bytes([2, 3, 0x85, 0, 1, 1, 0xB0]),  # non-ASCII ticket
        bytes([4, 3, 0x82, 0, 0, 0, 0, 0, 0]),  # short heartbeat
        bytes([5, 3, 0x82, 0, 4, 0, 0, 0, 0, 0]),  # heartbeat with an event number
        bytes([0, 0, 0x80, 0, 0]),  # device frame from address 0
        bytes([0, 250, 0x01, 0, 0]),  # address above 247
        bytes([2, 3, 0x03, 0, 0, 1, 2]),  # config not a multiple of 3
        bytes([1, 3, 0x04, 0, 0, 0]),  # display text without flags
        bytes([2, 3, 0x04, 0, 0, 0, 0x80]),  # unknown display flag
        bytes([4, 3, 0x04, 0, 0, 0, 0, 0x81, 0x20]),  # text not GB18030
        bytes([1, 3, 0x05, 0, 0, 0]),  # invite with zero window
        bytes([2, 3, 0x83, 0, 0, 1, 2]),  # version too short
    ],
)
def test_bad_payloads(body: bytes) -> None:
    frame = reframe(body)
    error = only_error(frame)
    assert error.reason is ErrorReason.BAD_FIELD
    assert error.data == frame


def test_garbage_is_reported_once_in_order() -> None:
    good = encode_frame(EXAMPLES[0])
    events = decode(b"\x01\x02\xa5\x03" + good + b"\xa5")
    assert events == [DecodeError(ErrorReason.GARBAGE, b"\x01\x02\xa5\x03"), EXAMPLES[0]]


def test_unknown_config_keys_decode_for_the_device_to_nack() -> None:
    frame = Frame(3, 1, ConfigPush((ConfigItem(0xEE, 1),)))
    assert decode(encode_frame(frame)) == [frame]


# --- properties ------------------------------------------------------------------------------

printable_ascii = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=16)
gb_text = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\x7f"), max_size=40
).filter(lambda t: len(t.encode("gb18030")) <= 200)
master_messages: st.SearchStrategy[Message] = st.one_of(
    st.just(Poll()),
    st.just(GetVersion()),
    st.builds(
        ConfigPush,
        st.lists(
            st.builds(ConfigItem, st.integers(0, 255), st.integers(0, 0xFFFF)),
            min_size=1,
            max_size=16,
        ).map(tuple),
    ),
    st.builds(DisplayText, st.integers(0, 255), gb_text, st.booleans(), st.booleans()),
    st.builds(InviteRating, printable_ascii, st.integers(1, 255)),
)
plain_device: st.SearchStrategy[Message] = st.one_of(
    st.just(Ack()),
    st.builds(Nack, st.sampled_from(list(NackReason))),
    st.builds(Heartbeat, st.integers(0, 2**32 - 1), st.builds(DeviceFlags, st.integers(0, 15))),
    st.builds(
        VersionReport,
        st.integers(0, 255),
        st.integers(0, 255),
        st.integers(0, 255),
        st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=32),
    ),
)
events_ = st.one_of(
    st.builds(KeyEvent, st.sampled_from(list(Key)), st.none() | st.integers(0, 0xFFFE)),
    st.builds(RatingEvent, st.sampled_from(list(Rating)), printable_ascii),
)
frames = st.one_of(
    st.builds(
        Frame, st.integers(0, 247), st.integers(0, 255), master_messages, st.integers(0, 255)
    ),
    st.builds(Frame, st.integers(1, 247), st.integers(0, 255), plain_device),
    st.builds(Frame, st.integers(1, 247), st.integers(0, 255), events_, st.integers(1, 255)),
)


@given(frames)
@settings(max_examples=200)
def test_round_trip(frame: Frame) -> None:
    assert decode(encode_frame(frame)) == [frame]


@given(st.lists(st.binary(max_size=120), max_size=20))
@settings(max_examples=200)
def test_any_input_never_raises_and_stays_bounded(chunks: list[bytes]) -> None:
    decoder = NativeDecoder()
    for data in chunks:
        decoder.receive_data(data)
        for event in decoder.events_received():
            assert isinstance(event, Frame | DecodeError)
        assert decoder.buffered <= MAX_FRAME


@given(frames, st.binary(max_size=80), st.binary(max_size=80), st.integers(1, 17))
@settings(max_examples=200)
def test_frame_survives_surrounding_garbage(
    frame: Frame, before: bytes, after: bytes, chunk: int
) -> None:
    assert frame in decode(before + encode_frame(frame) + after, chunk=chunk, gap=True)


@given(st.binary(max_size=300), st.integers(1, 50))
@settings(max_examples=200)
def test_gap_always_empties_the_buffer(data: bytes, chunk: int) -> None:
    events = decode(data, chunk=chunk, gap=True)
    assert all(isinstance(e, Frame | DecodeError) for e in events)
