"""Each protocol adapter through the bus master against its simulated device."""

from __future__ import annotations

import asyncio

import pytest

from devices.serial.adapter import Availability
from devices.serial.adapters.escpos import EscPosAdapter, PrintJob
from devices.serial.adapters.keypad import KeypadAdapter
from devices.serial.adapters.led import LedStripAdapter
from devices.serial.adapters.modbus import ModbusAdapter, ModbusReply
from devices.serial.adapters.native import NativeAdapter
from devices.serial.adapters.qsystem import QSystemBoardAdapter, QSystemButtonsAdapter
from devices.serial.bus import CommandRefused, RefusedReason
from firmware_protocols import escpos as ep
from firmware_protocols import keypad_bus as kb
from firmware_protocols import led_strip as led
from firmware_protocols import modbus_rtu as mb
from firmware_protocols import native as nv
from firmware_protocols import qsystem as qs
from simulator.serial.keypad import SimEvaluatorPad, SimKeypad
from simulator.serial.led import SimLedStrip
from simulator.serial.modbus import SimModbusDevice
from simulator.serial.native import SimNativeDevice
from simulator.serial.printer import SimPrinter
from simulator.serial.qsystem import SimButtonBox, SimQSystemBoard
from tests.devices.serial.harness import rig, wait_until

TURN = 0.001
CALL_TEXT = "请A001号到3号窗口"


# -- keypad bus ---------------------------------------------------------------------------


async def test_key_press_reaches_the_handler_and_is_acked_by_echo() -> None:
    pad = SimKeypad(5, turnaround_s=TURN)
    async with rig([pad], [KeypadAdapter(5)]) as r:
        pad.press(kb.Key.DIGIT_6, kb.Key.CONFIRM)
        await wait_until(lambda: len(r.recorder.items(5)) == 2 and not pad.pending)
        presses = [kb.KeyPress(5, kb.Key.DIGIT_6), kb.KeyPress(5, kb.Key.CONFIRM)]
        assert r.recorder.items(5) == presses
        assert pad.acknowledged == presses
        assert r.master.statistics().errors == {}


async def test_evaluator_rating_arrives_and_is_acked_with_rating_ack() -> None:
    pad = SimEvaluatorPad(8, turnaround_s=TURN)
    async with rig([pad], [KeypadAdapter(8)]) as r:
        pad.rate(1)
        await wait_until(lambda: bool(r.recorder.items(8)) and not pad.pending)
        assert r.recorder.items(8) == [kb.Rating(8, 1)]
        assert pad.acknowledged == [kb.Rating(8, 1)]


# -- LED strips ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["led_strip", "led_strip_xor8", "led_strip_crc16"])
async def test_led_text_arrives_in_gb2312_and_is_acknowledged(name: str) -> None:
    from firmware_protocols.registry import lookup

    target = lookup(name).definition
    assert isinstance(target, led.LedTarget)
    strip = SimLedStrip(3, target, turnaround_s=TURN)
    async with rig([strip], [LedStripAdapter(3, target)]) as r:
        reply = await r.master.request(3, led.ShowText(3, CALL_TEXT))
        assert reply == led.StripAck(3, led.AckStatus.SHOWN)
        assert strip.text == CALL_TEXT
        assert r.master.availability(3) is Availability.ONLINE


async def test_an_acknowledging_strip_is_refreshed_so_its_death_is_noticed() -> None:
    strip = SimLedStrip(3, turnaround_s=TURN)
    adapter = LedStripAdapter(3, strip.target, refresh_every=2)
    async with rig([strip], [adapter]) as r:
        r.master.show(3, led.ShowText(3, "暂停服务"))
        await wait_until(lambda: len(strip.history) >= 3)  # the text, then refreshes
        assert {s.text for s in strip.history} == {"暂停服务"}
        strip.faults.silent = True
        await wait_until(lambda: r.master.availability(3) is Availability.OFFLINE)


async def test_a_strip_without_acks_is_written_but_never_polled() -> None:
    strip = SimLedStrip(4, acknowledges=False, turnaround_s=TURN)
    adapter = LedStripAdapter(4, strip.target, acknowledged=False)
    async with rig([strip], [adapter]) as r:
        assert await r.master.request(4, led.ShowText(4, "欢迎光临 热情服务")) is None
        await wait_until(lambda: strip.text == "欢迎光临 热情服务")
        await asyncio.sleep(0.05)
        assert len(strip.history) == 1
        assert r.master.availability(4) is Availability.UNKNOWN


async def test_text_outside_gb2312_is_refused_before_it_is_queued() -> None:
    strip = SimLedStrip(3, turnaround_s=TURN)
    async with rig([strip], [LedStripAdapter(3, strip.target)]) as r:
        with pytest.raises(CommandRefused) as refused:
            r.master.show(3, led.ShowText(3, "请A001号😀"))
        assert refused.value.reason is RefusedReason.UNSUPPORTED
        await asyncio.sleep(0.02)
        assert strip.history == []


# -- QSystem ------------------------------------------------------------------------------


async def test_qsystem_board_text_and_unsolicited_button_press() -> None:
    board, box = SimQSystemBoard(0x31, turnaround_s=TURN), SimButtonBox(0x05, turnaround_s=TURN)
    adapters = [QSystemBoardAdapter(0x31), QSystemButtonsAdapter(0x05)]
    async with rig([board, box], adapters) as r:
        await r.master.request(0x31, qs.BoardText(0x31, "A001 >3"))
        await wait_until(lambda: bool(board.shown))
        assert board.shown == [qs.BoardText(0x31, "A001 >3")]
        box.press(0x41)
        await wait_until(lambda: bool(r.recorder.items(0x05)))
        assert r.recorder.items(0x05) == [qs.ButtonPress(0x05, 0x41)]
        assert r.master.availability(0x05) is Availability.ONLINE
        assert r.master.availability(0x31) is Availability.UNKNOWN
        await r.master.request(0x05, qs.ButtonLeds(0x05, 0x30))
        await wait_until(lambda: box.leds == [0x30])


