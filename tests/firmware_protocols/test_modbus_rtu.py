"""Modbus RTU codec: known frames, every bad-input path, pymodbus as a real peer, properties."""

from __future__ import annotations

import asyncio
import os
import re
import tomllib
import tty
from pathlib import Path
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU
from pymodbus.pdu import ExceptionResponse as PmException
from pymodbus.pdu import register_message as pm

from firmware_protocols.base import DecodeError, EncodeError, ErrorReason
from firmware_protocols.modbus_rtu import (
    MAX_ADU,
    Direction,
    ExceptionCode,
    ExceptionResponse,
    FunctionCode,
    Message,
    ReadRegistersRequest,
    ReadRegistersResponse,
    RegisterMap,
    RegisterMapError,
    RtuDecoder,
    ValueType,
    WriteMultipleRegistersRequest,
    WriteMultipleRegistersResponse,
    WriteSingleRegisterRequest,
    WriteSingleRegisterResponse,
    crc16_modbus,
    encode,
    read_holding_registers,
    read_input_registers,
    t35_seconds,
)

EVENT_TYPES = (DecodeError, *get_args(Message))
DOCS = Path(__file__).resolve().parents[2] / "docs" / "protocol" / "modbus.md"

# Frames from the Modbus serial-line literature (slave 0x11), CRCs as published.
READ_REQ = bytes.fromhex("11 03 00 6B 00 03 76 87")
READ_RESP = bytes.fromhex("11 03 06 AE 41 56 52 43 40 49 AD")
WRITE_SINGLE = bytes.fromhex("11 06 00 01 00 03 9A 9B")
WRITE_MULTI_REQ = bytes.fromhex("11 10 00 01 00 02 04 00 0A 01 02 C6 F0")
WRITE_MULTI_RESP = bytes.fromhex("11 10 00 01 00 02 12 98")


def drain(decoder: RtuDecoder) -> list[Message | DecodeError]:
    return list(decoder.events_received())


def with_crc(body: bytes) -> bytes:
    return body + crc16_modbus(body).to_bytes(2, "little")


def gap_decode(frame: bytes, direction: Direction = Direction.RESPONSE) -> Message | DecodeError:
    decoder = RtuDecoder(direction)
    decoder.receive_data(frame)
    decoder.receive_gap()
    (event,) = drain(decoder)
    return event


# --- CRC and timing --------------------------------------------------------------------------


def test_crc_check_value() -> None:
    assert crc16_modbus(b"123456789") == 0x4B37


@given(st.binary(max_size=64))
@settings(max_examples=200)
def test_crc_matches_pymodbus(data: bytes) -> None:
    # pymodbus returns the CRC byte-swapped so that big-endian packing gives wire order.
    assert crc16_modbus(data).to_bytes(2, "little") == FramerRTU.compute_CRC(data).to_bytes(
        2, "big"
    )


def test_t35_below_and_above_19200() -> None:
    assert t35_seconds(9600) == pytest.approx(3.5 * 11 / 9600)  # 4.01 ms
    assert t35_seconds(9600, bits_per_char=10) == pytest.approx(3.5 * 10 / 9600)
    assert t35_seconds(19200) == pytest.approx(3.5 * 11 / 19200)
    assert t35_seconds(19201) == 0.00175
    assert t35_seconds(115200) == 0.00175


@pytest.mark.parametrize("baud", [0, -9600])
def test_t35_rejects_nonsense(baud: int) -> None:
    with pytest.raises(ValueError):
        t35_seconds(baud)


# --- encoding --------------------------------------------------------------------------------


def test_encode_known_requests() -> None:
    assert encode(read_holding_registers(0x11, 0x6B, 3)) == READ_REQ
    assert encode(WriteSingleRegisterRequest(0x11, 1, 3)) == WRITE_SINGLE
    assert encode(WriteMultipleRegistersRequest(0x11, 1, (0x000A, 0x0102))) == WRITE_MULTI_REQ
    assert encode(read_input_registers(1, 0, 1))[:2] == b"\x01\x04"


def test_encode_known_responses() -> None:
    values = (0xAE41, 0x5652, 0x4340)
    assert encode(ReadRegistersResponse(0x11, FunctionCode.READ_HOLDING_REGISTERS, values)) == (
        READ_RESP
    )
    assert encode(WriteMultipleRegistersResponse(0x11, 1, 2)) == WRITE_MULTI_RESP


