from __future__ import annotations

import binascii

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_protocols.base import DecodeError, EncodeError, ErrorReason
from firmware_protocols.checksums import CRC16_CCITT, SUM8, XOR8, Checksum, crc16_ccitt, sum8, xor8
from firmware_protocols.led_strip import (
    CRC16_VENDOR,
    STANDARD,
    XOR8_VENDOR,
    AckStatus,
    LedFrame,
    LedStripDecoder,
    LedStripProtocol,
    LedTarget,
    ShowText,
    StripAck,
    Variant,
    encode,
    encode_text,
)
from tests.firmware_protocols.scanner_checks import (
    check_any_bytes,
    check_split_invariance,
    decode,
    doc_hex_blocks,
    errors_of,
    frames_of,
    load_frames,
)

FRAMES = load_frames("led_strip.txt")
VENDORS = (STANDARD, XOR8_VENDOR, CRC16_VENDOR)
LITTLE_CRC = LedStripProtocol("crc16_le", checksum=Checksum("crc16_le", 2, crc16_ccitt, "little"))

EXPECTED: dict[str, tuple[LedStripProtocol, LedFrame]] = {
    "window3_call_sum8": (STANDARD, ShowText(3, "请A001号到3号窗口")),
    "window1_welcome_sum8": (STANDARD, ShowText(1, "欢迎光临 热情服务")),
    "hall_paused_sum8": (STANDARD, ShowText(0x10, "暂停服务", Variant.HALL_SCREEN)),
    "window3_call_xor8": (XOR8_VENDOR, ShowText(3, "请A001号到3号窗口")),
    "window3_call_crc16": (CRC16_VENDOR, ShowText(3, "请A001号到3号窗口")),
    "ack_addr3_sum8": (STANDARD, StripAck(3, AckStatus.SHOWN)),
}


def _gb2312_alphabet() -> list[str]:
    chars = [chr(c) for c in range(0x20, 0x7F)]
    for high in range(0xB0, 0xB8):  # a few rows of common hanzi
        for low in range(0xA1, 0xFF):
            chars.append(bytes([high, low]).decode("gb2312"))
    chars += list("，。：（）【】号窗口请到")
    return chars


texts = st.text(alphabet=st.sampled_from(_gb2312_alphabet()), max_size=30)
frames = st.one_of(
    st.builds(ShowText, st.integers(0, 255), texts, st.sampled_from(Variant)),
    st.builds(StripAck, st.integers(0, 255), st.sampled_from(AckStatus)),
)
vendors = st.sampled_from((*VENDORS, LITTLE_CRC))


def decode_bytes(data: bytes, protocol: LedStripProtocol = STANDARD) -> list[object]:
    return decode(LedStripDecoder(protocol), [data])


# -- checksums --------------------------------------------------------------------------


def test_checksum_check_values() -> None:
    assert crc16_ccitt(b"123456789") == 0x29B1
    assert crc16_ccitt(b"123456789") == binascii.crc_hqx(b"123456789", 0xFFFF)
    assert sum8(b"\xff\x02") == 0x01
    assert xor8(b"\x0f\xf0\x01") == 0xFE
    assert CRC16_CCITT.digest(b"123456789") == b"\x29\xb1"
    assert SUM8.digest(b"\x01\x02") == b"\x03" and XOR8.digest(b"\x03\x01") == b"\x02"


@settings(max_examples=100)
@given(st.binary(max_size=64))
def test_crc16_matches_an_independent_implementation(data: bytes) -> None:
    assert crc16_ccitt(data) == binascii.crc_hqx(data, 0xFFFF)


# -- recorded frames --------------------------------------------------------------------


@pytest.mark.parametrize("label", sorted(FRAMES))
def test_fixture_frame_decodes_whole_and_byte_by_byte(label: str) -> None:
    protocol, expected = EXPECTED[label]
    data = FRAMES[label]
    assert decode_bytes(data, protocol) == [expected]
    chunks = [data[i : i + 1] for i in range(len(data))]
    assert decode(LedStripDecoder(protocol), chunks) == [expected]
    assert encode(expected, protocol) == data


