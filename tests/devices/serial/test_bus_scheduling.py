"""The bus master against simulated keypads: polling order, precedence, retries, availability."""

from __future__ import annotations

import asyncio

import pytest

from devices.serial.adapter import Availability, Exchange
from devices.serial.adapters.keypad import KeypadAdapter
from devices.serial.adapters.led import LedStripAdapter
from devices.serial.bus import (
    BusClosedError,
    BusSettings,
    CommandFailed,
    CommandRefused,
    RefusedReason,
)
from devices.serial.stats import FailureReason
from firmware_protocols import keypad_bus as kb
from firmware_protocols import led_strip as led
from simulator.serial.keypad import SimKeypad
from simulator.serial.led import WINDOW_STRIP, SimLedStrip
from tests.devices.serial.harness import MARGIN_S, SLOW, rig, wait_until

TURN = 0.001


def pads(*addresses: int, turnaround_s: float = TURN) -> list[SimKeypad]:
    return [SimKeypad(a, turnaround_s=turnaround_s) for a in addresses]


def adapters(devices: list[SimKeypad]) -> list[KeypadAdapter]:
    return [KeypadAdapter(d.address) for d in devices]


async def test_polls_every_device_in_round_robin_order() -> None:
    devices = pads(1, 2, 3, 4)
    async with rig(devices, adapters(devices)) as r:
        await wait_until(lambda: all(d.polls >= 5 for d in devices))
        heard = sorted((t, d.address) for d in devices for t in d.poll_times)
        order = [address for _, address in heard]
        start = order.index(1)
        for i in range(start, len(order) - 4, 4):
            assert order[i : i + 4] == [1, 2, 3, 4]
        stats = r.master.statistics()
        assert stats.cycles >= 4 and stats.timeouts == 0 and stats.errors == {}
        assert all(r.master.availability(d.address) is Availability.ONLINE for d in devices)


async def test_a_command_goes_out_before_the_next_poll() -> None:
    devices = pads(1, 2, 3, 4, 5, 6)
    async with rig(devices, adapters(devices), baudrate=SLOW, turnaround_ms=2) as r:
        await wait_until(lambda: all(d.polls >= 2 for d in devices))
        loop = asyncio.get_running_loop()
        for _ in range(5):
            asked = loop.time()
            reply = await r.master.request(4, kb.Display.ticket(4, 17))
            assert reply == kb.Idle(4)
            shown = devices[3].display_times[-1]
            polls_between = [t for d in devices for t in d.poll_times if asked < t < shown]
            assert len(polls_between) <= 1  # only the poll already in flight
            await asyncio.sleep(0.013)  # land at different points of the cycle
        assert devices[3].display == "    17"
        assert r.master.statistics().commands_done == 5


async def test_silent_device_goes_offline_after_three_misses_then_slow_polled_then_online() -> None:
    devices = pads(1, 2, 3)
    settings = BusSettings(
        retries=2, offline_after=3, offline_poll_every=5, timeout_margin_s=MARGIN_S
    )
    async with rig(devices, adapters(devices), settings=settings) as r:
        await wait_until(lambda: r.master.availability(2) is Availability.ONLINE)
        devices[1].faults.silent = True
        polls_before = devices[1].polls
        await wait_until(lambda: r.master.availability(2) is Availability.OFFLINE)
        # Three missed exchanges of three attempts each (1 + 2 retries).
        assert devices[1].polls - polls_before == 9
        stats = r.master.statistics()
        assert stats.timeouts >= 9 and stats.retries >= 6
        assert stats.errors[FailureReason.TIMEOUT.value] >= 9
        # Offline: one attempt every 5th cycle while the others are polled every cycle.
        silent_from, healthy_from = devices[1].polls, devices[0].polls
        await wait_until(lambda: devices[0].polls - healthy_from >= 50)
        slow = devices[1].polls - silent_from
        assert 8 <= slow <= 12
        devices[1].faults.silent = False
        await wait_until(lambda: r.master.availability(2) is Availability.ONLINE)
        assert r.recorder.states(2) == ["online", "offline", "online"]
        assert r.recorder.states(1) == ["online"]