@pytest.mark.parametrize(
    "message",
    [
        read_holding_registers(1, 0, 0),
        read_holding_registers(1, 0, 126),
        read_holding_registers(0, 0, 1),  # reads cannot be broadcast
        read_holding_registers(248, 0, 1),
        read_holding_registers(1, 0x10000, 1),
        ReadRegistersRequest(1, FunctionCode.WRITE_SINGLE_REGISTER, 0, 1),
        WriteSingleRegisterRequest(1, 0, 0x10000),
        WriteSingleRegisterRequest(1, -1, 0),
        WriteMultipleRegistersRequest(1, 0, ()),
        WriteMultipleRegistersRequest(1, 0, (0,) * 124),
        WriteMultipleRegistersRequest(1, 0, (1, 0x10000)),
        ReadRegistersResponse(1, FunctionCode.READ_INPUT_REGISTERS, ()),
        ExceptionResponse(1, 0x83, 2),
    ],
)
def test_encode_rejects_out_of_range(message: Message) -> None:
    with pytest.raises(EncodeError):
        encode(message)


def test_broadcast_write_is_allowed() -> None:
    assert encode(WriteSingleRegisterRequest(0, 5, 1))[0] == 0


# --- decoding known frames -------------------------------------------------------------------


def test_decode_response_whole_with_gap() -> None:
    assert gap_decode(READ_RESP) == ReadRegistersResponse(
        0x11, FunctionCode.READ_HOLDING_REGISTERS, (0xAE41, 0x5652, 0x4340)
    )
    assert gap_decode(WRITE_SINGLE) == WriteSingleRegisterResponse(0x11, 1, 3)
    assert gap_decode(WRITE_MULTI_RESP) == WriteMultipleRegistersResponse(0x11, 1, 2)


def test_decode_byte_by_byte_waits_for_the_gap() -> None:
    decoder = RtuDecoder()
    for byte in READ_RESP:
        decoder.receive_data(bytes([byte]))
        assert drain(decoder) == []
    decoder.receive_gap()
    assert drain(decoder) == [
        ReadRegistersResponse(0x11, FunctionCode.READ_HOLDING_REGISTERS, (0xAE41, 0x5652, 0x4340))
    ]


def test_decode_requests_for_a_slave() -> None:
    assert gap_decode(READ_REQ, Direction.REQUEST) == read_holding_registers(0x11, 0x6B, 3)
    assert gap_decode(WRITE_SINGLE, Direction.REQUEST) == WriteSingleRegisterRequest(0x11, 1, 3)
    assert gap_decode(WRITE_MULTI_REQ, Direction.REQUEST) == WriteMultipleRegistersRequest(
        0x11, 1, (0x000A, 0x0102)
    )


def test_exception_response() -> None:
    frame = with_crc(bytes([0x11, 0x83, 0x02]))
    event = gap_decode(frame)
    assert event == ExceptionResponse(0x11, 3, 2)
    assert isinstance(event, ExceptionResponse)
    assert event.known_code is ExceptionCode.ILLEGAL_DATA_ADDRESS
    assert ExceptionResponse(1, 3, 0x77).known_code is None
    assert encode(ExceptionResponse(0x11, 3, 2)) == frame


def test_consecutive_gaps_and_empty_gap_yield_nothing_extra() -> None:
    decoder = RtuDecoder()
    decoder.receive_gap()
    decoder.receive_data(WRITE_SINGLE)
    decoder.receive_gap()
    decoder.receive_gap()
    decoder.receive_data(WRITE_MULTI_RESP)
    decoder.receive_gap()
    assert drain(decoder) == [
        WriteSingleRegisterResponse(0x11, 1, 3),
        WriteMultipleRegistersResponse(0x11, 1, 2),
    ]


# --- every bad-input path --------------------------------------------------------------------


def expect_error(
    frame: bytes, reason: ErrorReason, direction: Direction = Direction.RESPONSE
) -> None:
    event = gap_decode(frame, direction)
    assert isinstance(event, DecodeError), event
    assert event.reason is reason
    assert event.data == frame


