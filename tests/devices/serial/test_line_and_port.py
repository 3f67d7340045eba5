"""Line settings, wire time, reply deadlines, and opening a port (on a pseudo-terminal)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty

import pytest

from controller.config.model import SerialBus
from devices.serial.adapter import Exchange
from devices.serial.bus import BusMaster, BusSettings
from devices.serial.line import LineSettings, LineSettingsError, Parity
from devices.serial.port import PortClosedError, PortOpenError, open_port
from tests.devices.serial.harness import wait_until


@pytest.mark.parametrize(
    ("bytesize", "parity", "stopbits", "bits"),
    [(8, "N", 1, 10), (8, "E", 1, 11), (8, "N", 2, 11), (7, "E", 1, 10), (8, "O", 2, 12)],
)
def test_bits_per_character(bytesize: int, parity: str, stopbits: int, bits: int) -> None:
    bus = SerialBus("b", "/dev/null", 9600, bytesize, parity, stopbits)
    assert LineSettings.from_bus(bus).bits_per_char == bits


def test_wire_time_matches_the_reference_figures() -> None:
    line = LineSettings(9600)
    assert line.wire_time(15) == pytest.approx(0.015625)  # "a 15-byte frame takes 15.6 ms"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"baudrate": 0}, "baud"), ({"bytesize": 9}, "byte size"), ({"stopbits": 3}, "stop")],
)
def test_impossible_line_settings_are_refused(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(LineSettingsError, match=message):
        LineSettings(**kwargs)  # type: ignore[arg-type]


def test_unknown_parity_letter_is_refused() -> None:
    with pytest.raises(LineSettingsError, match="parity"):
        LineSettings.from_bus(SerialBus("b", "/dev/null", parity="X"))


def test_reply_deadline_is_frame_times_plus_turnaround_plus_margin() -> None:
    bus = SerialBus("b", "/dev/null", 9600, parity="E", turnaround_ms=10)
    master = BusMaster(bus, BusSettings(timeout_margin_s=0.005))
    assert master.line.parity is Parity.EVEN
    exchange = Exchange(b"\x00" * 9, True, 10)
    # 10 reply bytes x 11 bits at 9600 = 11.46 ms, + 10 ms turnaround + 5 ms margin.
    assert master.reply_deadline(exchange, 100.0) == pytest.approx(100.0 + 0.0114583 + 0.015)


async def test_open_port_on_a_pty_moves_bytes_both_ways() -> None:
    master_fd, slave_fd = os.openpty()
    tty.setraw(slave_fd)
    received: list[bytes] = []
    try:
        path = os.ttyname(slave_fd)
        port = await open_port(path, LineSettings(115200), lambda d, t: received.append(d))
        port.write(b"\x10\x04\x01")
        os.set_blocking(master_fd, False)
        sent = bytearray()

        def arrived() -> bool:
            with contextlib.suppress(BlockingIOError):
                sent.extend(os.read(master_fd, 16))
            return len(sent) >= 3

        await wait_until(arrived)
        assert bytes(sent) == b"\x10\x04\x01"
        os.write(master_fd, b"\x12")
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.005)
        assert b"".join(received) == b"\x12"
        await port.close()
        await port.close()  # twice is fine
        assert not port.is_open
        with pytest.raises(PortClosedError):
            port.write(b"x")
    finally:
        os.close(master_fd)
        os.close(slave_fd)


async def test_opening_a_missing_port_is_a_typed_error() -> None:
    with pytest.raises(PortOpenError, match="/dev/does-not-exist"):
        await open_port("/dev/does-not-exist", LineSettings(), lambda d, t: None)


async def test_the_bus_keeps_retrying_a_port_that_cannot_be_opened() -> None:
    from devices.mqtt.reconnect import BackoffPolicy

    settings = BusSettings(reconnect=BackoffPolicy(0.01, 1.0, 0.01, 0.0))
    master = BusMaster(SerialBus("b", "/dev/does-not-exist"), settings)
    master.start()
    await wait_until(lambda: master.statistics().port_open_failures >= 3)
    assert master.statistics().port_opens == 0
    await asyncio.wait_for(master.close(), 1.0)
