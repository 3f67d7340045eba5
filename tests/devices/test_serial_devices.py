"""RS-485 devices closing the loop end to end, on simulated buses behind pseudo-terminals.

A keypad presses call; the LED strip on the same bus shows the ticket (GB2312 on the wire);
the kiosk's ESC/POS printer on its own line prints the ticket (GB18030 text, QR payload); the
evaluator keypad's rating lands tied to the ticket, the window and the clerk.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import pytest

from controller.config.model import Device, DeviceKind, LinkKind, SerialBus, SerialLink
from controller.core import commands as c
from controller.core import events as ev
from controller.core.lifecycle import EvaluationState
from controller.daemon.runtime import HallRuntime
from controller.store.group_commit import GroupCommitter
from controller.store.memory import MemoryStore
from devices.availability import Availability
from devices.serial.line import LineSettings
from devices.serial_devices import SerialDevices, build_buses
from firmware_protocols import keypad_bus as kb
from simulator.serial.bus import SimBus
from simulator.serial.keypad import SimEvaluatorPad, SimKeypad
from simulator.serial.led import SimLedStrip
from simulator.serial.printer import SimPrinter
from tests.controller.halls import small_hall

BAUD = 115200


@dataclass
class Rig:
    runtime: HallRuntime
    serial: SerialDevices
    keypad: SimKeypad
    strip: SimLedStrip
    pad: SimEvaluatorPad
    printer: SimPrinter


async def until(predicate: object, within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    keypad, strip, pad = SimKeypad(1), SimLedStrip(2), SimEvaluatorPad(3)
    printer = SimPrinter()
    line = LineSettings(BAUD)
    async with SimBus(line, [keypad, strip, pad]) as window_bus, SimBus(line, [printer]) as kiosk:
        config = replace(
            small_hall(),
            buses=(
                SerialBus("bus1", window_bus.path, BAUD, turnaround_ms=2),
                SerialBus("bus2", kiosk.path, BAUD, turnaround_ms=2),
            ),
            devices=(
                Device(
                    "kp-1",
                    DeviceKind.CALLER,
                    LinkKind.SERIAL,
                    1,
                    SerialLink("bus1", 1, "keypad_bus"),
                ),
                Device(
                    "led-1",
                    DeviceKind.WINDOW_DISPLAY,
                    LinkKind.SERIAL,
                    1,
                    SerialLink("bus1", 2, "led_strip"),
                ),
                Device(
                    "pad-1",
                    DeviceKind.EVALUATOR,
                    LinkKind.SERIAL,
                    1,
                    SerialLink("bus1", 3, "keypad_bus"),
                ),
                Device(
                    "kiosk-p",
                    DeviceKind.KIOSK,
                    LinkKind.SERIAL,
                    None,
                    SerialLink("bus2", 0, "escpos"),
                ),
            ),
        )
        store = MemoryStore()
        async with GroupCommitter(store) as committer:
            runtime = await HallRuntime.open(config, store, committer)
            serial = SerialDevices(
                runtime,
                build_buses(config),
                Availability(),
                followup_url=lambda ticket: f"https://hall.example/r/demo/{ticket}?t=sig",
            )
            stop = asyncio.Event()
            task = asyncio.create_task(serial.run(stop))
            try:
                yield Rig(runtime, serial, keypad, strip, pad, printer)
            finally:
                stop.set()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, 5)


async def test_the_loop_over_rs485(rig: Rig) -> None:
    await until(lambda: rig.strip.text == "暂停服务")  # logged out: the strip says so
    await rig.runtime.submit(c.Login(window=1, staff="1001"))  # at the web caller
    await until(lambda: rig.strip.text == "欢迎光临 热情服务")

    number = await rig.serial.take_ticket("kiosk-p", "A")
    assert number == "A001"
    await until(lambda: len(rig.printer.tickets) == 1)
    printed = rig.printer.tickets[0]
    assert any("A001" in line for line in printed.lines)
    assert any("不动产登记" in line for line in printed.lines)
    assert printed.qr_payloads == [b"https://hall.example/r/demo/1?t=sig"]
    await until(lambda: rig.keypad.display.strip() == "1")  # waiting count

    rig.keypad.press(kb.Key.CALL)
    await until(lambda: rig.strip.text == "请A001号到1号窗口办理")
    await until(lambda: rig.keypad.display == "   001")

    rig.keypad.press(kb.Key.REQUEST_RATING)  # 办结: finish and invite the rating
    await until(lambda: rig.runtime.state.tickets[1].evaluation is EvaluationState.AWAITING)
    recorded: list[ev.AnyEvent] = []
    rig.runtime.subscribe(lambda events, seq: recorded.extend(events))
    rig.pad.rate(2)  # national coding: 2 = 满意
    await until(lambda: rig.runtime.state.tickets[1].rating is not None)
    await until(lambda: any(isinstance(e, ev.ServiceRated) for e in recorded))
    [rated] = [e for e in recorded if isinstance(e, ev.ServiceRated)]
    assert rated.evidence is c.Evidence.LEGACY_SERIAL and rated.signature is None
    ticket = rig.runtime.state.tickets[1]
    assert ticket.rating is c.RatingLevel.SATISFIED
    assert ticket.window == 1 and ticket.staff == "1001"
    assert rig.serial.availability.devices["kp-1"].online


async def test_refused_press_beeps_and_changes_nothing(rig: Rig) -> None:
    await rig.runtime.submit(c.Login(window=1, staff="1001"))
    before = rig.runtime.state.fingerprint()
    rig.keypad.press(kb.Key.CALL)  # nobody waits
    await until(lambda: rig.keypad.beeps == 1)
    assert rig.runtime.state.fingerprint() == before
    assert rig.serial.refused == 1


async def test_a_strip_that_comes_back_shows_the_current_text(rig: Rig) -> None:
    await rig.runtime.submit(c.Login(window=1, staff="1001"))
    await rig.runtime.submit(c.IssueTicket(service="A"))
    await until(lambda: rig.strip.text == "欢迎光临 热情服务")
    status = rig.serial.availability.devices["led-1"]
    await until(lambda: status.online)  # it acknowledges what it shows
    rig.strip.faults.silent = True  # powered off: it hears nothing, answers nothing
    await rig.runtime.submit(c.CallNext(window=1))
    await until(lambda: not status.online, within=10)
    rig.strip.faults.silent = False  # powered on again (what it heard while off is gone)
    powered_on = asyncio.get_running_loop().time()
    await until(lambda: status.online, within=15)
    await until(
        lambda: any(
            shown.at >= powered_on and shown.text == "请A001号到1号窗口办理"
            for shown in rig.strip.history
        ),
        within=10,
    )
