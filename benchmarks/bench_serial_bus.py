"""Serial bus benchmark: 32 devices on one simulated RS-485 bus at 9600 baud.

Run: ``.venv/bin/python benchmarks/bench_serial_bus.py [--cycles 8] [--silent-cycles 20]
[--presses 60] [--uvloop]``.

The bus master opens a pseudo-terminal; behind it the simulator plays 31 window keypads and
one LED strip (address 40, acknowledging, re-sent every 10th cycle) with the line's timing:
every byte costs 10 bits / 9600 s, every reply starts after the configured 10 ms turnaround.

1. Cycle: poll cycle time over ``--cycles`` full cycles, against the line-rate minimum for the
   same window: (bytes sent + bytes received) x bits per char / baud + one turnaround per reply.
   Target <= 1.15x.
2. Latency: ``--presses`` CALL presses on random keypads at random times; an in-benchmark rule
   stands in for the engine ("on CALL, show 请A<n>号到3号窗口 on the LED at address 40") and
   the latency is from the press to the line time the LED strip received the new text.
   Dominated by polling: a press waits for its keypad's turn (0 to one cycle).
3. Silent: two keypads stop answering. Once they are OFFLINE, the mean cycle over
   ``--silent-cycles`` (a multiple of the offline poll period, 10, so the timeouts of their
   slow polls are included) against phase 1's. Target <= 1.3x. The line minimum of this
   window counts bytes and replies only, so the silent devices' timeouts show in its ratio.

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics

from controller.config.model import SerialBus
from devices.serial.adapter import Availability, AvailabilityChange, DeviceReport
from devices.serial.adapters.keypad import KeypadAdapter
from devices.serial.adapters.led import LedStripAdapter
from devices.serial.bus import BusMaster, BusSettings
from devices.serial.line import LineSettings
from firmware_protocols import keypad_bus as kb
from firmware_protocols import led_strip as led
from simulator.serial.bus import SimBus
from simulator.serial.keypad import SimKeypad
from simulator.serial.led import WINDOW_STRIP, SimLedStrip

BAUD = 9600
TURNAROUND_MS = 10.0
KEYPADS = 31
LED_ADDRESS = 40
SILENT = (7, 23)


class CallRule:
    """Stands in for the engine: a CALL on any keypad shows the next ticket on the strip."""

    def __init__(self, master: BusMaster) -> None:
        self.master = master
        self.counter = 0
        self.pressed_at: dict[str, float] = {}
        self.pending_press: dict[int, float] = {}

    def device_report(self, report: DeviceReport) -> None:
        if isinstance(report.item, kb.KeyPress) and report.item.key is kb.Key.CALL:
            self.counter += 1
            text = f"请A{self.counter:03d}号到3号窗口"
            self.pressed_at[text] = self.pending_press.pop(report.address)
            self.master.show(LED_ADDRESS, led.ShowText(LED_ADDRESS, text))

    def availability_changed(self, change: AvailabilityChange) -> None:
        pass


class Window:
    """Statistics at the start of a measuring window."""

    def __init__(self, master: BusMaster) -> None:
        self.master = master
        self.start = master.statistics()

    def measure(self, line: LineSettings) -> dict[str, float]:
        end = self.master.statistics()
        cycles = end.cycles - self.start.cycles
        wall = (end.cycle_mean_s * end.cycles) - (self.start.cycle_mean_s * self.start.cycles)
        nbytes = (end.bytes_sent - self.start.bytes_sent) + (
            end.bytes_received - self.start.bytes_received
        )
        replies = end.frames_received - self.start.frames_received
        minimum = line.wire_time(nbytes) + replies * TURNAROUND_MS / 1000
        return {
            "cycles": cycles,
            "cycle_s": wall / cycles,
            "line_minimum_cycle_s": minimum / cycles,
            "ratio_to_line_minimum": wall / minimum,
            "utilization": line.wire_time(nbytes) / wall,
        }


async def full_cycles(master: BusMaster, count: int) -> None:
    target = master.statistics().cycles + count
    while master.statistics().cycles < target:  # noqa: ASYNC110 - sampling the statistics
        await asyncio.sleep(0.01)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run(cycles: int, silent_cycles: int, presses: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    line = LineSettings(BAUD)
    pads = [SimKeypad(a, turnaround_s=TURNAROUND_MS / 1000) for a in range(1, KEYPADS + 1)]
    strip = SimLedStrip(LED_ADDRESS, WINDOW_STRIP, turnaround_s=TURNAROUND_MS / 1000)
    async with SimBus(line, [*pads, strip]) as sim:
        bus = SerialBus("bench", sim.path, BAUD, turnaround_ms=TURNAROUND_MS)
        master = BusMaster(bus, BusSettings())
        rule = CallRule(master)
        for pad in pads:
            master.attach(KeypadAdapter(pad.address), rule)
        master.attach(LedStripAdapter(LED_ADDRESS, WINDOW_STRIP, refresh_every=10), rule)
        master.start()
        master.show(LED_ADDRESS, led.ShowText(LED_ADDRESS, "欢迎光临 热情服务"))
        await full_cycles(master, 2)

        window = Window(master)
        await full_cycles(master, cycles)
        healthy = window.measure(line)

        loop = asyncio.get_running_loop()
        for _ in range(presses):
            await asyncio.sleep(rng.uniform(0.2, 0.5))
            pad = rng.choice([p for p in pads if p.address not in rule.pending_press])
            rule.pending_press[pad.address] = loop.time()
            pad.press(kb.Key.CALL)
        while rule.pending_press:  # noqa: ASYNC110 - a keypad keeps a press until polled
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # the last LED frame goes out after the press's exchange
        shown_at = {s.text: s.at for s in strip.history}
        latencies = [shown_at[t] - p for t, p in rule.pressed_at.items() if t in shown_at]

        for address in SILENT:
            pads[address - 1].faults.silent = True
        while any(master.availability(a) is not Availability.OFFLINE for a in SILENT):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        await full_cycles(master, 1)
        window = Window(master)
        await full_cycles(master, silent_cycles)
        silent = window.measure(line)
        stats = master.statistics()
        await master.close()

    return {
        "bus": {"baud": BAUD, "bits_per_char": line.bits_per_char, "keypads": KEYPADS,
                "led_strips": 1, "turnaround_ms": TURNAROUND_MS},
        "healthy": healthy,
        "press_to_led": {
            "samples": len(latencies),
            "coalesced": len(rule.pressed_at) - len(latencies),
            "p50_ms": 1000 * statistics.median(latencies),
            "p99_ms": 1000 * percentile(latencies, 99),
            "max_ms": 1000 * max(latencies),
        },
        "two_silent": {**silent, "ratio_to_healthy_cycle": silent["cycle_s"] / healthy["cycle_s"]},
        "targets_met": {
            "cycle_within_1.15x_line_minimum": healthy["ratio_to_line_minimum"] <= 1.15,
            "silent_cycle_within_1.3x": silent["cycle_s"] / healthy["cycle_s"] <= 1.3,
        },
        "totals": {"timeouts": stats.timeouts, "retries": stats.retries, "errors": stats.errors},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=8)
    parser.add_argument("--silent-cycles", type=int, default=20)
    parser.add_argument("--presses", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--uvloop", action="store_true")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        result = uvloop.run(run(args.cycles, args.silent_cycles, args.presses, args.seed))
    else:
        result = asyncio.run(run(args.cycles, args.silent_cycles, args.presses, args.seed))
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