# -- Modbus RTU ---------------------------------------------------------------------------


async def test_modbus_poll_write_and_exception() -> None:
    device = SimModbusDevice(2, inputs={0: 0x0C, 1: 7, 2: 0}, holding={0x100: 0}, turnaround_s=TURN)
    adapter = ModbusAdapter(2, mb.read_input_registers(2, 0, 3))
    async with rig([device], [adapter]) as r:
        await wait_until(lambda: bool(r.recorder.items(2)))
        first = r.recorder.items(2)[0]
        assert isinstance(first, ModbusReply)
        assert first.response == mb.ReadRegistersResponse(
            2, mb.FunctionCode.READ_INPUT_REGISTERS, (0x0C, 7, 0)
        )
        written = await r.master.request(2, mb.WriteSingleRegisterRequest(2, 0x100, 1))
        assert isinstance(written, mb.WriteSingleRegisterResponse)
        assert device.holding[0x100] == 1
        refused = await r.master.request(2, mb.read_holding_registers(2, 0x200, 1))
        assert refused == mb.ExceptionResponse(2, 0x03, mb.ExceptionCode.ILLEGAL_DATA_ADDRESS)
        assert r.master.statistics().retries == 0


# -- native -------------------------------------------------------------------------------


async def test_native_events_are_reported_once_and_acknowledged_by_evt() -> None:
    device = SimNativeDevice(3, turnaround_s=TURN)
    async with rig([device], [NativeAdapter(3)]) as r:
        await wait_until(lambda: r.master.availability(3) is Availability.ONLINE)
        device.faults.garble = 1  # the first event reply is lost: the retry repeats it
        device.press(nv.Key.CALL)
        device.press(nv.Key.CONFIRM, 6)
        await wait_until(lambda: not device.events)
        events = [i for i in r.recorder.items(3) if isinstance(i, nv.KeyEvent)]
        assert events == [nv.KeyEvent(nv.Key.CALL), nv.KeyEvent(nv.Key.CONFIRM, 6)]
        assert device.acked == [1, 2]
        assert r.master.statistics().retries >= 1
        reply = await r.master.request(3, nv.DisplayText(0, CALL_TEXT))
        assert isinstance(reply, nv.Frame) and reply.message == nv.Ack()
        assert device.texts[0] == CALL_TEXT


# -- ESC/POS ------------------------------------------------------------------------------

TICKET = ep.TicketPrint(
    hall_name="政务大厅",
    ticket_number="A023",
    service_name="社保",
    people_ahead=3,
    wait_minutes=15,
    issued_at="09:31",
    rating_url="https://x.cn/r/A023",
    footer="谢谢",
)


async def test_printer_receives_a_ticket_in_gb18030_with_its_qr_payload() -> None:
    printer = SimPrinter()
    async with rig([printer], [EscPosAdapter()]) as r:
        assert await r.master.request(0, TICKET) is None
        await wait_until(lambda: bool(printer.tickets))
        ticket = printer.tickets[0]
        assert ticket.lines[:3] == ["政务大厅", "A023", "社保"]
        assert "前面还有 3 人等候" in ticket.lines and "谢谢" in ticket.lines
        assert ticket.qr_payloads == [b"https://x.cn/r/A023"]
        assert ticket.cut
        assert printer.decode_errors == []


async def test_printer_paper_out_is_reported_by_the_status_poll() -> None:
    printer = SimPrinter()
    async with rig([printer], [EscPosAdapter()]) as r:
        await wait_until(lambda: r.master.availability(0) is Availability.ONLINE)
        printer.status = ep.PrinterStatus(online=True, cover_open=False, paper_near_end=True,
                                          paper_out=True, error=False)  # fmt: skip
        await wait_until(
            lambda: any(
                isinstance(i, ep.PrinterStatus) and i.paper_out for i in r.recorder.items(0)
            )
        )
        with pytest.raises(CommandRefused):
            r.master.submit(0, PrintJob(b""))


async def test_unsolicited_press_from_an_unknown_box_is_counted_not_delivered() -> None:
    stranger = SimButtonBox(0x09, turnaround_s=TURN)
    async with rig([stranger], [QSystemButtonsAdapter(0x05)]) as r:
        await wait_until(lambda: r.master.statistics().port_opens == 1)
        await asyncio.sleep(0.02)  # pyserial flushes input right after the open
        stranger.press(0x41)
        await wait_until(lambda: r.master.statistics().errors.get("unknown_address") == 1)
        assert r.recorder.reports == []


async def test_bytes_on_a_polled_bus_with_no_reply_due_are_counted_as_unexpected() -> None:
    box = SimButtonBox(0x05, turnaround_s=TURN)  # a device that talks unasked, on a keypad bus
    pad = SimKeypad(1, turnaround_s=TURN)
    async with rig([pad, box], [KeypadAdapter(1)]) as r:
        await wait_until(lambda: r.master.availability(1) is Availability.ONLINE)
        box.press(0x41)
        await wait_until(lambda: sum(r.master.statistics().errors.values()) >= 1)
        assert box.replies_sent == 1
        assert r.master.availability(1) is Availability.ONLINE
        assert r.recorder.reports == []
