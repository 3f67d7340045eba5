"""Wiring of each hall's devices into the daemon: one MQTT link and one device hub per hall,
one bus master per RS-485 bus.

Kept apart from ``controller.daemon.process`` so the daemon runs without devices (tests, replay) and
the devices layer never imports the daemon shell: the hub only sees a ``HallPort``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from controller.auth.device_keys import DeviceKeys, device_keys_path
from controller.config.model import DeviceKind, HallConfig, LinkKind
from controller.daemon.process import Daemon, Extension
from controller.daemon.runtime import HallRuntime
from devices.availability import Availability
from devices.hub import RECONCILE_S, DeviceHub
from devices.mqtt.credentials import CredentialStore, credentials_path
from devices.mqtt.identity import controller_client_id
from devices.mqtt.link import Inbound, LinkConfig, MqttLink
from devices.mqtt.tls import client_context
from devices.outbound import RETRY_DELAYS_S
from devices.serial_devices import SerialDevices, build_buses
from firmware_protocols.mqtt_v1 import PayloadError

log = logging.getLogger("hallctl.daemon")


def hall_devices(
    followup_url: Callable[[HallRuntime, int], str | None] | None = None,
    *,
    retry_delays: tuple[float, ...] | None = None,
    reconcile_s: float = RECONCILE_S,
) -> Extension:
    """A daemon extension that connects every hall's devices: MQTT ones through one link and
    hub per hall, RS-485 ones through a bus master per bus; both share one availability
    record, so the console sees every device the same way."""

    async def start(daemon: Daemon, tasks: asyncio.TaskGroup, stop: asyncio.Event) -> None:
        for runtime in daemon.halls.values():
            config = runtime.engine.config
            url = (lambda t, r=runtime: followup_url(r, t)) if followup_url else (lambda t: None)
            availability: Availability | None = None
            if any(d.link.value == "mqtt" for d in config.devices):
                availability = _start_mqtt(
                    daemon, tasks, stop, runtime, url, retry_delays, reconcile_s
                )
            if any(d.link.value == "serial" for d in config.devices):
                serial = SerialDevices(
                    runtime,
                    build_buses(config),
                    availability or Availability(),
                    followup_url=url,
                )
                daemon.serial[runtime.hall_id] = serial
                tasks.create_task(serial.run(stop), name=f"hallctl-serial-{runtime.hall_id}")

    return start


def _start_mqtt(
    daemon: Daemon,
    tasks: asyncio.TaskGroup,
    stop: asyncio.Event,
    runtime: HallRuntime,
    url: Callable[[int], str | None],
    retry_delays: tuple[float, ...] | None,
    reconcile_s: float,
) -> Availability:
    config = runtime.engine.config
    hub_box: list[DeviceHub] = []

    def deliver(item: Inbound, box: list[DeviceHub] = hub_box) -> None:
        box[0].on_inbound(item)

    def bad(device: str, error: PayloadError, box: list[DeviceHub] = hub_box) -> None:
        box[0].on_bad_payload(device, error)

    def gate(device: str, box: list[DeviceHub] = hub_box) -> bool:
        return box[0].admits(device)

    link = MqttLink(
        link_config(config, daemon.db_path),
        handler=deliver,
        on_bad_message=bad,
        gate=gate,
    )
    keys = DeviceKeys(device_keys_path(daemon.db_path))
    pads = [
        d.id for d in config.devices if d.kind is DeviceKind.EVALUATOR and d.link is LinkKind.MQTT
    ]
    created = keys.ensure(runtime.hall_id, pads)
    if created:
        log.info(
            "signing keys created for pads", extra={"devices": created, "file": str(keys.path)}
        )
    hub = DeviceHub(
        runtime,
        link,
        followup_url=url,
        keys=keys.lookup(runtime.hall_id),
        retry_delays=retry_delays or RETRY_DELAYS_S,
        reconcile_s=reconcile_s,
    )
    hub_box.append(hub)
    daemon.hubs[runtime.hall_id] = hub
    tasks.create_task(_run(link, hub, stop), name=f"hallctl-devices-{runtime.hall_id}")
    return hub.availability


def link_config(config: HallConfig, db_path: Path) -> LinkConfig:
    """The controller's login for one hall: user ``c/{hall}`` (or ``[mqtt] username``), the
    password from the credentials file (``CredentialsError`` if it has none), TLS if asked."""
    mqtt = config.mqtt
    hall = config.hall.id
    password = mqtt.password
    if mqtt.login and not password:
        path = credentials_path(db_path, mqtt.credentials_file)
        password = CredentialStore.load(path).controller_password(hall)
    return LinkConfig(
        host=mqtt.host,
        port=mqtt.port,
        hall=hall,
        username=(mqtt.username or controller_client_id(hall)) if mqtt.login else "",
        password=password if mqtt.login else "",
        tls=client_context(mqtt.ca_file, mqtt.cert_file, mqtt.key_file) if mqtt.tls else None,
    )


mqtt_devices = hall_devices  # the name the first callers used


async def _run(link: MqttLink, hub: DeviceHub, stop: asyncio.Event) -> None:
    async with link:
        await hub.run(stop)