def test_crc16_sits_where_cs_was_high_byte_first() -> None:
    data = encode_text(3, "暂停服务", protocol=CRC16_VENDOR)
    body = data[7:]
    assert data[5:7] == binascii.crc_hqx(body, 0xFFFF).to_bytes(2, "big")
    assert body[:2] == b"\x01\x00"
    little = encode_text(3, "暂停服务", protocol=LITTLE_CRC)
    assert little[5:7] == data[5:7][::-1]


def test_a_frame_for_one_vendor_fails_the_checksum_of_another() -> None:
    events = decode_bytes(FRAMES["window3_call_sum8"], XOR8_VENDOR)
    assert errors_of(events)[0].reason is ErrorReason.BAD_CHECKSUM
    assert not frames_of(events)


def test_every_hex_example_in_the_vendor_doc_is_one_valid_frame() -> None:
    blocks = doc_hex_blocks("led-strip.md")
    assert len(blocks) >= 4
    for block in blocks:
        decoded = [
            (vendor, events[0])
            for vendor in VENDORS
            if len(events := decode_bytes(block, vendor)) == 1
            and not isinstance(events[0], DecodeError)
        ]
        assert len(decoded) == 1, block.hex(" ")
        vendor, frame = decoded[0]
        assert encode(frame, vendor) == block  # type: ignore[arg-type]


def test_led_target_encodes_for_its_variant() -> None:
    target = LedTarget(STANDARD, Variant.HALL_SCREEN)
    assert target.encode_text(0x10, "暂停服务") == FRAMES["hall_paused_sum8"]


# -- errors -----------------------------------------------------------------------------


def with_sum(head: str, body: str) -> bytes:
    """A frame with a correct sum8 over ``body``, to test errors found after the checksum."""
    body_bytes = bytes.fromhex(body)
    return bytes.fromhex(head) + bytes([sum8(body_bytes)]) + body_bytes


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (bytes.fromhex("AA 03 BB 51 54 21 01 00 99 00 63 41 FF"), ErrorReason.BAD_CHECKSUM),
        (with_sum("AA 03 BB 51 54", "02 00 99 00 63 41 FF"), ErrorReason.UNKNOWN_FUNCTION),
        (with_sum("AA 03 BB 51 54", "01 00 98 00 63 41 FF"), ErrorReason.BAD_FIELD),
        (with_sum("AA 03 BB 51 54", "01 00 99 00 63 B0 41 FF"), ErrorReason.BAD_FIELD),  # half char
        (with_sum("AA 03 BB 51 54", "06 07 FF"), ErrorReason.BAD_FIELD),  # unknown ack status
        (with_sum("AA 03 BB 51 54", "06 00 00"), ErrorReason.BAD_TERMINATOR),
        (bytes.fromhex("AA 03 BB 51 54 20 01 00 99 00 63 C7 EB"), ErrorReason.TRUNCATED),
        (bytes.fromhex("AA 03 BB 52"), ErrorReason.GARBAGE),
        (bytes.fromhex("AA 03 BB 51 54 20 01 00 99 00 63") + b"A" * 241, ErrorReason.OVERSIZED),
    ],
)
def test_bad_input_is_reported_with_its_reason(data: bytes, reason: ErrorReason) -> None:
    events = decode_bytes(data)
    assert not frames_of(events)
    assert errors_of(events)[0].reason is reason


def test_frame_after_a_corrupted_one_is_found() -> None:
    bad = bytearray(FRAMES["window3_call_sum8"])
    bad[14] ^= 0x01
    events = decode_bytes(bytes(bad) + FRAMES["hall_paused_sum8"])
    assert frames_of(events) == [ShowText(0x10, "暂停服务", Variant.HALL_SCREEN)]
    assert errors_of(events)[0].reason is ErrorReason.BAD_CHECKSUM


