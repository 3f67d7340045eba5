"""Modbus RTU, master side first: request builders, response decoding, register maps.

Theory of operation: an RTU frame is ``ADDR FC DATA... CRClo CRChi`` and has no start marker;
the standard delimits frames by 3.5 character times of line silence (t3.5). The transport
measures silence and calls ``RtuDecoder.receive_gap()``; everything received since the last
gap is one frame candidate. Because one master owns the bus and every function we speak has a
length fixed by its function code (or by a byte count inside the frame), the decoder can also
frame *without* gaps once told which request it is waiting on (``expect``): it then hunts for
the expected address and function code, computes the length, checks the CRC and skips one byte
to retry after any mismatch. USB adapters that batch bytes make gaps unreliable, which is why
both modes exist.

The same decoder decodes requests (``Direction.REQUEST``) so simulated slaves share this code.
A ``RegisterMap`` describes a device type's registers as data (hall config, TOML); helpers
turn map entries into requests and raw register words into values.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from firmware_protocols.base import DecodeError, EncodeError, ErrorReason

MAX_ADU = 256  # address + PDU (253) + CRC
MIN_ADU = 4  # address + function + CRC
MAX_READ_COUNT = 125
MAX_WRITE_COUNT = 123
BROADCAST = 0
MAX_UNIT = 247


def _make_crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _make_crc_table()


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS (init 0xFFFF, reflected poly 0xA001); sent low byte first."""
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


def _with_crc(body: bytes) -> bytes:
    return body + crc16_modbus(body).to_bytes(2, "little")


def t35_seconds(baudrate: int, *, bits_per_char: int = 11) -> float:
    """Inter-frame silence t3.5 for a line speed; the spec fixes 1.75 ms above 19200 baud.

    The spec counts 11 bits per character (start, 8 data, parity or a second stop, stop); pass
    10 for 8N1 lines if a device is strict about it.
    """
    if baudrate <= 0 or bits_per_char <= 0:
        raise ValueError(
            f"baudrate and bits_per_char must be positive: {baudrate}, {bits_per_char}"
        )
    if baudrate > 19200:
        return 0.00175
    return 3.5 * bits_per_char / baudrate


class FunctionCode(enum.IntEnum):
    READ_HOLDING_REGISTERS = 0x03
    READ_INPUT_REGISTERS = 0x04
    WRITE_SINGLE_REGISTER = 0x06
    WRITE_MULTIPLE_REGISTERS = 0x10


class ExceptionCode(enum.IntEnum):
    ILLEGAL_FUNCTION = 0x01
    ILLEGAL_DATA_ADDRESS = 0x02
    ILLEGAL_DATA_VALUE = 0x03
    SERVER_DEVICE_FAILURE = 0x04
    ACKNOWLEDGE = 0x05
    SERVER_DEVICE_BUSY = 0x06
    MEMORY_PARITY_ERROR = 0x08
    GATEWAY_PATH_UNAVAILABLE = 0x0A
    GATEWAY_TARGET_FAILED = 0x0B


class Direction(enum.Enum):
    """Which side's frames a decoder reads: the master reads responses."""

    RESPONSE = "response"
    REQUEST = "request"


# --- messages --------------------------------------------------------------------------------


def _check_unit(unit: int, *, broadcast_ok: bool) -> None:
    low = BROADCAST if broadcast_ok else 1
    if not low <= unit <= MAX_UNIT:
        raise EncodeError(f"unit address {unit} outside {low}..{MAX_UNIT}")


def _check_word(value: int, what: str) -> None:
    if not 0 <= value <= 0xFFFF:
        raise EncodeError(f"{what} {value} is not a 16-bit register value")


@dataclass(frozen=True, slots=True)
class ReadRegistersRequest:
    """FC 03 (holding) or 04 (input): read ``count`` registers from ``start``."""

    unit: int
    function: FunctionCode
    start: int
    count: int

    def pdu(self) -> bytes:
        if self.function not in _READ_FUNCTIONS:
            raise EncodeError(f"{self.function!r} is not a read function")
        _check_unit(self.unit, broadcast_ok=False)
        _check_word(self.start, "start address")
        if not 1 <= self.count <= MAX_READ_COUNT:
            raise EncodeError(f"read count {self.count} outside 1..{MAX_READ_COUNT}")
        return (
            bytes([self.function]) + self.start.to_bytes(2, "big") + self.count.to_bytes(2, "big")
        )


