"""Several simulated devices on one pseudo-terminal, like a multi-drop RS-485 segment."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from devices.serial.line import LineSettings
from simulator.serial.device import SimDevice
from simulator.serial.line import SimLine

QUIET_CHARS = 3.5


class SimBus:
    """Every device hears every byte from the master; each answers only its own frames.

    Use as ``async with SimBus(settings, devices) as bus:`` and open ``bus.path``.
    """

    def __init__(self, settings: LineSettings, devices: Iterable[SimDevice] = ()) -> None:
        self.settings = settings
        self.line = SimLine(settings)
        self.devices: list[SimDevice] = []
        self._quiet_timer: asyncio.TimerHandle | None = None
        for device in devices:
            self.add(device)

    @property
    def path(self) -> str:
        return self.line.path

    def add(self, device: SimDevice) -> SimDevice:
        device.attach(self)
        self.devices.append(device)
        return device

    async def __aenter__(self) -> SimBus:
        self.line.start(self._heard)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._quiet_timer is not None:
            self._quiet_timer.cancel()
        self.line.close()

    def _heard(self, data: bytes, at: float) -> None:
        for device in self.devices:
            device.hear(data, at)
        if self._quiet_timer is not None:
            self._quiet_timer.cancel()
        quiet_at = at + QUIET_CHARS * self.settings.char_time
        self._quiet_timer = self.line.loop.call_at(quiet_at, self._quiet, quiet_at)

    def _quiet(self, at: float) -> None:
        self._quiet_timer = None
        for device in self.devices:
            device.line_quiet(at)
