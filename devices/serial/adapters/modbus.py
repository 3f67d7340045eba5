"""Modbus RTU slaves (firmware_protocols.modbus_rtu).

The poll is one read request chosen by the driver (from the device's register map, e.g. an
event counter and its value in one FC 04 read). Replies are framed by length: the decoder is
told which request it waits for (``expect``), so USB adapters that split a reply do no harm;
t3.5 of silence is kept before every request. The driver gets ``ModbusReply`` (request and
response together, so it knows which registers the words are); exception responses are
replies too (the device is alive) and reach the driver the same way. Event deduplication by
sequence register is the driver's business: it knows the register map.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from devices.serial.adapter import Exchange, ProtocolAdapter, UnsupportedCommandError
from devices.serial.line import LineSettings
from firmware_protocols import modbus_rtu as mb
from firmware_protocols.base import DecodeError

_REQUESTS = (
    mb.ReadRegistersRequest,
    mb.WriteSingleRegisterRequest,
    mb.WriteMultipleRegistersRequest,
)
_RESPONSES = (
    mb.ReadRegistersResponse,
    mb.WriteSingleRegisterResponse,
    mb.WriteMultipleRegistersResponse,
    mb.ExceptionResponse,
)


@dataclass(frozen=True, slots=True)
class ModbusReply:
    request: mb.Request
    response: mb.Response


def max_response_bytes(request: mb.Request) -> int:
    if isinstance(request, mb.ReadRegistersRequest):
        return 5 + 2 * request.count
    return 8


class ModbusAdapter(ProtocolAdapter):
    protocol = "modbus_rtu"

    def __init__(self, address: int, poll_request: mb.ReadRegistersRequest | None = None) -> None:
        super().__init__(address)
        self._decoder = mb.RtuDecoder(mb.Direction.RESPONSE)
        self._poll = None if poll_request is None else self.command(poll_request)

    def poll(self) -> Exchange | None:
        return self._poll

    def command(self, message: object) -> Exchange:
        if not isinstance(message, _REQUESTS) or message.unit != self.address:
            raise UnsupportedCommandError(
                f"modbus unit {self.address} takes a read/write request for itself, not {message!r}"
            )
        return Exchange(mb.encode(message), True, max_response_bytes(message), message)

    def gap_before_send(self, line: LineSettings) -> float:
        return mb.t35_seconds(line.baudrate)

    def begin_reply(self, exchange: Exchange) -> None:
        assert isinstance(exchange.request, _REQUESTS)
        self._decoder.expect(exchange.request)

    def receive(self, data: bytes) -> Iterable[mb.Message | DecodeError]:
        self._decoder.receive_data(data)
        return list(self._decoder.events_received())

    def end_reply(self) -> Iterable[mb.Message | DecodeError]:
        if self._decoder.expecting is not None:
            self._decoder.cancel_expect()
        else:
            self._decoder.receive_gap()  # bytes after the response
        return list(self._decoder.events_received())

    def is_reply(self, exchange: Exchange, item: object) -> bool:
        return isinstance(item, _RESPONSES) and item.unit == self.address

    def frame_address(self, item: object) -> int | None:
        unit = getattr(item, "unit", None)
        return unit if isinstance(unit, int) else None

    def reportable(self, item: object, exchange: Exchange | None) -> object | None:
        if exchange is None or not isinstance(item, _RESPONSES):
            return None
        assert isinstance(exchange.request, _REQUESTS)
        return ModbusReply(exchange.request, item)
