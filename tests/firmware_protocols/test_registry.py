from __future__ import annotations

import pytest

from firmware_protocols import registry
from firmware_protocols.led_strip import LedTarget, Variant
from firmware_protocols.qsystem import ButtonPress, encode


def test_registry_builds_working_decoders_for_every_name() -> None:
    for name, entry in registry.PROTOCOLS.items():
        for factory in (entry.host_decoder, entry.device_decoder):
            decoder = factory()
            decoder.receive_data(b"\x00")
            assert isinstance(list(decoder.events_received()), list), name


def test_registry_sides_and_definitions() -> None:
    buttons = registry.lookup("qsystem_buttons")
    press = encode(ButtonPress(5, 0x41))
    host = buttons.host_decoder()
    host.receive_data(press)
    assert list(host.events_received()) == [ButtonPress(5, 0x41)]
    hall = registry.lookup("led_strip_hall").definition
    assert isinstance(hall, LedTarget) and hall.variant is Variant.HALL_SCREEN


def test_registry_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(registry.UnknownProtocolError, match="keypad_bus"):
        registry.lookup("keypad")