@pytest.mark.parametrize(
    ("text", "protocol"),
    [
        ("😀", STANDARD),
        ("請", STANDARD),  # traditional form: not in GB2312
        ("号" * 121, STANDARD),  # 242 bytes > 240
        ("ABCDE", LedStripProtocol("short", max_text_bytes=4)),
    ],
)
def test_text_that_cannot_be_shown_raises_encode_error(
    text: str, protocol: LedStripProtocol
) -> None:
    with pytest.raises(EncodeError):
        encode_text(1, text, protocol=protocol)


def test_gb18030_vendor_takes_traditional_characters() -> None:
    protocol = LedStripProtocol("gb18030", encoding="gb18030")
    assert decode_bytes(encode_text(1, "請", protocol=protocol), protocol) == [ShowText(1, "請")]


def test_bad_address_raises_encode_error() -> None:
    with pytest.raises(EncodeError):
        encode_text(256, "暂停服务")
    with pytest.raises(EncodeError):
        encode(StripAck(-1, AckStatus.SHOWN))


@pytest.mark.parametrize(
    "fields",
    [
        {"hall_mode": b"\x01\x00"},
        {"hall_mode": b"\x08"},
        {"ack_mode": 0x01},
        {"max_text_bytes": -1},
    ],
)
def test_inconsistent_protocol_definitions_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        LedStripProtocol("bad", **fields)  # type: ignore[arg-type]


# -- properties -------------------------------------------------------------------------


@settings(max_examples=200)
@given(st.binary(max_size=300), vendors)
def test_any_bytes_give_only_frames_or_errors(data: bytes, protocol: LedStripProtocol) -> None:
    check_any_bytes(lambda: LedStripDecoder(protocol), data, (ShowText, StripAck))


@settings(max_examples=200)
@given(frames, vendors)
def test_round_trip(frame: LedFrame, protocol: LedStripProtocol) -> None:
    assert decode_bytes(encode(frame, protocol), protocol) == [frame]


no_start = st.binary(max_size=40).map(lambda b: b.replace(b"\xaa", b""))


@settings(max_examples=200)
@given(no_start, frames, st.binary(max_size=40), vendors)
def test_frame_survives_garbage_without_start_bytes(
    prefix: bytes, frame: LedFrame, suffix: bytes, protocol: LedStripProtocol
) -> None:
    events = decode_bytes(prefix + encode(frame, protocol) + suffix, protocol)
    assert frames_of(events)[0] == frame


@settings(max_examples=200)
@given(st.binary(max_size=40), frames, st.binary(max_size=40), vendors)
def test_frame_survives_any_garbage(
    prefix: bytes, frame: LedFrame, suffix: bytes, protocol: LedStripProtocol
) -> None:
    found = frames_of(decode_bytes(prefix + encode(frame, protocol) + suffix, protocol))
    # Only garbage that completes a frame by chance (checksum and end byte) may swallow ours.
    assert frame in found or found


@settings(max_examples=100)
@given(st.lists(st.one_of(frames.map(encode), st.binary(max_size=8)), max_size=4))
def test_splitting_anywhere_gives_the_same_events(parts: list[bytes]) -> None:
    check_split_invariance(LedStripDecoder, b"".join(parts))


def test_endless_text_without_end_byte_keeps_the_buffer_bounded() -> None:
    decoder = LedStripDecoder()
    decoder.receive_data(bytes.fromhex("AA 03 BB 51 54 20 01 00 99 00 63"))
    for _ in range(200):
        decoder.receive_data(b"\xb0\xa1" * 50)  # 啊啊啊… for ever
        assert decoder.pending_bytes < STANDARD.max_frame
        assert all(len(e.data) <= 256 for e in errors_of(list(decoder.events_received())))
    decoder.receive_data(FRAMES["hall_paused_sum8"])
    assert frames_of(list(decoder.events_received())) == [
        ShowText(0x10, "暂停服务", Variant.HALL_SCREEN)
    ]
