from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_protocols.base import DecodeError, EncodeError, ErrorReason
from firmware_protocols.keypad_bus import (
    ANY_DIGITS,
    BLANK,
    KEY_OPERATIONS,
    NO_DIGITS,
    Beep,
    Display,
    Idle,
    Key,
    KeyOperation,
    KeypadBusDecoder,
    KeypadFrame,
    KeyPress,
    KeyRejected,
    KeySequence,
    Operation,
    Poll,
    Rating,
    RatingAck,
    RejectReason,
    acknowledgement,
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

FRAMES = load_frames("keypad_bus.txt")
FRAME_TYPES = (KeyPress, Rating, RatingAck, Poll, Idle, Beep, Display)

EXPECTED: dict[str, KeypadFrame] = {
    "key_call_addr1": KeyPress(1, Key.CALL),
    "key_digit6_addr1": KeyPress(1, Key.DIGIT_6),
    "key_confirm_addr1": KeyPress(1, Key.CONFIRM),
    "key_recall_no_preamble": KeyPress(1, Key.RECALL),
    "key_rating_two_preamble": KeyPress(1, Key.REQUEST_RATING),
    "key_transfer_addr68": KeyPress(0x68, Key.TRANSFER),
    "rating_addr2_value1": Rating(2, 1),
    "rating_addr16_value16": Rating(0x16, 0x16),
    "rating_ack_addr2": RatingAck(2, 1),
    "poll_addr7": Poll(7),
    "idle_addr7": Idle(7),
    "display_ticket_001": Display.ticket(3, "001"),
    "display_waiting_12": Display.waiting_count(3, 12),
    "beep_addr3": Beep(3),
}

addresses = st.integers(0, 255)
frames = st.one_of(
    st.builds(KeyPress, addresses, st.sampled_from(Key)),
    st.builds(Rating, addresses, st.integers(0, 255)),
    st.builds(RatingAck, addresses, st.integers(0, 255)),
    st.builds(Poll, addresses),
    st.builds(Idle, addresses),
    st.builds(Beep, addresses),
    st.builds(Display, addresses, st.tuples(*[st.integers(0, BLANK)] * 6)),
)


def decode_bytes(data: bytes) -> list[object]:
    return decode(KeypadBusDecoder(), [data])


# -- recorded frames --------------------------------------------------------------------


@pytest.mark.parametrize("label", sorted(FRAMES))
def test_fixture_frame_decodes_whole_and_byte_by_byte(label: str) -> None:
    data = FRAMES[label]
    assert decode_bytes(data) == [EXPECTED[label]]
    chunks = [data[i : i + 1] for i in range(len(data))]
    assert decode(KeypadBusDecoder(), chunks) == [EXPECTED[label]]


def test_fixture_frames_back_to_back_in_one_read() -> None:
    assert decode_bytes(b"".join(FRAMES.values())) == [EXPECTED[k] for k in FRAMES]


@pytest.mark.parametrize("label", sorted(k for k in FRAMES if FRAMES[k][:2] == b"\xff\x68"))
def test_encoder_reproduces_fixture(label: str) -> None:
    assert encode(EXPECTED[label]) == FRAMES[label]


def test_every_hex_example_in_the_vendor_doc_is_one_valid_frame() -> None:
    blocks = doc_hex_blocks("keypad-bus.md")
    assert len(blocks) >= 8
    for block in blocks:
        events = decode_bytes(block)
        assert len(events) == 1 and not isinstance(events[0], DecodeError), block.hex(" ")
        assert encode(events[0]) == block  # type: ignore[arg-type]


# -- errors -----------------------------------------------------------------------------


def single_error(data: bytes) -> DecodeError:
    events = decode_bytes(data)
    errors = errors_of(events)
    assert not frames_of(events) and errors, events
    return errors[0]


@pytest.mark.parametrize(
    ("hex_text", "reason"),
    [
        ("FF 68 03 03 68 01 10 0C 1E 16", ErrorReason.BAD_CHECKSUM),
        ("FF 68 03 03 68 01 10 0C 1D 17", ErrorReason.BAD_TERMINATOR),
        ("FF 68 01 01 68 01 10 16", ErrorReason.BAD_LENGTH),
        ("FF 68 40 40 68 01 10 0C", ErrorReason.OVERSIZED),
        ("FF 68 03 03 68 01 20 0C 2D 16", ErrorReason.UNKNOWN_FUNCTION),
        ("FF 68 03 03 68 01 10 0E 1F 16", ErrorReason.BAD_FIELD),  # no key 0E
        ("FF 68 04 04 68 01 10 0C 00 1D 16", ErrorReason.BAD_FIELD),  # key with 2 bytes
        ("FF 68 03 03 68 01 04 00 05 16", ErrorReason.BAD_FIELD),  # poll with data
        ("FF 68 08 08 68 03 02 0B 0A 0A 00 00 01 25 16", ErrorReason.BAD_FIELD),  # cell 0B
        ("FF 68 03 03 68 01", ErrorReason.TRUNCATED),
        ("01 02 03", ErrorReason.GARBAGE),
        ("68 03 04 68", ErrorReason.GARBAGE),  # length bytes differ: not a header
    ],
)
def test_bad_input_is_reported_with_its_reason(hex_text: str, reason: ErrorReason) -> None:
    assert single_error(bytes.fromhex(hex_text)).reason is reason


def test_a_bad_frame_costs_only_itself() -> None:
    bad = bytes.fromhex("FF 68 03 03 68 01 10 0C 1E 16")
    events = decode_bytes(bad + FRAMES["poll_addr7"] + bad)
    assert frames_of(events) == [Poll(7)]
    assert [e.reason for e in errors_of(events)] == [ErrorReason.BAD_CHECKSUM] * 2
    assert b"".join(e.data for e in errors_of(events)) == bad * 2


def test_frame_hidden_behind_a_false_header_is_found() -> None:
    false_start = bytes.fromhex("68 0A 0A 68 05")  # announces 10 bytes of body
    events = decode_bytes(false_start + FRAMES["key_call_addr1"])
    assert frames_of(events) == [KeyPress(1, Key.CALL)]


def test_up_to_four_preamble_bytes_are_silent_more_are_garbage() -> None:
    body = FRAMES["key_recall_no_preamble"]
    assert decode_bytes(b"\xff" * 4 + body) == [KeyPress(1, Key.RECALL)]
    events = decode_bytes(b"\xff" * 6 + body)
    assert events == [DecodeError(ErrorReason.GARBAGE, b"\xff\xff"), KeyPress(1, Key.RECALL)]


def test_errors_wait_for_the_gap_or_the_next_frame() -> None:
    decoder = KeypadBusDecoder()
    decoder.receive_data(b"\x01\x02")
    assert list(decoder.events_received()) == []
    decoder.receive_gap()
    assert list(decoder.events_received()) == [DecodeError(ErrorReason.GARBAGE, b"\x01\x02")]


def test_long_garbage_is_reported_in_bounded_pieces() -> None:
    events = decode_bytes(bytes(range(0x20, 0x60)) * 20)  # no 0x68, no 0xFF
    assert all(len(e.data) <= 256 for e in errors_of(events))
    assert sum(len(e.data) for e in errors_of(events)) == 64 * 20


def test_max_data_length_is_configurable_and_checked() -> None:
    display = FRAMES["display_ticket_001"]
    decoder = KeypadBusDecoder(max_data_length=4)
    assert errors_of(decode(decoder, [display]))[0].reason is ErrorReason.OVERSIZED
    with pytest.raises(ValueError):
        KeypadBusDecoder(max_data_length=254)


# -- encoding ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: KeyPress(256, Key.CALL),
        lambda: Rating(1, 300),
        lambda: RatingAck(-1, 1),
        lambda: Poll(999),
        lambda: Display(1, (0, 0, 0)),
        lambda: Display(1, (0, 0, 0, 0, 0, 11)),
        lambda: Display.ticket(1, "A01"),
        lambda: Display.ticket(1, 1234567),
        lambda: Display.ticket(1, -5),
        lambda: Display.ticket(1, ""),
        lambda: Display.waiting_count(1, 1000),
    ],
)
def test_values_that_cannot_go_on_the_wire_raise_encode_error(make: object) -> None:
    with pytest.raises(EncodeError):
        make()  # type: ignore[operator]


