"""Simulated window keypad (呼叫器): sends Press operations, shows the last CallerState."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from firmware_protocols import mqtt_v1 as proto
from simulator.devices.base import SimDevice
from simulator.devices.connection import Endpoint
from simulator.devices.requests import RETRY_AFTER


@dataclass(frozen=True, slots=True)
class PressResult:
    op: proto.PressOp
    reply: proto.Reply | None  # None: unanswered after every re-send

    @property
    def ok(self) -> bool:
        return self.reply is not None and self.reply.ok

    @property
    def number(self) -> str | None:
        return self.reply.number if self.reply is not None else None

    @property
    def code(self) -> str | None:
        return self.reply.code if self.reply is not None else "unanswered"


class SimCaller(SimDevice):
    kind = proto.DeviceKind.CALLER

    def __init__(
        self, endpoint: Endpoint, *, window: int, retry_after: float = RETRY_AFTER
    ) -> None:
        super().__init__(endpoint, retry_after=retry_after)
        self.window = window
        self.state: proto.CallerState | None = None
        self.presses: list[PressResult] = []
        self.changed = asyncio.Event()  # set at every applied state; waiters clear it

    def accepts(self, state: proto.DeviceState) -> bool:
        return isinstance(state, proto.CallerState)

    def apply(self, state: proto.DeviceState) -> None:
        assert isinstance(state, proto.CallerState)
        self.state = state
        self.changed.set()

    async def press(
        self,
        op: proto.PressOp,
        *,
        staff: str | None = None,
        number: str | None = None,
        service: str | None = None,
        window: int | None = None,
    ) -> PressResult:
        """Press a key; raises ValueError for arguments ``op`` does not take."""
        proto.Press(rid=0, op=op, staff=staff, number=number, service=service, window=window)
        reply, _ = await self.requests.send(
            lambda rid: proto.Press(
                rid=rid, op=op, staff=staff, number=number, service=service, window=window
            )
        )
        result = PressResult(op, reply)
        self.presses.append(result)
        return result
