"""Protocol names used in hall config (``[[devices]] protocol = "..."``) → codecs.

One line per protocol. Each entry says how to build a decoder for each side of the bus: what
the controller hears from such a device (``host_decoder``) and what the device hears from the
controller (``device_decoder``, used by the simulator). ``definition`` carries parameters a
driver needs to encode for this name (for LED strips: the vendor definition and variant).
To add a protocol, import its module and add a line to ``PROTOCOLS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from firmware_protocols import escpos, keypad_bus, led_strip, modbus_rtu, native, qsystem
from firmware_protocols.base import Decoder

DecoderFactory = Callable[[], Decoder[Any]]


@dataclass(frozen=True, slots=True)
class ProtocolEntry:
    host_decoder: DecoderFactory
    device_decoder: DecoderFactory
    definition: object = None


def _led(target: led_strip.LedTarget) -> ProtocolEntry:
    def factory() -> Decoder[Any]:
        return led_strip.LedStripDecoder(target.protocol)

    return ProtocolEntry(factory, factory, target)


def _qsystem(role: qsystem.Role) -> DecoderFactory:
    return lambda: qsystem.QSystemDecoder(role)


_STRIP = led_strip.Variant.WINDOW_STRIP
_HALL = led_strip.Variant.HALL_SCREEN

PROTOCOLS: dict[str, ProtocolEntry] = {
    "keypad_bus": ProtocolEntry(keypad_bus.KeypadBusDecoder, keypad_bus.KeypadBusDecoder),
    "led_strip": _led(led_strip.LedTarget(led_strip.STANDARD, _STRIP)),
    "led_strip_hall": _led(led_strip.LedTarget(led_strip.STANDARD, _HALL)),
    "led_strip_xor8": _led(led_strip.LedTarget(led_strip.XOR8_VENDOR, _STRIP)),
    "led_strip_crc16": _led(led_strip.LedTarget(led_strip.CRC16_VENDOR, _STRIP)),
    "qsystem_board": ProtocolEntry(_qsystem(qsystem.Role.SERVER), _qsystem(qsystem.Role.DEVICE)),
    "qsystem_buttons": ProtocolEntry(_qsystem(qsystem.Role.SERVER), _qsystem(qsystem.Role.DEVICE)),
    "modbus_rtu": ProtocolEntry(
        lambda: modbus_rtu.RtuDecoder(modbus_rtu.Direction.RESPONSE),
        lambda: modbus_rtu.RtuDecoder(modbus_rtu.Direction.REQUEST),
    ),
    "native": ProtocolEntry(native.NativeDecoder, native.NativeDecoder),
    "escpos": ProtocolEntry(escpos.StatusDecoder, escpos.TicketDecoder),
}


class UnknownProtocolError(KeyError):
    """A hall config names a protocol no codec is registered for."""


def lookup(name: str) -> ProtocolEntry:
    """The entry for ``name``, or an error that lists the names that do exist."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        known = ", ".join(sorted(PROTOCOLS))
        raise UnknownProtocolError(f"unknown protocol {name!r}; known: {known}") from None
