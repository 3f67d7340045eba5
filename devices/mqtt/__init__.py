"""MQTT transport for IP devices: the link, its reconnect machine, ids, and a test broker."""

from devices.mqtt.ids import MonotonicIds
from devices.mqtt.link import Inbound, LinkBusy, LinkConfig, LinkDown, LinkStats, MqttLink
from devices.mqtt.reconnect import BackoffPolicy, LinkState, Reconnector

__all__ = [
    "BackoffPolicy",
    "Inbound",
    "LinkBusy",
    "LinkConfig",
    "LinkDown",
    "LinkState",
    "LinkStats",
    "MonotonicIds",
    "MqttLink",
    "Reconnector",
]
