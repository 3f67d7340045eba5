"""Who is who on the broker: MQTT client ids and user names of the controller and the devices.

A client id is also the user name (the broker is told ``use_username_as_clientid``), so a
client cannot pick somebody else's id: it gets the one its password proves. The two sets are
disjoint by construction: ids contain ``/``, which hall and device ids cannot (``[A-Za-z0-9_-]``),
and start with ``d/`` (a device, three parts) or ``c/`` (a hall's controller, two parts). The old
scheme ``hallctl-{hall}-{device}`` let device ``town`` of hall ``baishi`` take the id of hall
``baishi-town``'s controller.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from firmware_protocols import mqtt_v1 as proto


class Role(enum.Enum):
    CONTROLLER = "c"
    DEVICE = "d"


@dataclass(frozen=True, slots=True)
class Identity:
    """One broker identity: a hall's controller (``device`` None) or one device of a hall."""

    hall: str
    device: str | None = None

    def __post_init__(self) -> None:
        proto.check_id(self.hall, "hall")
        if self.device is not None:
            proto.check_id(self.device, "device")

    @property
    def role(self) -> Role:
        return Role.CONTROLLER if self.device is None else Role.DEVICE

    @property
    def client_id(self) -> str:
        """Also the user name: ``c/{hall}`` or ``d/{hall}/{device}``."""
        if self.device is None:
            return f"c/{self.hall}"
        return f"d/{self.hall}/{self.device}"


def controller_client_id(hall: str) -> str:
    return Identity(hall).client_id


def device_client_id(hall: str, device: str) -> str:
    return Identity(hall, device).client_id


def parse_client_id(value: str) -> Identity:
    """The identity a client id names, or ``ValueError`` (``proto.TopicError``)."""
    parts = value.split("/")
    if len(parts) == 2 and parts[0] == Role.CONTROLLER.value:
        return Identity(parts[1])
    if len(parts) == 3 and parts[0] == Role.DEVICE.value:
        return Identity(parts[1], parts[2])
    raise proto.TopicError(f"{value!r} is not a hallctl client id (c/HALL or d/HALL/DEVICE)")