def test_display_helpers_align_as_the_keypad_expects() -> None:
    assert Display.ticket(1, 42).cells == (BLANK, BLANK, BLANK, BLANK, 4, 2)
    assert Display.ticket(1, "001").text == "   001"
    assert Display.waiting_count(1, 7).text == "  7   "
    assert Display.blank(1).text == "      "


def test_acknowledgement_echoes_keys_and_acks_ratings() -> None:
    assert acknowledgement(KeyPress(4, Key.PAUSE)) == KeyPress(4, Key.PAUSE)
    assert acknowledgement(Rating(4, 2)) == RatingAck(4, 2)
    assert acknowledgement(Idle(4)) is None


# -- properties -------------------------------------------------------------------------


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_any_bytes_give_only_frames_or_errors(data: bytes) -> None:
    check_any_bytes(KeypadBusDecoder, data, FRAME_TYPES)


@settings(max_examples=200)
@given(frames)
def test_round_trip(frame: KeypadFrame) -> None:
    assert decode_bytes(encode(frame)) == [frame]


no_start = st.binary(max_size=40).map(lambda b: b.replace(b"\x68", b"").replace(b"\xff", b""))


@settings(max_examples=200)
@given(no_start, frames, st.binary(max_size=40))
def test_frame_survives_garbage_without_start_bytes(
    prefix: bytes, frame: KeypadFrame, suffix: bytes
) -> None:
    assert frames_of(decode_bytes(prefix + encode(frame) + suffix))[0] == frame


