"""A bus master wired to a simulated bus, and a listener that records what drivers would see."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from controller.config.model import SerialBus
from devices.serial.adapter import AvailabilityChange, DeviceReport, ProtocolAdapter
from devices.serial.bus import BusMaster, BusSettings
from devices.serial.line import LineSettings
from simulator.serial.bus import SimBus
from simulator.serial.device import SimDevice

FAST = 115200
SLOW = 9600
# Functional tests are about behaviour, not timing: a generous margin keeps a loaded machine's
# scheduling delays from turning into timeouts (tests about timeouts set their own).
MARGIN_S = 0.05


@dataclass
class Recorder:
    """A driver stand-in: keeps every report and availability change, in order."""

    reports: list[DeviceReport] = field(default_factory=list)
    changes: list[AvailabilityChange] = field(default_factory=list)

    def device_report(self, report: DeviceReport) -> None:
        self.reports.append(report)

    def availability_changed(self, change: AvailabilityChange) -> None:
        self.changes.append(change)

    def items(self, address: int) -> list[object]:
        return [r.item for r in self.reports if r.address == address]

    def states(self, address: int) -> list[str]:
        return [c.availability.value for c in self.changes if c.address == address]


async def wait_until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Poll ``predicate`` until true; fail the test with a clear message after ``within`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.005)


@dataclass
class Rig:
    sim: SimBus
    master: BusMaster
    recorder: Recorder


@asynccontextmanager
async def rig(
    devices: Iterable[SimDevice],
    adapters: Iterable[ProtocolAdapter],
    *,
    baudrate: int = FAST,
    turnaround_ms: float = 2.0,
    settings: BusSettings | None = None,
    start: bool = True,
) -> AsyncIterator[Rig]:
    line = LineSettings(baudrate)
    async with SimBus(line, devices) as sim:
        bus = SerialBus("rs485-test", sim.path, baudrate, turnaround_ms=turnaround_ms)
        master = BusMaster(bus, settings or BusSettings(timeout_margin_s=MARGIN_S))
        recorder = Recorder()
        for adapter in adapters:
            master.attach(adapter, recorder)
        if start:
            master.start()
        try:
            yield Rig(sim, master, recorder)
        finally:
            await master.close()