def test_bad_crc() -> None:
    expect_error(READ_RESP[:-1] + bytes([READ_RESP[-1] ^ 1]), ErrorReason.BAD_CHECKSUM)


def test_truncated() -> None:
    expect_error(READ_RESP[:3], ErrorReason.TRUNCATED)


def test_truncated_with_valid_crc_is_bad_length() -> None:
    # A frame that ends early and happens to carry a good CRC: byte count says 6, 2 present.
    expect_error(with_crc(bytes([0x11, 0x03, 0x06, 0xAE, 0x41])), ErrorReason.BAD_LENGTH)


def test_unknown_function() -> None:
    expect_error(with_crc(bytes([0x11, 0x2B, 0x0E, 0x01])), ErrorReason.UNKNOWN_FUNCTION)
    expect_error(
        with_crc(bytes([0x11, 0x83, 0x02])), ErrorReason.UNKNOWN_FUNCTION, Direction.REQUEST
    )


def test_odd_byte_count_is_bad_field() -> None:
    expect_error(with_crc(bytes([0x11, 0x03, 0x01, 0xAE])), ErrorReason.BAD_FIELD)


def test_request_quantity_mismatch_is_bad_field() -> None:
    frame = with_crc(bytes.fromhex("11 10 00 01 00 03 04 00 0A 01 02"))
    expect_error(frame, ErrorReason.BAD_FIELD, Direction.REQUEST)
    expect_error(
        with_crc(bytes.fromhex("11 03 00 00 00 00")), ErrorReason.BAD_FIELD, Direction.REQUEST
    )


def test_oversize_burst_reported_once_then_recovers() -> None:
    decoder = RtuDecoder()
    decoder.receive_data(b"\x55" * 200)
    decoder.receive_data(b"\x55" * 200)
    decoder.receive_data(b"\x55" * 10)
    events = drain(decoder)
    assert len(events) == 1
    assert isinstance(events[0], DecodeError) and events[0].reason is ErrorReason.OVERSIZED
    assert decoder.buffered <= MAX_ADU
    decoder.receive_gap()
    assert drain(decoder) == []
    decoder.receive_data(WRITE_SINGLE)
    decoder.receive_gap()
    assert drain(decoder) == [WriteSingleRegisterResponse(0x11, 1, 3)]


def test_bad_frame_changes_nothing_for_the_next() -> None:
    decoder = RtuDecoder()
    decoder.receive_data(READ_RESP[:-1] + b"\x00")
    decoder.receive_gap()
    decoder.receive_data(READ_RESP)
    decoder.receive_gap()
    bad, good = drain(decoder)
    assert isinstance(bad, DecodeError) and bad.reason is ErrorReason.BAD_CHECKSUM
    assert isinstance(good, ReadRegistersResponse)


# --- expect mode (length framing, no gaps) ---------------------------------------------------


def test_expect_frames_without_gaps_byte_by_byte() -> None:
    decoder = RtuDecoder()
    decoder.expect(read_holding_registers(0x11, 0x6B, 3))
    events: list[Message | DecodeError] = []
    for byte in READ_RESP:
        decoder.receive_data(bytes([byte]))
        events += drain(decoder)
    assert events == [
        ReadRegistersResponse(0x11, FunctionCode.READ_HOLDING_REGISTERS, (0xAE41, 0x5652, 0x4340))
    ]
    assert decoder.expecting is None


def test_expect_skips_garbage_and_other_units() -> None:
    other = encode(WriteSingleRegisterResponse(0x12, 1, 3))
    decoder = RtuDecoder()
    decoder.expect(WriteSingleRegisterRequest(0x11, 1, 3))
    decoder.receive_data(b"\x00\x11\xff" + other + WRITE_SINGLE + b"\x99")
    garbage, response, trailing = drain(decoder)
    assert isinstance(garbage, DecodeError) and garbage.reason is ErrorReason.GARBAGE
    assert garbage.data == b"\x00\x11\xff" + other
    assert response == WriteSingleRegisterResponse(0x11, 1, 3)
    assert trailing == DecodeError(ErrorReason.GARBAGE, b"\x99", "after the response")


def test_expect_accepts_exception_reply() -> None:
    decoder = RtuDecoder()
    decoder.expect(read_input_registers(0x11, 0, 2))
    decoder.receive_data(with_crc(bytes([0x11, 0x84, 0x04])))
    assert drain(decoder) == [ExceptionResponse(0x11, 4, 4)]


