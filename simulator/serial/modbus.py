"""A simulated Modbus RTU slave with a register map (docs/protocol/modbus.md).

It frames requests by line silence (t3.5), as a real slave does, answers reads and writes of
registers it has, and replies ``ILLEGAL_DATA_ADDRESS`` for the rest.
"""

from __future__ import annotations

from typing import Any, ClassVar

from firmware_protocols import modbus_rtu as mb
from firmware_protocols.base import Decoder
from simulator.serial.device import SimDevice

_REQUESTS = (
    mb.ReadRegistersRequest,
    mb.WriteSingleRegisterRequest,
    mb.WriteMultipleRegistersRequest,
)


class SimModbusDevice(SimDevice):
    checksum_index: ClassVar[int | None] = -1

    def __init__(
        self,
        unit: int,
        *,
        holding: dict[int, int] | None = None,
        inputs: dict[int, int] | None = None,
        turnaround_s: float = 0.005,
    ) -> None:
        super().__init__(unit, turnaround_s=turnaround_s)
        self.holding = dict(holding or {})
        self.inputs = dict(inputs or {})
        self.requests: list[mb.Message] = []

    def make_decoder(self) -> Decoder[Any]:
        return mb.RtuDecoder(mb.Direction.REQUEST)

    def hear(self, data: bytes, at: float) -> None:
        self._decoder.receive_data(data)  # a frame ends only at t3.5 of silence

    def line_quiet(self, at: float) -> None:
        decoder = self._decoder
        assert isinstance(decoder, mb.RtuDecoder)
        decoder.receive_gap()
        self._drain(at)

    def handle(self, frame: object, at: float) -> bytes | None:
        unit = getattr(frame, "unit", None)
        if unit not in (self.address, mb.BROADCAST):
            return None
        assert isinstance(frame, _REQUESTS)
        self.requests.append(frame)
        response = self._serve(frame)
        return None if unit == mb.BROADCAST else mb.encode(response)

    def _serve(self, request: mb.Request) -> mb.Response:
        fc = request.pdu()[0]
        illegal = mb.ExceptionResponse(self.address, fc, mb.ExceptionCode.ILLEGAL_DATA_ADDRESS)
        if isinstance(request, mb.ReadRegistersRequest):
            table = self.holding if fc == mb.FunctionCode.READ_HOLDING_REGISTERS else self.inputs
            span = range(request.start, request.start + request.count)
            if any(a not in table for a in span):
                return illegal
            values = tuple(table[a] for a in span)
            return mb.ReadRegistersResponse(self.address, request.function, values)
        if isinstance(request, mb.WriteSingleRegisterRequest):
            if request.register not in self.holding:
                return illegal
            self.holding[request.register] = request.value
            return mb.WriteSingleRegisterResponse(self.address, request.register, request.value)
        span = range(request.start, request.start + len(request.values))
        if any(a not in self.holding for a in span):
            return illegal
        for a, v in zip(span, request.values, strict=True):
            self.holding[a] = v
        return mb.WriteMultipleRegistersResponse(self.address, request.start, len(request.values))
