"""Wiring of each hall's devices into the daemon: one MQTT link and one device hub per hall.

Kept apart from ``controller.daemon`` so the daemon runs without devices (tests, replay) and
the devices layer never imports the daemon shell: the hub only sees a ``HallPort``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from controller.daemon import Daemon, Extension
from controller.runtime import HallRuntime
from devices.hub import DeviceHub
from devices.mqtt.link import Inbound, LinkConfig, MqttLink

log = logging.getLogger("hallctl.daemon")


def mqtt_devices(
    followup_url: Callable[[HallRuntime, int], str | None] | None = None,
    *,
    retry_delays: tuple[float, ...] | None = None,
) -> Extension:
    """A daemon extension that connects every hall with MQTT devices to its broker."""

    async def start(daemon: Daemon, tasks: asyncio.TaskGroup, stop: asyncio.Event) -> None:
        for runtime in daemon.halls.values():
            config = runtime.engine.config
            if not any(d.link.value == "mqtt" for d in config.devices):
                continue
            hub_box: list[DeviceHub] = []

            def deliver(item: Inbound, box: list[DeviceHub] = hub_box) -> None:
                box[0].on_inbound(item)

            def bad(device: str, reason: str, detail: str, box: list[DeviceHub] = hub_box) -> None:
                box[0].on_bad_payload(device, reason, detail)

            link = MqttLink(
                LinkConfig(host=config.mqtt.host, port=config.mqtt.port, hall=runtime.hall_id),
                handler=deliver,
                on_bad_message=bad,
            )
            url = (lambda t, r=runtime: followup_url(r, t)) if followup_url else (lambda t: None)
            hub = (
                DeviceHub(runtime, link, followup_url=url, retry_delays=retry_delays)
                if retry_delays
                else DeviceHub(runtime, link, followup_url=url)
            )
            hub_box.append(hub)
            daemon.hubs[runtime.hall_id] = hub
            tasks.create_task(_run(link, hub, stop), name=f"hallctl-devices-{runtime.hall_id}")

    return start


async def _run(link: MqttLink, hub: DeviceHub, stop: asyncio.Event) -> None:
    async with link:
        await hub.run(stop)