def test_expect_ignores_false_gaps_inside_a_frame() -> None:
    decoder = RtuDecoder()
    decoder.expect(read_holding_registers(0x11, 0x6B, 3))
    decoder.receive_data(READ_RESP[:4])
    decoder.receive_gap()  # a USB adapter's latency, not real silence
    decoder.receive_data(READ_RESP[4:])
    assert [type(e) for e in drain(decoder)] == [ReadRegistersResponse]


def test_expect_rejects_reply_of_wrong_size() -> None:
    decoder = RtuDecoder()
    decoder.expect(read_holding_registers(0x11, 0x6B, 2))  # asked for 2, device sends 3
    decoder.receive_data(READ_RESP)
    decoder.cancel_expect()
    events = drain(decoder)
    assert all(isinstance(e, DecodeError) for e in events)
    assert b"".join(e.data for e in events if isinstance(e, DecodeError)) == READ_RESP


def test_cancel_expect_reports_partial_reply_as_truncated() -> None:
    decoder = RtuDecoder()
    decoder.expect(read_holding_registers(0x11, 0x6B, 3))
    decoder.receive_data(READ_RESP[:5])
    decoder.cancel_expect()
    assert drain(decoder) == [
        DecodeError(ErrorReason.TRUNCATED, READ_RESP[:5], "response incomplete when the wait ended")
    ]
    assert decoder.buffered == 0


def test_expect_reports_leftovers_from_before_the_request() -> None:
    decoder = RtuDecoder()
    decoder.receive_data(b"\x01\x02")
    decoder.expect(read_holding_registers(1, 0, 1))
    assert drain(decoder) == [
        DecodeError(ErrorReason.GARBAGE, b"\x01\x02", "bytes before the request")
    ]


def test_expect_needs_a_response_decoder_and_a_valid_request() -> None:
    with pytest.raises(ValueError):
        RtuDecoder(Direction.REQUEST).expect(read_holding_registers(1, 0, 1))
    with pytest.raises(EncodeError):
        RtuDecoder().expect(read_holding_registers(1, 0, 0))


# --- pymodbus as a peer (framer level) -------------------------------------------------------


def pymodbus_parse(frame: bytes, *, is_server: bool) -> object:
    used, pdu = FramerRTU(DecodePDU(is_server)).handleFrame(frame, 0, 0)
    assert used == len(frame)
    assert pdu is not None
    return pdu


def test_pymodbus_decodes_our_requests() -> None:
    pdu = pymodbus_parse(encode(read_input_registers(7, 0x10, 4)), is_server=True)
    assert isinstance(pdu, pm.ReadInputRegistersRequest)
    assert (pdu.dev_id, pdu.address, pdu.count) == (7, 0x10, 4)
    pdu = pymodbus_parse(encode(WriteSingleRegisterRequest(7, 0x20, 0xBEEF)), is_server=True)
    assert isinstance(pdu, pm.WriteSingleRegisterRequest)
    assert (pdu.address, pdu.registers) == (0x20, [0xBEEF])
    pdu = pymodbus_parse(encode(WriteMultipleRegistersRequest(7, 0x30, (1, 2, 3))), is_server=True)
    assert isinstance(pdu, pm.WriteMultipleRegistersRequest)
    assert (pdu.address, pdu.count, pdu.registers) == (0x30, 3, [1, 2, 3])


def test_pymodbus_decodes_our_responses() -> None:
    frame = encode(ReadRegistersResponse(9, FunctionCode.READ_HOLDING_REGISTERS, (5, 6)))
    pdu = pymodbus_parse(frame, is_server=False)
    assert isinstance(pdu, pm.ReadHoldingRegistersResponse) and pdu.registers == [5, 6]
    pdu = pymodbus_parse(encode(ExceptionResponse(9, 16, 3)), is_server=False)
    assert isinstance(pdu, PmException) and pdu.exception_code == 3


