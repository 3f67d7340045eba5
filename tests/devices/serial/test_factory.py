"""Protocol names from hall config → adapters."""

from __future__ import annotations

import pytest

from controller.config.model import SerialLink
from devices.serial.adapters import AdapterOptions, UnknownAdapterError, adapter_for
from devices.serial.adapters.escpos import EscPosAdapter
from devices.serial.adapters.keypad import KeypadAdapter
from devices.serial.adapters.led import LedStripAdapter
from devices.serial.adapters.modbus import ModbusAdapter
from devices.serial.adapters.native import NativeAdapter
from devices.serial.adapters.qsystem import QSystemBoardAdapter, QSystemButtonsAdapter
from firmware_protocols import led_strip, modbus_rtu
from firmware_protocols.registry import PROTOCOLS


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("keypad_bus", KeypadAdapter),
        ("led_strip", LedStripAdapter),
        ("led_strip_hall", LedStripAdapter),
        ("led_strip_xor8", LedStripAdapter),
        ("led_strip_crc16", LedStripAdapter),
        ("qsystem_board", QSystemBoardAdapter),
        ("qsystem_buttons", QSystemButtonsAdapter),
        ("modbus_rtu", ModbusAdapter),
        ("native", NativeAdapter),
        ("escpos", EscPosAdapter),
    ],
)
def test_every_registry_name_has_an_adapter(name: str, kind: type) -> None:
    adapter = adapter_for(SerialLink("rs485-1", 5, name))
    assert isinstance(adapter, kind) and adapter.address == 5


def test_the_factory_covers_the_whole_registry() -> None:
    for name in PROTOCOLS:
        adapter_for(SerialLink("rs485-1", 5, name))


def test_led_names_select_the_vendor_checksum_and_variant() -> None:
    adapter = adapter_for(SerialLink("b", 1, "led_strip_hall"))
    assert isinstance(adapter, LedStripAdapter)
    assert adapter.target.variant is led_strip.Variant.HALL_SCREEN
    crc = adapter_for(SerialLink("b", 1, "led_strip_crc16"))
    assert isinstance(crc, LedStripAdapter) and crc.target.protocol is led_strip.CRC16_VENDOR


def test_modbus_poll_comes_from_the_options() -> None:
    request = modbus_rtu.read_input_registers(5, 0, 3)
    adapter = adapter_for(SerialLink("b", 5, "modbus_rtu"), AdapterOptions(modbus_poll=request))
    exchange = adapter.poll()
    assert exchange is not None and exchange.frame == modbus_rtu.encode(request)
    assert exchange.max_reply_bytes == 11
    assert adapter_for(SerialLink("b", 5, "modbus_rtu")).poll() is None


def test_unknown_protocol_names_the_known_ones() -> None:
    with pytest.raises(UnknownAdapterError, match="keypad_bus"):
        adapter_for(SerialLink("b", 1, "dlt645_v2"))


def test_adapters_put_the_vendor_documents_bytes_on_the_wire() -> None:
    """The frames the adapters send are the hex examples of docs/protocol/*.md."""
    from firmware_protocols import keypad_bus as kb

    strip = adapter_for(SerialLink("b", 3, "led_strip")).command(
        led_strip.ShowText(3, "请A001号到3号窗口")
    )
    assert strip.frame == bytes.fromhex(
        "AA 03 BB 51 54 20 01 00 99 00 63 C7 EB 41 30 30 31 BA C5 B5 BD 33 BA C5 B4 B0 BF DA FF"
    )
    assert strip.expects_reply and strip.max_reply_bytes == 9
    poll = adapter_for(SerialLink("b", 5, "keypad_bus")).poll()
    assert poll is not None and poll.frame == bytes.fromhex("FF 68 02 02 68 05 04 09 16")
    keypad = adapter_for(SerialLink("b", 5, "keypad_bus"))
    ack = keypad.follow_up(poll, kb.KeyPress(5, kb.Key.CALL))
    assert ack is not None and not ack.expects_reply
    assert ack.frame == bytes.fromhex("FF 68 03 03 68 05 10 0C 21 16")  # the echo
    native_poll = adapter_for(SerialLink("b", 3, "native")).poll()
    assert native_poll is not None and native_poll.frame[:7] == bytes.fromhex(
        "A5 5A 00 03 01 01 00"
    )
