from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_protocols.base import DecodeError, EncodeError, ErrorReason
from firmware_protocols.qsystem import (
    LED_COMMANDS,
    MAX_BLINKS,
    Blink,
    BlinkMode,
    BoardText,
    ButtonLeds,
    ButtonPress,
    QSystemDecoder,
    QSystemFrame,
    Role,
    encode,
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

FRAMES = load_frames("qsystem.txt")

EXPECTED: dict[str, tuple[Role, QSystemFrame]] = {
    "board_steady_A001_right": (Role.DEVICE, BoardText(0x31, "A001 >3")),
    "board_blink_forever": (Role.DEVICE, BoardText(0x32, "< B012", Blink(BlinkMode.CONTINUOUS))),
    "board_blink_3_times": (Role.DEVICE, BoardText(0x33, "-------", Blink(BlinkMode.COUNTED, 3))),
    "button_press_box5": (Role.SERVER, ButtonPress(5, 0x41)),
    "button_leds_box5": (Role.DEVICE, ButtonLeds(5, 0x3D)),
}

link_bytes = st.integers(0, 255).filter(lambda b: b not in (0x01, 0x07))
blinks = st.one_of(
    st.just(Blink()),
    st.just(Blink(BlinkMode.CONTINUOUS)),
    st.builds(Blink, st.just(BlinkMode.COUNTED), st.integers(1, MAX_BLINKS)),
)
board_texts = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=7)
device_frames = st.one_of(
    st.builds(BoardText, link_bytes, board_texts, blinks),
    st.builds(ButtonLeds, link_bytes, st.sampled_from(LED_COMMANDS)),
)
server_frames = st.builds(ButtonPress, link_bytes, link_bytes)
roles_and_frames = st.one_of(
    st.tuples(st.just(Role.DEVICE), device_frames),
    st.tuples(st.just(Role.SERVER), server_frames),
)


def decode_bytes(data: bytes, role: Role) -> list[object]:
    return decode(QSystemDecoder(role), [data])


# -- recorded frames --------------------------------------------------------------------


@pytest.mark.parametrize("label", sorted(FRAMES))
def test_fixture_frame_decodes_whole_and_byte_by_byte(label: str) -> None:
    role, expected = EXPECTED[label]
    data = FRAMES[label]
    assert decode_bytes(data, role) == [expected]
    chunks = [data[i : i + 1] for i in range(len(data))]
    assert decode(QSystemDecoder(role), chunks) == [expected]
    assert encode(expected) == data


def test_every_hex_example_in_the_vendor_doc_is_one_valid_frame() -> None:
    blocks = doc_hex_blocks("qsystem.md")
    assert len(blocks) >= 4
    for block in blocks:
        role = Role.SERVER if len(block) == 4 and block[2] not in LED_COMMANDS else Role.DEVICE
        events = decode_bytes(block, role)
        assert len(events) == 1 and not isinstance(events[0], DecodeError), block.hex(" ")
        assert encode(events[0]) == block  # type: ignore[arg-type]


def test_short_text_is_padded_and_blink_bytes_map_both_ways() -> None:
    assert BoardText(0x31, "A1").text == "A1     "
    assert [Blink.from_byte(b).to_byte() for b in range(0x20, 0x80)] == list(range(0x20, 0x80))
    assert Blink.from_byte(0x7F) == Blink(BlinkMode.COUNTED, MAX_BLINKS)


# -- collisions and other errors --------------------------------------------------------


@pytest.mark.parametrize("length", [2, 3, 5, 6, 7, 8, 9, 10])
def test_runs_of_another_length_are_collisions(length: int) -> None:
    run = b"\x01" + b"\x41" * (length - 2) + b"\x07"
    for role in Role:
        assert decode_bytes(run, role) == [
            DecodeError(ErrorReason.COLLISION, run, f"{length}-byte frame from 01 to 07")
        ]


def test_server_side_sees_an_11_byte_frame_as_a_collision() -> None:
    events = decode_bytes(FRAMES["board_steady_A001_right"], Role.SERVER)
    assert [e.reason for e in errors_of(events)] == [ErrorReason.COLLISION]


