"""Simulated hall screen (综合屏): latest calls and waiting counts per service."""

from __future__ import annotations

from firmware_protocols import mqtt_v1 as proto
from simulator.devices.base import SimDevice

HISTORY = 10_000


class SimHallScreen(SimDevice):
    kind = proto.DeviceKind.HALL_SCREEN
    state: proto.HallScreenState | None = None

    def accepts(self, state: proto.DeviceState) -> bool:
        return isinstance(state, proto.HallScreenState)

    def apply(self, state: proto.DeviceState) -> None:
        assert isinstance(state, proto.HallScreenState)
        self.state = state

    def waiting(self) -> dict[str, int] | None:
        """Waiting count per service id as shown, or None before the first state."""
        if self.state is None:
            return None
        return {entry.service: entry.waiting for entry in self.state.waiting}
