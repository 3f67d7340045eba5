"""Device availability, one mechanism for every family and link (MQTT birth/will, serial polls).

A device is online from its birth (or first good serial reply) until its will (or three missed
polls). MQTT births carry a session number that grows with every connect. A birth is always
accepted, whatever its session: the device that sends it is alive now, and a replaced pad, a
wiped flash or a second simulator run counts from 0 again (a new incarnation). A will whose
session is not the one of the last birth is a leftover of another connection or incarnation
(delivered late by the broker) and is ignored, so it cannot mark a live device offline.
(docs/protocol/mqtt.md section 5.)
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class DeviceStatus:
    device: str
    kind: str
    link: str
    window: int | None = None
    online: bool = False
    since_ms: int = 0
    session: int | None = None
    firmware: str = ""
    model: str = ""
    last_message_ms: int = 0
    errors: int = 0
    last_error: str = ""
    failed_commands: int = 0
    printer: str = ""  # kiosks: paper ok/low/out, jam, cover open
    misconfigured: str = ""  # online, but announced another kind than configured: no state


@dataclass(slots=True)
class Availability:
    """Every configured device's status, keyed by device id."""

    devices: dict[str, DeviceStatus] = field(default_factory=dict)

    def add(self, device: str, kind: str, link: str, window: int | None) -> None:
        self.devices[device] = DeviceStatus(device, kind, link, window)

    def birth(
        self, device: str, session: int | None, now_ms: int, *, firmware: str = "", model: str = ""
    ) -> bool:
        """Record a birth, whatever its session (a lower one is a new incarnation); True when
        the device came online or started a new session."""
        status = self.devices[device]
        changed = not status.online or status.session != session
        status.session = session
        status.firmware = firmware or status.firmware
        status.model = model or status.model
        status.last_message_ms = now_ms
        if not status.online:
            status.online = True
            status.since_ms = now_ms
        return changed

    def will(self, device: str, session: int, now_ms: int) -> bool | None:
        """Record a will: True when it took the device offline, False when it changed nothing,
        None when it is stale (its session is not the current birth's: docs/protocol/mqtt.md
        section 5) and the device should be asked to re-announce."""
        status = self.devices[device]
        if status.session is not None and session != status.session:
            return None
        if not status.online:
            return False
        status.online = False
        status.since_ms = now_ms
        return True

    def offline(self, device: str, now_ms: int) -> bool:
        """For links without a will (serial): the device stopped answering."""
        status = self.devices[device]
        if not status.online:
            return False
        status.online = False
        status.since_ms = now_ms
        return True

    def seen(self, device: str, now_ms: int) -> None:
        self.devices[device].last_message_ms = now_ms

    def error(self, device: str, reason: str) -> None:
        status = self.devices[device]
        status.errors += 1
        status.last_error = reason

    def online_count(self) -> int:
        return sum(1 for s in self.devices.values() if s.online)