@dataclass(frozen=True, slots=True)
class WriteSingleRegisterRequest:
    """FC 06: write one register; the reply echoes the request."""

    unit: int
    register: int
    value: int

    def pdu(self) -> bytes:
        _check_unit(self.unit, broadcast_ok=True)
        _check_word(self.register, "register address")
        _check_word(self.value, "value")
        return bytes([FunctionCode.WRITE_SINGLE_REGISTER]) + _words(self.register, self.value)


@dataclass(frozen=True, slots=True)
class WriteMultipleRegistersRequest:
    """FC 16: write consecutive registers from ``start``."""

    unit: int
    start: int
    values: tuple[int, ...]

    def pdu(self) -> bytes:
        _check_unit(self.unit, broadcast_ok=True)
        _check_word(self.start, "start address")
        if not 1 <= len(self.values) <= MAX_WRITE_COUNT:
            raise EncodeError(f"write count {len(self.values)} outside 1..{MAX_WRITE_COUNT}")
        for v in self.values:
            _check_word(v, "value")
        n = len(self.values)
        head = bytes([FunctionCode.WRITE_MULTIPLE_REGISTERS]) + _words(self.start, n)
        return head + bytes([2 * n]) + _words(*self.values)


@dataclass(frozen=True, slots=True)
class ReadRegistersResponse:
    unit: int
    function: FunctionCode
    values: tuple[int, ...]

    def pdu(self) -> bytes:
        if self.function not in _READ_FUNCTIONS:
            raise EncodeError(f"{self.function!r} is not a read function")
        _check_unit(self.unit, broadcast_ok=False)
        if not 1 <= len(self.values) <= MAX_READ_COUNT:
            raise EncodeError(f"register count {len(self.values)} outside 1..{MAX_READ_COUNT}")
        for v in self.values:
            _check_word(v, "value")
        return bytes([self.function, 2 * len(self.values)]) + _words(*self.values)


@dataclass(frozen=True, slots=True)
class WriteSingleRegisterResponse:
    unit: int
    register: int
    value: int

    def pdu(self) -> bytes:
        _check_unit(self.unit, broadcast_ok=False)
        _check_word(self.register, "register address")
        _check_word(self.value, "value")
        return bytes([FunctionCode.WRITE_SINGLE_REGISTER]) + _words(self.register, self.value)


@dataclass(frozen=True, slots=True)
class WriteMultipleRegistersResponse:
    unit: int
    start: int
    count: int

    def pdu(self) -> bytes:
        _check_unit(self.unit, broadcast_ok=False)
        _check_word(self.start, "start address")
        if not 1 <= self.count <= MAX_WRITE_COUNT:
            raise EncodeError(f"write count {self.count} outside 1..{MAX_WRITE_COUNT}")
        return bytes([FunctionCode.WRITE_MULTIPLE_REGISTERS]) + _words(self.start, self.count)


@dataclass(frozen=True, slots=True)
class ExceptionResponse:
    """``FC | 0x80`` plus one exception code; ``code`` stays an int so new codes survive."""

    unit: int
    function: int
    code: int

    @property
    def known_code(self) -> ExceptionCode | None:
        try:
            return ExceptionCode(self.code)
        except ValueError:
            return None

    def pdu(self) -> bytes:
        _check_unit(self.unit, broadcast_ok=False)
        if not 1 <= self.function <= 0x7F or not 0 <= self.code <= 0xFF:
            raise EncodeError(f"bad exception function {self.function} or code {self.code}")
        return bytes([self.function | 0x80, self.code])


Request = ReadRegistersRequest | WriteSingleRegisterRequest | WriteMultipleRegistersRequest
Response = (
    ReadRegistersResponse
    | WriteSingleRegisterResponse
    | WriteMultipleRegistersResponse
    | ExceptionResponse
)
Message = Request | Response

_READ_FUNCTIONS = (FunctionCode.READ_HOLDING_REGISTERS, FunctionCode.READ_INPUT_REGISTERS)


def _words(*values: int) -> bytes:
    return b"".join(v.to_bytes(2, "big") for v in values)


