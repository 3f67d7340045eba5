"""The simulated line and devices on their own, driven through a raw port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from devices.serial.line import LineSettings
from devices.serial.port import SerialPort, open_port
from firmware_protocols import keypad_bus as kb
from firmware_protocols import modbus_rtu as mb
from firmware_protocols import native as nv
from firmware_protocols.base import ErrorReason
from simulator.serial.bus import SimBus
from simulator.serial.device import SimDevice
from simulator.serial.keypad import SimKeypad
from simulator.serial.modbus import SimModbusDevice
from simulator.serial.native import SimNativeDevice


@dataclass
class Wire:
    port: SerialPort
    chunks: list[tuple[bytes, float]] = field(default_factory=list)

    @property
    def data(self) -> bytes:
        return b"".join(c for c, _ in self.chunks)

    async def until(self, nbytes: int, within: float = 2.0) -> bytes:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while len(self.data) < nbytes and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.002)
        return self.data


@asynccontextmanager
async def wired(baudrate: int, *devices: SimDevice) -> AsyncIterator[tuple[SimBus, Wire]]:
    line = LineSettings(baudrate)
    async with SimBus(line, devices) as sim:
        chunks: list[tuple[bytes, float]] = []
        port = await open_port(sim.path, line, lambda d, t: chunks.append((d, t)))
        try:
            yield sim, Wire(port, chunks)
        finally:
            await port.close()


async def test_a_reply_arrives_no_sooner_than_the_line_allows() -> None:
    pad = SimKeypad(5, turnaround_s=0.010)
    async with wired(9600, pad) as (sim, wire):
        loop = asyncio.get_running_loop()
        poll = kb.encode(kb.Poll(5))
        sent = loop.time()
        wire.port.write(poll)
        reply = await wire.until(9)
        took = wire.chunks[-1][1] - sent
        minimum = sim.settings.wire_time(len(poll) + 9) + 0.010
        assert reply == kb.encode(kb.Idle(5))
        assert minimum <= took
        assert took < minimum + 0.1  # generous: scheduling on a loaded machine adds delay


async def test_only_the_addressed_device_answers_and_events_repeat_until_acked() -> None:
    one, two = SimKeypad(1, turnaround_s=0.001), SimKeypad(2, turnaround_s=0.001)
    async with wired(115200, one, two) as (_, wire):
        two.press(kb.Key.CALL)
        wire.port.write(kb.encode(kb.Poll(2)))
        press = kb.encode(kb.KeyPress(2, kb.Key.CALL))
        assert await wire.until(10) == press
        wire.port.write(kb.encode(kb.Poll(2)))  # no ack yet: the same event again
        assert await wire.until(20) == press * 2
        wire.port.write(press)  # the echo acknowledges it
        wire.port.write(kb.encode(kb.Poll(2)))
        assert (await wire.until(29))[20:] == kb.encode(kb.Idle(2))
        assert one.polls == 0 and two.acknowledged == [kb.KeyPress(2, kb.Key.CALL)]


async def test_two_devices_on_one_address_collide_into_one_longer_burst() -> None:
    first, second = SimKeypad(3, turnaround_s=0.002), SimKeypad(3, turnaround_s=0.006)
    async with wired(9600, first, second) as (sim, wire):
        wire.port.write(kb.encode(kb.Poll(3)))
        await asyncio.sleep(0.06)
        data = wire.data
        assert sim.line.collisions == 1
        assert len(data) > 9  # the second frame started ~4 characters into the first
        decoder = kb.KeypadBusDecoder()
        decoder.receive_data(data)
        decoder.receive_gap()
        assert kb.Idle(3) not in list(decoder.events_received())


async def test_a_silent_device_hears_but_does_not_answer() -> None:
    pad = SimKeypad(4, turnaround_s=0.001)
    pad.faults.silent = True
    async with wired(115200, pad) as (_, wire):
        wire.port.write(kb.encode(kb.Poll(4)))
        await asyncio.sleep(0.03)
        assert wire.data == b"" and pad.polls == 1


async def test_bad_checksum_fault_spoils_exactly_one_reply() -> None:
    pad = SimKeypad(4, turnaround_s=0.001)
    pad.faults.bad_checksum = 1
    async with wired(115200, pad) as (_, wire):
        for _ in range(2):
            wire.port.write(kb.encode(kb.Poll(4)))
            await asyncio.sleep(0.02)
        decoder = kb.KeypadBusDecoder()
        decoder.receive_data(wire.data)
        events = list(decoder.events_received())
        assert [getattr(e, "reason", None) for e in events] == [ErrorReason.BAD_CHECKSUM, None]
        assert events[1] == kb.Idle(4)


async def test_modbus_slave_answers_after_line_silence_and_refuses_unknown_registers() -> None:
    slave = SimModbusDevice(4, inputs={0x10: 1, 0x11: 0x2A}, turnaround_s=0.001)
    async with wired(115200, slave) as (_, wire):
        wire.port.write(mb.encode(mb.read_input_registers(4, 0x10, 2)))
        reply = await wire.until(9)
        assert reply == bytes.fromhex("04 04 04 00 01 00 2A 7E 9B")
        wire.port.write(mb.encode(mb.read_input_registers(4, 0x99, 1)))
        assert (await wire.until(14))[9:] == bytes.fromhex("04 84 02 D2 C0")
        wire.port.write(mb.encode(mb.read_input_registers(5, 0x10, 1)))  # someone else
        await asyncio.sleep(0.02)
        assert len(wire.data) == 14


async def test_native_device_resends_the_same_reply_for_a_retried_seq() -> None:
    device = SimNativeDevice(3, turnaround_s=0.001)
    device.press(nv.Key.CALL)
    async with wired(115200, device) as (_, wire):
        poll = nv.encode_frame(nv.Frame(3, 0x10, nv.Poll()))
        wire.port.write(poll)
        first = await wire.until(12)
        wire.port.write(poll)  # the master did not get it: same SEQ
        both = await wire.until(24)
        assert both == first * 2
        ack = nv.encode_frame(nv.Frame(3, 0x11, nv.Poll(), evt=1))
        wire.port.write(ack)
        await wire.until(24 + 14)
        assert device.acked == [1] and not device.events