def test_two_boxes_talking_at_once() -> None:
    overlapped = bytes.fromhex("01 05 01 06 41 42 07 07")
    events = decode_bytes(overlapped + FRAMES["button_press_box5"], Role.SERVER)
    assert frames_of(events) == [ButtonPress(5, 0x41)]
    assert {e.reason for e in errors_of(events)} <= {ErrorReason.COLLISION, ErrorReason.GARBAGE}
    assert errors_of(events)[0].reason is ErrorReason.COLLISION


def test_no_end_byte_within_eleven_is_a_collision() -> None:
    run = b"\x01" + b"\x41" * 12
    events = decode_bytes(run, Role.DEVICE)
    assert errors_of(events)[0] == DecodeError(
        ErrorReason.COLLISION, run, "no end byte within 11 bytes"
    )


@pytest.mark.parametrize(
    "hex_text",
    [
        "01 31 10 41 41 41 41 41 41 41 07",  # blink byte below 0x20
        "01 31 20 41 C8 41 41 41 41 41 07",  # not ASCII
        "01 31 20 41 09 41 41 41 41 41 07",  # control character
        "01 05 40 07",  # LED command outside 30..3D
    ],
)
def test_bad_fields_are_reported(hex_text: str) -> None:
    events = decode_bytes(bytes.fromhex(hex_text), Role.DEVICE)
    assert [e.reason for e in errors_of(events)] == [ErrorReason.BAD_FIELD]
    assert not frames_of(events)


def test_unfinished_frame_is_truncated_at_the_gap() -> None:
    assert decode_bytes(b"\x01\x05\x41", Role.SERVER) == [
        DecodeError(ErrorReason.TRUNCATED, b"\x01\x05\x41", "line went quiet inside a frame")
    ]


@pytest.mark.parametrize(
    "make",
    [
        lambda: BoardText(0x01, "A"),
        lambda: BoardText(0x07, "A"),
        lambda: BoardText(256, "A"),
        lambda: BoardText(0x31, "A0012345"),
        lambda: BoardText(0x31, "号"),
        lambda: BoardText(0x31, "\t"),
        lambda: Blink(BlinkMode.COUNTED, 0),
        lambda: Blink(BlinkMode.COUNTED, MAX_BLINKS + 1),
        lambda: Blink(BlinkMode.STEADY, 2),
        lambda: Blink.from_byte(0x80),
        lambda: ButtonLeds(5, 0x3E),
        lambda: ButtonPress(5, 0x07),
    ],
)
def test_values_that_cannot_go_on_the_wire_raise_encode_error(make: object) -> None:
    with pytest.raises(EncodeError):
        make()  # type: ignore[operator]


# -- properties -------------------------------------------------------------------------


@settings(max_examples=200)
@given(st.binary(max_size=300), st.sampled_from(Role))
def test_any_bytes_give_only_frames_or_errors(data: bytes, role: Role) -> None:
    check_any_bytes(lambda: QSystemDecoder(role), data, (BoardText, ButtonLeds, ButtonPress))


@settings(max_examples=200)
@given(roles_and_frames)
def test_round_trip(role_and_frame: tuple[Role, QSystemFrame]) -> None:
    role, frame = role_and_frame
    assert decode_bytes(encode(frame), role) == [frame]


@settings(max_examples=200)
@given(st.binary(max_size=40), roles_and_frames, st.binary(max_size=40))
def test_frame_survives_any_garbage(
    prefix: bytes, role_and_frame: tuple[Role, QSystemFrame], suffix: bytes
) -> None:
    # A frame's own 01 ends whatever unfinished run came before it, so no garbage can hide it.
    role, frame = role_and_frame
    assert frame in frames_of(decode_bytes(prefix + encode(frame) + suffix, role))


@settings(max_examples=100)
@given(
    st.lists(st.one_of(device_frames.map(encode), st.binary(max_size=8)), max_size=5),
    st.sampled_from(Role),
)
def test_splitting_anywhere_gives_the_same_events(parts: list[bytes], role: Role) -> None:
    check_split_invariance(lambda: QSystemDecoder(role), b"".join(parts))