async def test_garbled_and_bad_checksum_replies_are_counted_retried_and_resynchronised() -> None:
    devices = pads(1, 2)
    async with rig(devices, adapters(devices)) as r:
        await wait_until(lambda: r.master.availability(2) is Availability.ONLINE)
        devices[1].faults.bad_checksum = 1
        devices[1].press(kb.Key.CALL)
        await wait_until(lambda: bool(r.recorder.items(2)))
        stats = r.master.statistics()
        assert stats.errors.get("bad_checksum") == 1
        assert stats.errors.get(FailureReason.NO_VALID_REPLY.value) == 1
        assert stats.retries == 1
        devices[1].faults.garble = 1
        devices[1].press(kb.Key.RECALL)
        await wait_until(lambda: len(r.recorder.items(2)) == 2)
        stats = r.master.statistics()
        assert stats.retries == 2
        assert stats.errors.get(FailureReason.NO_VALID_REPLY.value) == 2
        assert r.recorder.items(2) == [kb.KeyPress(2, kb.Key.CALL), kb.KeyPress(2, kb.Key.RECALL)]
        assert r.recorder.states(2) == ["online"]  # a retry that works is not a miss


async def test_a_reply_split_in_two_writes_is_reassembled() -> None:
    devices = pads(1)
    async with rig(devices, adapters(devices)) as r:
        devices[0].faults.split = 3
        devices[0].press(kb.Key.PAUSE)
        await wait_until(lambda: bool(r.recorder.items(1)))
        assert r.recorder.items(1) == [kb.KeyPress(1, kb.Key.PAUSE)]
        assert r.master.statistics().retries == 0


async def test_two_devices_answering_at_once_is_a_collision() -> None:
    # A misconfigured second pad with the same address answers 6 characters later.
    first, second = SimKeypad(2, turnaround_s=0.005), SimKeypad(2, turnaround_s=0.011)
    other = SimKeypad(1, turnaround_s=0.005)
    async with rig([other, first, second], adapters([other, first]), baudrate=SLOW) as r:
        await wait_until(lambda: r.master.availability(2) is Availability.OFFLINE, within=5)
        stats = r.master.statistics()
        # Three misses; on a loaded machine a burst may come in after its window closed.
        assert stats.errors[FailureReason.COLLISION.value] >= 3
        assert r.sim.line.collisions >= 9
        assert r.master.availability(1) is Availability.ONLINE


async def test_full_command_queue_refuses_with_a_typed_error_and_changes_nothing() -> None:
    devices = pads(1)
    settings = BusSettings(command_queue_size=2, timeout_margin_s=MARGIN_S)
    async with rig(devices, adapters(devices), settings=settings, start=False) as r:
        first = r.master.submit(1, kb.Beep(1))
        second = r.master.submit(1, kb.Beep(1))
        with pytest.raises(CommandRefused) as refused:
            r.master.submit(1, kb.Beep(1))
        assert refused.value.reason is RefusedReason.QUEUE_FULL
        r.master.start()
        assert await first == kb.Idle(1)
        assert await second == kb.Idle(1)
        assert devices[0].beeps == 2
        stats = r.master.statistics()
        assert stats.commands_refused == 1 and stats.commands_done == 2


async def test_unknown_device_and_unsupported_message_are_refused() -> None:
    devices = pads(1)
    async with rig(devices, adapters(devices)) as r:
        with pytest.raises(CommandRefused) as unknown:
            r.master.submit(9, kb.Beep(9))
        assert unknown.value.reason is RefusedReason.UNKNOWN_DEVICE
        with pytest.raises(CommandRefused) as wrong:
            r.master.submit(1, led.ShowText(1, "x"))
        assert wrong.value.reason is RefusedReason.UNSUPPORTED
        with pytest.raises(CommandRefused) as elsewhere:
            r.master.submit(1, kb.Beep(2))  # addressed to another device
        assert elsewhere.value.reason is RefusedReason.UNSUPPORTED


