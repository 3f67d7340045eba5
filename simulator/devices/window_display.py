"""Simulated LED window strip (窗口屏): shows the last WindowDisplayState, keeps a history."""

from __future__ import annotations

from firmware_protocols import mqtt_v1 as proto
from simulator.devices.base import SimDevice
from simulator.devices.connection import Endpoint
from simulator.devices.requests import RETRY_AFTER

HISTORY = 10_000


class SimWindowDisplay(SimDevice):
    kind = proto.DeviceKind.WINDOW_DISPLAY

    def __init__(
        self, endpoint: Endpoint, *, window: int, retry_after: float = RETRY_AFTER
    ) -> None:
        super().__init__(endpoint, retry_after=retry_after)
        self.window = window
        self.state: proto.WindowDisplayState | None = None
        self.history: list[proto.WindowDisplayState] = []

    def accepts(self, state: proto.DeviceState) -> bool:
        return isinstance(state, proto.WindowDisplayState)

    def apply(self, state: proto.DeviceState) -> None:
        assert isinstance(state, proto.WindowDisplayState)
        self.state = state
        if len(self.history) < HISTORY:
            self.history.append(state)