def test_we_decode_pymodbus_responses() -> None:
    framer = FramerRTU(DecodePDU(False))
    cases: list[tuple[object, Message]] = [
        (
            pm.ReadHoldingRegistersResponse(dev_id=5, registers=[1, 0xFFFF]),
            ReadRegistersResponse(5, FunctionCode.READ_HOLDING_REGISTERS, (1, 0xFFFF)),
        ),
        (
            pm.ReadInputRegistersResponse(dev_id=5, registers=[42]),
            ReadRegistersResponse(5, FunctionCode.READ_INPUT_REGISTERS, (42,)),
        ),
        (
            pm.WriteSingleRegisterResponse(dev_id=5, address=3, registers=[7]),
            WriteSingleRegisterResponse(5, 3, 7),
        ),
        (
            pm.WriteMultipleRegistersResponse(dev_id=5, address=3, count=2),
            WriteMultipleRegistersResponse(5, 3, 2),
        ),
        (PmException(3, exception_code=2, device_id=5), ExceptionResponse(5, 3, 2)),
    ]
    for pdu, expected in cases:
        frame = framer.buildFrame(pdu)  # type: ignore[arg-type]
        assert gap_decode(frame) == expected


def test_we_decode_pymodbus_requests() -> None:
    framer = FramerRTU(DecodePDU(True))
    frame = framer.buildFrame(
        pm.WriteMultipleRegistersRequest(dev_id=2, address=9, registers=[4, 5])
    )
    assert gap_decode(frame, Direction.REQUEST) == WriteMultipleRegistersRequest(2, 9, (4, 5))


# --- pymodbus as a peer over a pseudo-terminal -----------------------------------------------


async def _exchange(fd: int, request: Message) -> Message | DecodeError:
    """A minimal master: write a request, frame the reply by length (no gaps), via a raw fd."""
    assert isinstance(request, ReadRegistersRequest | WriteSingleRegisterRequest)
    loop = asyncio.get_running_loop()
    decoder = RtuDecoder()
    decoder.expect(request)
    os.write(fd, encode(request))
    readable = asyncio.Event()
    loop.add_reader(fd, readable.set)
    try:
        async with asyncio.timeout(2.0):
            while True:
                await readable.wait()
                readable.clear()
                decoder.receive_data(os.read(fd, 512))
                events = drain(decoder)
                if events:
                    return events[-1]
    finally:
        loop.remove_reader(fd)


async def test_pymodbus_serial_server_on_a_pty() -> None:
    from pymodbus.server import ModbusSerialServer
    from pymodbus.simulator import DataType, SimData, SimDevice

    master_fd, slave_fd = os.openpty()
    tty.setraw(master_fd)
    tty.setraw(slave_fd)
    device = SimDevice(
        id=3, simdata=[SimData(address=0, values=[10, 20, 30, 40], datatype=DataType.REGISTERS)]
    )
    server = ModbusSerialServer(device, port=os.ttyname(slave_fd), baudrate=9600)
    await server.serve_forever(background=True)
    try:
        assert await _exchange(master_fd, read_holding_registers(3, 1, 2)) == ReadRegistersResponse(
            3, FunctionCode.READ_HOLDING_REGISTERS, (20, 30)
        )
        assert await _exchange(master_fd, WriteSingleRegisterRequest(3, 2, 99)) == (
            WriteSingleRegisterResponse(3, 2, 99)
        )
        reply = await _exchange(master_fd, read_holding_registers(3, 0, 4))
        assert reply == ReadRegistersResponse(
            3, FunctionCode.READ_HOLDING_REGISTERS, (10, 20, 99, 40)
        )
        reply = await _exchange(master_fd, read_holding_registers(3, 100, 2))
        assert reply == ExceptionResponse(3, 3, ExceptionCode.ILLEGAL_DATA_ADDRESS)
    finally:
        await server.shutdown()
        os.close(master_fd)
        os.close(slave_fd)


# --- properties ------------------------------------------------------------------------------