async def test_a_command_to_a_silent_device_fails_with_a_reason() -> None:
    devices = pads(1)
    async with rig(devices, adapters(devices)) as r:
        devices[0].faults.silent = True
        with pytest.raises(CommandFailed) as failed:
            await r.master.request(1, kb.Beep(1))
        assert failed.value.reason is FailureReason.TIMEOUT
        assert r.master.statistics().commands_failed == 1


async def test_display_updates_coalesce_to_the_newest_text() -> None:
    strip = SimLedStrip(7, turnaround_s=TURN)
    adapter = LedStripAdapter(7, WINDOW_STRIP)
    async with rig([strip], [adapter], start=False) as r:
        for n in range(1, 6):
            r.master.show(7, led.ShowText(7, f"请A00{n}号到3号窗口"))
        r.master.start()
        await wait_until(lambda: strip.text == "请A005号到3号窗口")
        await asyncio.sleep(0.05)
        assert [s.text for s in strip.history] == ["请A005号到3号窗口"]
        assert r.master.statistics().display_updates_coalesced == 4


async def test_close_fails_queued_commands_and_refuses_new_ones() -> None:
    devices = pads(1)
    async with rig(devices, adapters(devices), start=False) as r:
        queued = r.master.submit(1, kb.Beep(1))
        await r.master.close()
        with pytest.raises(BusClosedError):
            await queued
        with pytest.raises(CommandRefused) as refused:
            r.master.submit(1, kb.Beep(1))
        assert refused.value.reason is RefusedReason.BUS_CLOSED


async def test_close_while_waiting_for_a_reply_is_clean() -> None:
    devices = pads(1, turnaround_s=0.2)  # the reply would come long after the deadline
    async with rig(devices, adapters(devices)) as r:
        await wait_until(lambda: devices[0].polls >= 1)
        await asyncio.wait_for(r.master.close(), 1.0)
        assert r.master.availability(1) is Availability.UNKNOWN


async def test_a_lost_port_takes_every_device_offline_and_is_reopened() -> None:
    from devices.mqtt.reconnect import BackoffPolicy

    devices = pads(1, 2)
    settings = BusSettings(reconnect=BackoffPolicy(0.01, 1.0, 0.02, 0.0), timeout_margin_s=MARGIN_S)
    async with rig(devices, adapters(devices), settings=settings) as r:
        await wait_until(lambda: r.master.availability(2) is Availability.ONLINE)
        r.sim.close()  # the adapter is unplugged: the tty goes away
        await wait_until(lambda: r.master.availability(1) is Availability.OFFLINE)
        await wait_until(lambda: r.master.statistics().port_open_failures >= 2)
        stats = r.master.statistics()
        assert stats.errors[FailureReason.PORT_LOST.value] == 1 and stats.port_opens == 1
        assert r.recorder.states(1) == ["online", "offline"]


class _BuggyKeypad(KeypadAdapter):
    """An adapter with a bug that fires once."""

    def __init__(self, address: int) -> None:
        super().__init__(address)
        self.exploded = False

    def poll(self) -> Exchange:
        if not self.exploded:
            self.exploded = True
            raise RuntimeError("adapter bug")
        return super().poll()


async def test_an_adapter_bug_is_logged_and_the_bus_starts_over(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from devices.mqtt.reconnect import BackoffPolicy

    devices = pads(1)
    settings = BusSettings(reconnect=BackoffPolicy(0.01, 1.0, 0.02, 0.0), timeout_margin_s=MARGIN_S)
    async with rig(devices, [_BuggyKeypad(1)], settings=settings) as r:
        await wait_until(lambda: r.master.availability(1) is Availability.ONLINE)
        assert r.master.statistics().port_opens == 2
        assert "adapter bug" in caplog.text