def encode(message: Message) -> bytes:
    """The full RTU frame (address, PDU, CRC) for a message; raises ``EncodeError``."""
    return _with_crc(bytes([message.unit]) + message.pdu())


def read_holding_registers(unit: int, start: int, count: int) -> ReadRegistersRequest:
    return ReadRegistersRequest(unit, FunctionCode.READ_HOLDING_REGISTERS, start, count)


def read_input_registers(unit: int, start: int, count: int) -> ReadRegistersRequest:
    return ReadRegistersRequest(unit, FunctionCode.READ_INPUT_REGISTERS, start, count)


# --- frame lengths and parsing ---------------------------------------------------------------


def _frame_length(direction: Direction, head: bytes) -> int | None:
    """Whole-frame length from its first bytes, 0 if more are needed, None if FC unknown."""
    if len(head) < 2:
        return 0
    fc = head[1]
    if fc & 0x80:
        return 5 if direction is Direction.RESPONSE else None
    if fc in _READ_FUNCTIONS:
        if direction is Direction.REQUEST:
            return 8
        return 0 if len(head) < 3 else 5 + head[2]
    if fc == FunctionCode.WRITE_SINGLE_REGISTER:
        return 8
    if fc == FunctionCode.WRITE_MULTIPLE_REGISTERS:
        if direction is Direction.RESPONSE:
            return 8
        return 0 if len(head) < 7 else 9 + head[6]
    return None


def _word_list(data: bytes) -> tuple[int, ...]:
    return tuple(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))


def parse_frame(direction: Direction, frame: bytes) -> Message | DecodeError:
    """Check CRC and length of one whole frame and turn it into a message."""
    if len(frame) < MIN_ADU:
        return DecodeError(
            ErrorReason.TRUNCATED, frame, f"{len(frame)} bytes is shorter than {MIN_ADU}"
        )
    if len(frame) > MAX_ADU:
        return DecodeError(ErrorReason.OVERSIZED, frame, f"{len(frame)} bytes > {MAX_ADU}")
    body, crc = frame[:-2], int.from_bytes(frame[-2:], "little")
    if crc16_modbus(body) != crc:
        return DecodeError(
            ErrorReason.BAD_CHECKSUM, frame, f"CRC {crc:04X} != {crc16_modbus(body):04X}"
        )
    expected = _frame_length(direction, frame)
    if expected is None:
        return DecodeError(ErrorReason.UNKNOWN_FUNCTION, frame, f"function 0x{frame[1]:02X}")
    if expected != len(frame):
        return DecodeError(
            ErrorReason.BAD_LENGTH, frame, f"{len(frame)} bytes, function says {expected}"
        )
    try:
        return _parse_pdu(direction, frame[0], body[1:])
    except ValueError as exc:
        return DecodeError(ErrorReason.BAD_FIELD, frame, str(exc))


def _parse_pdu(direction: Direction, unit: int, pdu: bytes) -> Message:
    fc, data = pdu[0], pdu[1:]
    if fc & 0x80:
        return ExceptionResponse(unit, fc & 0x7F, data[0])
    function = FunctionCode(fc)
    if direction is Direction.RESPONSE:
        if function in _READ_FUNCTIONS:
            if data[0] % 2 or data[0] == 0:
                raise ValueError(f"byte count {data[0]} is not a positive even number")
            return ReadRegistersResponse(unit, function, _word_list(data[1:]))
        a, b = _word_list(data)
        if function == FunctionCode.WRITE_SINGLE_REGISTER:
            return WriteSingleRegisterResponse(unit, a, b)
        return WriteMultipleRegistersResponse(unit, a, b)
    a, b = _word_list(data[:4])
    if function in _READ_FUNCTIONS:
        if not 1 <= b <= MAX_READ_COUNT:
            raise ValueError(f"read count {b} outside 1..{MAX_READ_COUNT}")
        return ReadRegistersRequest(unit, function, a, b)
    if function == FunctionCode.WRITE_SINGLE_REGISTER:
        return WriteSingleRegisterRequest(unit, a, b)
    values = _word_list(data[5:])
    if data[4] != 2 * b or not 1 <= b <= MAX_WRITE_COUNT:
        raise ValueError(f"quantity {b} does not match byte count {data[4]}")
    return WriteMultipleRegistersRequest(unit, a, values)