units = st.integers(1, 247)
words = st.integers(0, 0xFFFF)
responses = st.one_of(
    st.builds(
        ReadRegistersResponse,
        units,
        st.sampled_from([FunctionCode.READ_HOLDING_REGISTERS, FunctionCode.READ_INPUT_REGISTERS]),
        st.lists(words, min_size=1, max_size=125).map(tuple),
    ),
    st.builds(WriteSingleRegisterResponse, units, words, words),
    st.builds(WriteMultipleRegistersResponse, units, words, st.integers(1, 123)),
    st.builds(ExceptionResponse, units, st.sampled_from([3, 4, 6, 16]), st.integers(0, 255)),
)
requests = st.one_of(
    st.builds(
        ReadRegistersRequest,
        units,
        st.sampled_from([FunctionCode.READ_HOLDING_REGISTERS, FunctionCode.READ_INPUT_REGISTERS]),
        words,
        st.integers(1, 125),
    ),
    st.builds(WriteSingleRegisterRequest, units, words, words),
    st.builds(
        WriteMultipleRegistersRequest,
        units,
        words,
        st.lists(words, min_size=1, max_size=123).map(tuple),
    ),
)
chunks = st.lists(st.tuples(st.binary(max_size=80), st.booleans()), max_size=20)


@given(chunks)
@settings(max_examples=200)
def test_any_input_with_any_gaps_never_raises_and_stays_bounded(
    stream: list[tuple[bytes, bool]],
) -> None:
    for direction in Direction:
        decoder = RtuDecoder(direction)
        for data, gap in stream:
            decoder.receive_data(data)
            if gap:
                decoder.receive_gap()
            for event in decoder.events_received():
                assert isinstance(event, EVENT_TYPES)
            assert decoder.buffered <= MAX_ADU


@given(st.binary(max_size=600), st.lists(st.binary(max_size=40), max_size=10))
@settings(max_examples=200)
def test_expect_mode_never_raises_and_stays_bounded(first: bytes, more: list[bytes]) -> None:
    decoder = RtuDecoder()
    decoder.expect(read_holding_registers(first[0] if first and 1 <= first[0] <= 247 else 1, 0, 2))
    for data in [first, *more]:
        decoder.receive_data(data)
        drain(decoder)
        assert decoder.buffered <= MAX_ADU
    decoder.cancel_expect()
    drain(decoder)
    assert decoder.buffered == 0


@given(responses)
@settings(max_examples=200)
def test_response_round_trip(message: Message) -> None:
    assert gap_decode(encode(message)) == message


@given(requests)
@settings(max_examples=200)
def test_request_round_trip(message: Message) -> None:
    assert gap_decode(encode(message), Direction.REQUEST) == message


@given(responses, st.binary(max_size=60), st.binary(max_size=60))
@settings(max_examples=200)
def test_frame_survives_gap_separated_garbage(
    message: Message, before: bytes, after: bytes
) -> None:
    decoder = RtuDecoder()
    for part in (before, encode(message), after):
        decoder.receive_data(part)
        decoder.receive_gap()
    assert message in drain(decoder)


@given(st.binary(max_size=60), st.integers(1, 40), st.data())
@settings(max_examples=200)
def test_expected_reply_survives_surrounding_garbage(
    before: bytes, count: int, data: st.DataObject
) -> None:
    values = tuple(data.draw(st.lists(words, min_size=count, max_size=count)))
    reply = ReadRegistersResponse(0x21, FunctionCode.READ_INPUT_REGISTERS, values)
    decoder = RtuDecoder()
    decoder.expect(read_input_registers(0x21, 0, count))
    frame = encode(reply)
    cut = data.draw(st.integers(0, len(frame)))
    decoder.receive_data(before + frame[:cut])
    decoder.receive_data(frame[cut:] + b"\x21\x04")
    assert reply in drain(decoder)


# --- register maps ---------------------------------------------------------------------------


def docs_register_maps() -> dict[str, RegisterMap]:
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(r"```toml\n(.*?)```", text, re.S)
    assert match, "docs/protocol/modbus.md must carry a TOML register-map example"
    tables = tomllib.loads(match.group(1))["register_maps"]
    return {name: RegisterMap.from_mapping(name, spec) for name, spec in tables.items()}


def test_docs_example_register_maps_load() -> None:
    maps = docs_register_maps()
    pad = maps["modbus_evaluator"]
    assert pad["last_rating"].type is ValueType.CODE
    assert pad.decode_value(pad["last_rating"], (1,)) == "very_satisfied"
    assert pad.decode_value(pad["last_rating"], (99,)) == "code:99"
    assert pad.read_request(4, "rating_seq") == read_input_registers(
        4, pad["rating_seq"].address, 1
    )
    keypad = maps["modbus_keypad"]
    assert keypad.decode_value(keypad["last_key"], (0x0C,)) == "call"
    display = maps["modbus_display"]
    request = display.write_request(9, "line1", "请A001号到3号窗口")
    assert isinstance(request, WriteMultipleRegistersRequest)
    assert len(request.values) == display["line1"].count
    assert display.decode_value(display["line1"], request.values) == "请A001号到3号窗口"


