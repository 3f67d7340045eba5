"""The simulated devices of one hall config: every MQTT device, none of the serial ones."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from controller.config.model import Device, DeviceKind, HallConfig, LinkKind
from firmware_protocols import mqtt_v1 as proto
from firmware_protocols.rating_mac import DeviceKey
from simulator.devices.base import SimDevice
from simulator.devices.caller import SimCaller
from simulator.devices.connection import Endpoint
from simulator.devices.evaluator import SimEvaluator
from simulator.devices.hall_screen import SimHallScreen
from simulator.devices.kiosk import SimKiosk
from simulator.devices.requests import RETRY_AFTER
from simulator.devices.window_display import SimWindowDisplay


@dataclass(slots=True)
class Fleet:
    """Devices by family; window-bound families are also indexed by window number."""

    kiosks: list[SimKiosk] = field(default_factory=list)
    hall_screens: list[SimHallScreen] = field(default_factory=list)
    callers: dict[int, SimCaller] = field(default_factory=dict)
    displays: dict[int, SimWindowDisplay] = field(default_factory=dict)
    evaluators: dict[int, SimEvaluator] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # serial devices: not ours to play

    def __iter__(self) -> Iterator[SimDevice]:
        yield from self.kiosks
        yield from self.hall_screens
        yield from self.callers.values()
        yield from self.displays.values()
        yield from self.evaluators.values()

    def by_id(self) -> dict[str, SimDevice]:
        return {device.id: device for device in self}

    async def start(self, within: float = 10.0) -> int:
        """Start every device; returns how many are connected after at most ``within`` s."""
        for device in self:
            await device.start()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await asyncio.gather(*(d.link.wait_connected() for d in self))
        return sum(1 for d in self if d.online)

    async def close(self) -> None:
        await asyncio.gather(*(d.close() for d in self), return_exceptions=True)


def build_fleet(
    config: HallConfig,
    broker: tuple[str, int],
    *,
    time_scale: float = 1.0,
    paper: int = 2000,
    paper_low: int = 50,
    retry_after: float = RETRY_AFTER,
    passwords: Mapping[str, str] | None = None,
    tls: ssl.SSLContext | None = None,
    keys: Callable[[str], DeviceKey | None] = lambda device: None,
) -> Fleet:
    """One simulated device per MQTT device of ``config``; ``time_scale``: real seconds per
    second of the pads' invite countdown; ``passwords``: device id -> broker password (a
    device missing from it connects without a login); ``keys``: each pad's signing key (by
    device id)."""
    fleet = Fleet()
    host, port = broker
    for device in config.devices:
        if device.link is not LinkKind.MQTT:
            fleet.skipped.append(device.id)
            continue
        endpoint = Endpoint(
            host=host,
            port=port,
            hall=config.hall.id,
            device=device.id,
            kind=proto.DeviceKind(device.kind.value),
            password=(passwords or {}).get(device.id, ""),
            tls=tls,
        )
        _add(fleet, device, endpoint, time_scale, paper, paper_low, retry_after, keys(device.id))
    return fleet


def _add(
    fleet: Fleet,
    device: Device,
    endpoint: Endpoint,
    time_scale: float,
    paper: int,
    paper_low: int,
    retry_after: float,
    key: DeviceKey | None,
) -> None:
    if device.kind is DeviceKind.KIOSK:
        fleet.kiosks.append(
            SimKiosk(endpoint, paper=paper, paper_low=paper_low, retry_after=retry_after)
        )
    elif device.kind is DeviceKind.HALL_SCREEN:
        fleet.hall_screens.append(SimHallScreen(endpoint, retry_after=retry_after))
    else:
        window = device.window
        if window is None:
            raise ValueError(f"device {device.id}: a {device.kind.value} needs a window")
        if device.kind is DeviceKind.CALLER:
            fleet.callers[window] = SimCaller(endpoint, window=window, retry_after=retry_after)
        elif device.kind is DeviceKind.WINDOW_DISPLAY:
            fleet.displays[window] = SimWindowDisplay(
                endpoint, window=window, retry_after=retry_after
            )
        else:
            fleet.evaluators[window] = SimEvaluator(
                endpoint, window=window, time_scale=time_scale, retry_after=retry_after, key=key
            )