# --- the decoder -----------------------------------------------------------------------------


def _response_matches(request: Request, response: Message) -> bool:
    if isinstance(response, ExceptionResponse):
        return response.function == request.pdu()[0]
    if isinstance(request, ReadRegistersRequest):
        return isinstance(response, ReadRegistersResponse) and len(response.values) == request.count
    if isinstance(request, WriteSingleRegisterRequest):
        return response == WriteSingleRegisterResponse(
            request.unit, request.register, request.value
        )
    return response == WriteMultipleRegistersResponse(
        request.unit, request.start, len(request.values)
    )


class RtuDecoder:
    """Sans-I/O RTU decoder: gap-delimited by default, length-framed while ``expect``-ing.

    While expecting, gaps are ignored (USB adapters deliver a frame in pieces with false
    silences between them); the transport ends a wait that timed out with ``cancel_expect``.
    The buffer never holds more than ``MAX_ADU`` bytes: in gap mode a longer burst is reported
    once as OVERSIZED and ignored until the next gap.
    """

    def __init__(self, direction: Direction = Direction.RESPONSE) -> None:
        self.direction = direction
        self._buffer = bytearray()
        self._events: list[Message | DecodeError] = []
        self._expected: Request | None = None
        self._expected_fc = 0
        self._overflowed = False
        self._garbage = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buffer) + len(self._garbage)

    @property
    def expecting(self) -> Request | None:
        return self._expected

    def expect(self, request: Request) -> None:
        """Frame by length until the response to ``request`` (or its exception) arrives.

        Only for a response decoder. Bytes left from before are reported as garbage: on a
        master-owned bus nothing received before our request can be its reply.
        """
        if self.direction is not Direction.RESPONSE:
            raise ValueError("only a response decoder can expect a reply")
        self._expected_fc = request.pdu()[0]  # also validates the request
        self._flush(ErrorReason.GARBAGE, "bytes before the request")
        self._overflowed = False
        self._expected = request

    def cancel_expect(self) -> None:
        """Give up waiting (response timeout): report what is left and go back to gap framing."""
        self._expected = None
        self._flush_garbage()
        self._flush(ErrorReason.TRUNCATED, "response incomplete when the wait ended")

    def receive_data(self, data: bytes) -> None:
        if self._expected is not None:
            self._buffer += data
            self._hunt()
            return
        if self._overflowed:
            return
        room = MAX_ADU - len(self._buffer)
        self._buffer += data[:room]
        if len(data) > room:
            self._flush(ErrorReason.OVERSIZED, f"no gap within {MAX_ADU} bytes")
            self._overflowed = True

    def receive_gap(self) -> None:
        """The transport saw t3.5 of silence: whatever arrived since the last gap is one frame."""
        if self._expected is not None:
            return
        self._overflowed = False
        if self._buffer:
            frame = bytes(self._buffer)
            self._buffer.clear()
            self._events.append(parse_frame(self.direction, frame))

    def events_received(self) -> Iterator[Message | DecodeError]:
        events, self._events = self._events, []
        yield from events

    def _flush(self, reason: ErrorReason, detail: str) -> None:
        if self._buffer:
            self._events.append(DecodeError(reason, bytes(self._buffer), detail))
            self._buffer.clear()

    def _flush_garbage(self) -> None:
        if self._garbage:
            self._events.append(
                DecodeError(ErrorReason.GARBAGE, bytes(self._garbage), "not the expected reply")
            )
            self._garbage.clear()

    def _skip(self, n: int) -> None:
        self._garbage += self._buffer[:n]
        del self._buffer[:n]
        if len(self._garbage) >= MAX_ADU:
            self._flush_garbage()

    def _hunt(self) -> None:
        request = self._expected
        buf = self._buffer
        while request is not None and buf:
            if buf[0] != request.unit:
                at = buf.find(request.unit)
                self._skip(len(buf) if at < 0 else at)
                continue
            if len(buf) > 1 and buf[1] & 0x7F != self._expected_fc:
                self._skip(1)
                continue
            length = _frame_length(Direction.RESPONSE, bytes(buf[:3]))
            if not length or len(buf) < length:
                return  # need more bytes
            message = parse_frame(Direction.RESPONSE, bytes(buf[:length]))
            if isinstance(message, DecodeError) or not _response_matches(request, message):
                self._skip(1)
                continue
            self._flush_garbage()
            del buf[:length]
            self._events.append(message)
            self._expected = request = None
        if request is None:
            self._flush(ErrorReason.GARBAGE, "after the response")


