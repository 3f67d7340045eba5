"""Hall-config protocol name → adapter. One line per registry name, like the registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from controller.config.model import SerialLink
from devices.serial.adapter import ProtocolAdapter
from devices.serial.adapters.escpos import EscPosAdapter
from devices.serial.adapters.keypad import KeypadAdapter
from devices.serial.adapters.led import DEFAULT_REFRESH_EVERY, LedStripAdapter
from devices.serial.adapters.modbus import ModbusAdapter
from devices.serial.adapters.native import NativeAdapter
from devices.serial.adapters.qsystem import QSystemBoardAdapter, QSystemButtonsAdapter
from firmware_protocols import led_strip, modbus_rtu, registry


class UnknownAdapterError(KeyError):
    """A protocol name with a codec in the registry but no bus adapter (or no codec at all)."""


@dataclass(frozen=True, slots=True)
class AdapterOptions:
    """Per-device choices the driver makes (not in the wire protocol itself)."""

    led_acknowledged: bool = True
    led_refresh_every: int = DEFAULT_REFRESH_EVERY
    modbus_poll: modbus_rtu.ReadRegistersRequest | None = None


def _led(link: SerialLink, options: AdapterOptions) -> ProtocolAdapter:
    target = registry.lookup(link.protocol).definition
    assert isinstance(target, led_strip.LedTarget)
    adapter = LedStripAdapter(
        link.address,
        target,
        acknowledged=options.led_acknowledged,
        refresh_every=options.led_refresh_every,
    )
    adapter.protocol = link.protocol
    return adapter


_FACTORIES: dict[str, Callable[[SerialLink, AdapterOptions], ProtocolAdapter]] = {
    "keypad_bus": lambda link, o: KeypadAdapter(link.address),
    "led_strip": _led,
    "led_strip_hall": _led,
    "led_strip_xor8": _led,
    "led_strip_crc16": _led,
    "qsystem_board": lambda link, o: QSystemBoardAdapter(link.address),
    "qsystem_buttons": lambda link, o: QSystemButtonsAdapter(link.address),
    "modbus_rtu": lambda link, o: ModbusAdapter(link.address, o.modbus_poll),
    "native": lambda link, o: NativeAdapter(link.address),
    "escpos": lambda link, o: EscPosAdapter(link.address),
}


def adapter_for(link: SerialLink, options: AdapterOptions = AdapterOptions()) -> ProtocolAdapter:
    """The adapter for a device's ``serial`` link; names the known protocols if unknown."""
    factory = _FACTORIES.get(link.protocol)
    if factory is None:
        known = ", ".join(sorted(_FACTORIES))
        raise UnknownAdapterError(f"no bus adapter for protocol {link.protocol!r}; known: {known}")
    return factory(link, options)


def known_protocols() -> list[str]:
    """Protocol names a hall configuration may give a serial device."""
    return sorted(name for name in _FACTORIES if name in registry.PROTOCOLS)