def hexline(frame: bytes) -> str:
    return " ".join(f"{b:02X}" for b in frame)


def test_docs_examples_are_what_the_encoder_produces() -> None:
    text = DOCS.read_text(encoding="utf-8")
    display = docs_register_maps()["modbus_display"]
    examples: list[Message] = [
        read_holding_registers(4, 0x10, 2),
        read_input_registers(4, 0x10, 2),
        ReadRegistersResponse(4, FunctionCode.READ_INPUT_REGISTERS, (1, 0x2A)),
        WriteSingleRegisterRequest(4, 0x100, 1),
        WriteMultipleRegistersRequest(9, 0, display.to_words(display["line1"], "请A001号")[:4]),
        WriteMultipleRegistersResponse(9, 0, 4),
        ExceptionResponse(4, 4, 2),
        read_input_registers(2, 0, 3),
        ReadRegistersResponse(2, FunctionCode.READ_INPUT_REGISTERS, (0x0C, 7, 0)),
    ]
    for message in examples:
        assert hexline(encode(message)) in text, message


def test_text_is_gb2312_two_bytes_per_register() -> None:
    display = docs_register_maps()["modbus_display"]
    words_ = display.to_words(display["line1"], "请A")
    assert words_[:2] == (0xC7EB, 0x4100)  # 请 = C7 EB, then 'A' and NUL padding
    with pytest.raises(EncodeError):
        display.to_words(display["line1"], "请" * 100)
    with pytest.raises(EncodeError):
        display.to_words(display["line1"], "😀")


def test_numeric_registers() -> None:
    rmap = RegisterMap.from_mapping(
        "meter",
        {
            "registers": {
                "temp": {"address": 1, "type": "i16", "scale": 0.1, "writable": True},
                "uptime": {"address": 2, "type": "u32", "kind": "input"},
            }
        },
    )
    assert rmap.decode_value(rmap["temp"], (0xFF9C,)) == pytest.approx(-10.0)
    assert rmap.to_words(rmap["temp"], -10.0) == (0xFF9C,)
    assert rmap.decode_value(rmap["uptime"], (1, 2)) == 0x10002
    assert rmap.write_request(1, "temp", 2.5) == WriteSingleRegisterRequest(1, 1, 25)
    with pytest.raises(EncodeError):
        rmap.write_request(1, "uptime", 1)  # input registers are read-only
    with pytest.raises(EncodeError):
        rmap.to_words(rmap["temp"], 10_000.0)
    with pytest.raises(EncodeError):
        rmap.to_words(rmap["temp"], "hot")
    with pytest.raises(ValueError):
        rmap.decode_value(rmap["uptime"], (1,))
    with pytest.raises(KeyError):
        rmap["nope"]


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"registers": {}},
        {"registers": {"a": 5}},
        {"registers": {"a": {}}},
        {"registers": {"a": {"address": 70000}}},
        {"registers": {"a": {"address": True}}},
        {"registers": {"a": {"address": 1, "kind": "coil"}}},
        {"registers": {"a": {"address": 1, "type": "float"}}},
        {"registers": {"a": {"address": 1, "type": "code"}}},
        {"registers": {"a": {"address": 1, "codes": {"x": "one"}}}},
        {"registers": {"a": {"address": 1, "codes": {"1": 2}}}},
        {"registers": {"a": {"address": 1, "codes": [1]}}},
        {"registers": {"a": {"address": 1, "count": 2}}},
        {"registers": {"a": {"address": 1, "type": "text", "count": 0}}},
        {"registers": {"a": {"address": 1, "scale": 0}}},
        {"registers": {"a": {"address": 1, "writable": "yes"}}},
        {"registers": {"a": {"address": 1, "colour": "red"}}},
        {"registers": {"a": {"address": 1}}, "text_encoding": 5},
    ],
)
def test_bad_register_maps_are_rejected(spec: dict[str, object]) -> None:
    with pytest.raises(RegisterMapError):
        RegisterMap.from_mapping("dev", spec)