@settings(max_examples=200)
@given(st.binary(max_size=40), frames, st.binary(max_size=40))
def test_frame_survives_any_garbage(prefix: bytes, frame: KeypadFrame, suffix: bytes) -> None:
    found = frames_of(decode_bytes(prefix + encode(frame) + suffix))
    # Only a frame the garbage itself completes (checksum and end byte by chance) may
    # legitimately swallow ours; then something else must have been decoded.
    assert frame in found or found


@settings(max_examples=100)
@given(st.lists(st.one_of(frames.map(encode), st.binary(max_size=8)), max_size=5))
def test_splitting_anywhere_gives_the_same_events(parts: list[bytes]) -> None:
    check_split_invariance(KeypadBusDecoder, b"".join(parts))


# -- key sequences ----------------------------------------------------------------------


def press(sequence: KeySequence, *keys: Key, address: int = 1) -> list[object]:
    return [sequence.feed(KeyPress(address, key)) for key in keys]


@pytest.mark.parametrize(("key", "digits"), sorted(KEY_OPERATIONS, key=str))
def test_every_table_row_is_reachable(key: Key, digits: str) -> None:
    typed = "42" if digits == ANY_DIGITS else digits
    keys = [Key(int(d)) for d in typed] + [key]
    result = press(KeySequence(), *keys)[-1]
    argument = typed if digits == ANY_DIGITS else None
    assert result == KeyOperation(1, KEY_OPERATIONS[(key, digits)], argument)


def test_confirm_selects_by_the_digit_typed_before_it() -> None:
    sequence = KeySequence()
    assert press(sequence, Key.DIGIT_6, Key.CONFIRM) == [None, KeyOperation(1, Operation.NO_SHOW)]
    assert press(sequence, Key.DIGIT_0, Key.CONFIRM)[-1] == KeyOperation(1, Operation.SUSPEND)
    assert press(sequence, Key.DIGIT_3, Key.CONFIRM)[-1] == KeyOperation(1, Operation.CALL_BACK)


def test_digits_then_call_calls_that_number() -> None:
    sequence = KeySequence()
    result = press(sequence, Key.DIGIT_0, Key.DIGIT_1, Key.DIGIT_5, Key.CALL)
    assert result == [None, None, None, KeyOperation(1, Operation.CALL_NUMBER, "015")]
    assert sequence.typed(1) == ""


@pytest.mark.parametrize(
    ("keys", "digits"),
    [
        ((Key.CONFIRM,), NO_DIGITS),
        ((Key.DIGIT_9, Key.CONFIRM), "9"),
        ((Key.DIGIT_1, Key.DIGIT_6, Key.CONFIRM), "16"),
        ((Key.DIGIT_2, Key.RECALL), "2"),
        ((Key.DIGIT_2, Key.PAUSE), "2"),
    ],
)
def test_unmapped_sequences_are_rejected_and_cleared(keys: tuple[Key, ...], digits: str) -> None:
    sequence = KeySequence()
    result = press(sequence, *keys)[-1]
    assert result == KeyRejected(1, keys[-1], digits, RejectReason.NOT_MAPPED)
    assert sequence.typed(1) == ""


def test_too_many_digits_is_rejected() -> None:
    sequence = KeySequence(max_digits=3)
    result = press(sequence, Key.DIGIT_1, Key.DIGIT_2, Key.DIGIT_3, Key.DIGIT_4)
    assert result[-1] == KeyRejected(1, Key.DIGIT_4, "1234", RejectReason.TOO_MANY_DIGITS)
    assert sequence.typed(1) == ""


def test_keypads_type_independently_and_reset_clears() -> None:
    sequence = KeySequence()
    press(sequence, Key.DIGIT_6, address=1)
    press(sequence, Key.DIGIT_0, address=2)
    assert press(sequence, Key.CONFIRM, address=2) == [KeyOperation(2, Operation.SUSPEND)]
    assert sequence.typed(1) == "6"
    sequence.reset(1)
    assert press(sequence, Key.CALL, address=1) == [KeyOperation(1, Operation.CALL_NEXT)]
    press(sequence, Key.DIGIT_5, address=3)
    sequence.reset()
    assert sequence.typed(3) == ""


def test_operation_table_can_be_replaced_by_data() -> None:
    custom = {(Key.PAUSE, "9"): Operation.TRANSFER}
    sequence = KeySequence(operations=custom)
    assert press(sequence, Key.DIGIT_9, Key.PAUSE)[-1] == KeyOperation(1, Operation.TRANSFER)


def test_endless_preamble_keeps_the_buffer_bounded() -> None:
    decoder = KeypadBusDecoder()
    for _ in range(200):
        decoder.receive_data(b"\xff" * 100)
        assert decoder.pending_bytes <= 4
        assert all(len(e.data) <= 256 for e in errors_of(list(decoder.events_received())))
    decoder.receive_data(FRAMES["key_recall_no_preamble"])
    assert frames_of(list(decoder.events_received())) == [KeyPress(1, Key.RECALL)]