# --- register maps ---------------------------------------------------------------------------


class RegisterKind(enum.Enum):
    HOLDING = "holding"
    INPUT = "input"


class ValueType(enum.Enum):
    U16 = "u16"
    I16 = "i16"
    U32 = "u32"  # two registers, high word first
    CODE = "code"  # u16 looked up in the register's codes table
    TEXT = "text"  # GB2312, two bytes per register, high byte first, NUL/space padded


class RegisterMapError(ValueError):
    """A register map from hall config is malformed; names the device type and field."""


@dataclass(frozen=True, slots=True)
class Register:
    name: str
    address: int
    kind: RegisterKind = RegisterKind.HOLDING
    type: ValueType = ValueType.U16
    count: int = 1
    scale: float = 1.0
    codes: tuple[tuple[int, str], ...] = ()
    writable: bool = False

    def code_name(self, raw: int) -> str | None:
        return dict(self.codes).get(raw)

    def code_value(self, name: str) -> int | None:
        return {label: raw for raw, label in self.codes}.get(name)


@dataclass(frozen=True, slots=True)
class RegisterMap:
    """One device type's registers; built from hall config by ``from_mapping``."""

    device_type: str
    registers: tuple[Register, ...]
    text_encoding: str = "gb2312"
    _by_name: Mapping[str, Register] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {r.name: r for r in self.registers}
        if len(by_name) != len(self.registers):
            raise RegisterMapError(f"{self.device_type}: duplicate register names")
        object.__setattr__(self, "_by_name", by_name)

    def __getitem__(self, name: str) -> Register:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"{self.device_type} has no register {name!r}") from None

    @classmethod
    def from_mapping(cls, device_type: str, data: Mapping[str, object]) -> RegisterMap:
        """Build from the TOML table ``[register_maps.<device_type>]`` (docs/protocol/modbus.md)."""
        raw_regs = data.get("registers")
        if not isinstance(raw_regs, Mapping) or not raw_regs:
            raise RegisterMapError(f"{device_type}: 'registers' must be a non-empty table")
        encoding = data.get("text_encoding", "gb2312")
        if not isinstance(encoding, str):
            raise RegisterMapError(f"{device_type}: text_encoding must be a string")
        regs = tuple(_register_from(device_type, str(n), spec) for n, spec in raw_regs.items())
        return cls(device_type, regs, encoding)

    def read_request(self, unit: int, name: str) -> ReadRegistersRequest:
        reg = self[name]
        fc = (
            FunctionCode.READ_HOLDING_REGISTERS
            if reg.kind is RegisterKind.HOLDING
            else FunctionCode.READ_INPUT_REGISTERS
        )
        return ReadRegistersRequest(unit, fc, reg.address, reg.count)

    def write_request(
        self, unit: int, name: str, value: int | float | str
    ) -> WriteSingleRegisterRequest | WriteMultipleRegistersRequest:
        reg = self[name]
        if not reg.writable or reg.kind is not RegisterKind.HOLDING:
            raise EncodeError(f"{self.device_type}.{name} is not a writable holding register")
        words = self.to_words(reg, value)
        if len(words) == 1:
            return WriteSingleRegisterRequest(unit, reg.address, words[0])
        return WriteMultipleRegistersRequest(unit, reg.address, words)

    def to_words(self, reg: Register, value: int | float | str) -> tuple[int, ...]:
        if reg.type is ValueType.TEXT:
            if not isinstance(value, str):
                raise EncodeError(f"{reg.name} takes text")
            raw = _encode_text(value, self.text_encoding)
            if len(raw) > 2 * reg.count:
                raise EncodeError(f"{reg.name}: {len(raw)} bytes do not fit {reg.count} registers")
            return _word_list(raw.ljust(2 * reg.count, b"\x00"))
        if reg.type is ValueType.CODE:
            code = reg.code_value(value) if isinstance(value, str) else None
            if code is None:
                raise EncodeError(f"{reg.name}: {value!r} is not one of its codes")
            return (code,)
        if isinstance(value, str):
            raise EncodeError(f"{reg.name} takes a number")
        raw_int = round(value / reg.scale)
        bits = 32 if reg.type is ValueType.U32 else 16
        if reg.type is ValueType.I16 and -0x8000 <= raw_int < 0:
            raw_int += 0x10000
        if not 0 <= raw_int < 1 << bits:
            raise EncodeError(f"{reg.name}: {value} out of range for {reg.type.value}")
        return _word_list(raw_int.to_bytes(bits // 8, "big"))

    def decode_value(self, reg: Register, words: tuple[int, ...]) -> int | float | str:
        """Raw register words to a value; an unknown code comes back as ``"code:<n>"``."""
        if len(words) != reg.count:
            raise ValueError(f"{reg.name} needs {reg.count} registers, got {len(words)}")
        if reg.type is ValueType.TEXT:
            raw = _words(*words).rstrip(b"\x00 ")
            return raw.decode(self.text_encoding, errors="replace")
        if reg.type is ValueType.CODE:
            return reg.code_name(words[0]) or f"code:{words[0]}"
        raw_int = int.from_bytes(_words(*words), "big")
        if reg.type is ValueType.I16 and raw_int >= 0x8000:
            raw_int -= 0x10000
        return raw_int if reg.scale == 1.0 else raw_int * reg.scale


def _encode_text(text: str, encoding: str) -> bytes:
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        raise EncodeError(f"{text[exc.start : exc.end]!r} cannot be encoded as {encoding}") from exc


def _register_from(device_type: str, name: str, spec: object) -> Register:
    where = f"{device_type}.{name}"
    if not isinstance(spec, Mapping):
        raise RegisterMapError(f"{where}: must be a table")
    unknown = set(spec) - {"address", "kind", "type", "count", "scale", "codes", "writable"}
    if unknown:
        raise RegisterMapError(f"{where}: unknown keys {sorted(unknown)}")
    address = spec.get("address")
    if not isinstance(address, int) or isinstance(address, bool) or not 0 <= address <= 0xFFFF:
        raise RegisterMapError(f"{where}: address must be an integer 0..65535")
    try:
        kind = RegisterKind(spec.get("kind", "holding"))
        vtype = ValueType(spec.get("type", "u16"))
    except ValueError as exc:
        raise RegisterMapError(f"{where}: {exc}") from None
    default_count = 2 if vtype is ValueType.U32 else 1
    count = spec.get("count", default_count)
    if not isinstance(count, int) or not 1 <= count <= MAX_READ_COUNT:
        raise RegisterMapError(f"{where}: count must be 1..{MAX_READ_COUNT}")
    if vtype is not ValueType.TEXT and count != default_count:
        raise RegisterMapError(f"{where}: {vtype.value} uses {default_count} register(s)")
    scale = spec.get("scale", 1.0)
    if not isinstance(scale, int | float) or isinstance(scale, bool) or scale <= 0:
        raise RegisterMapError(f"{where}: scale must be a positive number")
    codes = _codes_from(where, spec.get("codes", {}))
    if vtype is ValueType.CODE and not codes:
        raise RegisterMapError(f"{where}: a code register needs a codes table")
    writable = spec.get("writable", False)
    if not isinstance(writable, bool):
        raise RegisterMapError(f"{where}: writable must be true or false")
    return Register(name, address, kind, vtype, count, float(scale), codes, writable)


def _codes_from(where: str, raw: object) -> tuple[tuple[int, str], ...]:
    if not isinstance(raw, Mapping):
        raise RegisterMapError(f'{where}: codes must be a table of "number" = "name"')
    codes = []
    for key, label in raw.items():
        try:
            code = int(str(key), 0)
        except ValueError:
            raise RegisterMapError(f"{where}: code key {key!r} is not a number") from None
        if not 0 <= code <= 0xFFFF or not isinstance(label, str):
            raise RegisterMapError(f"{where}: code {key!r} must map a 16-bit number to a name")
        codes.append((code, label))
    return tuple(sorted(codes))
