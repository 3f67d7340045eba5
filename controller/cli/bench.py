"""``hallctl bench``: the whole controller under a steady device load, against its transport.

One private Mosquitto serves three phases, each with the load generator in its own process
(``simulator.loadgen``):

1. baseline: the same device message pattern answered by a bare relay process (no engine,
   no log) as fast as replies allow — what the broker and the codec can carry here;
2. steady: the daemon (engine, SQLite log with group commit, device hub) at the offered rate,
   ``press_to_display_ms`` measured at the LED strip;
3. saturation: the daemon as fast as replies allow — the maximum sustained rate.

``ratio`` is (3) / (1). Prints one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import sys
import tempfile
from dataclasses import replace
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from controller.config.model import (
    Device,
    DeviceKind,
    Evaluation,
    HallConfig,
    HallSettings,
    LinkKind,
    MqttSettings,
    Service,
    Staff,
    Window,
    WindowService,
)
from controller.daemon.device_links import mqtt_devices
from controller.daemon.process import Daemon, HallSource

HALL = "bench"
SERVICES = ("A", "B", "C", "D")


def bench_hall(devices: int, host: str, port: int) -> tuple[HallConfig, list[Any], list[str]]:
    """A hall with ``devices`` MQTT devices: per window a keypad, strip and pad; one kiosk per
    ten windows (a kiosk takes a few tickets a second, as real ones do)."""
    from simulator.loadgen import WindowDevices

    windows_n = max(1, int(devices / 3.1))
    kiosks = [f"k{n}" for n in range(1, max(1, windows_n // 10) + 1)]
    services = tuple(
        Service(id=s, name=f"业务{s}", prefix=s, number_max=99_999, number_width=5)
        for s in SERVICES
    )
    windows = tuple(
        Window(
            number=n, name=f"{n}号窗口", services=(WindowService(SERVICES[n % len(SERVICES)], 1),)
        )
        for n in range(1, windows_n + 1)
    )
    staff = tuple(Staff(id=f"s{n}", name=f"职员{n}") for n in range(1, windows_n + 1))
    device_list: list[Device] = [
        Device(id=k, kind=DeviceKind.KIOSK, link=LinkKind.MQTT) for k in kiosks
    ]
    plan_windows = []
    for n in range(1, windows_n + 1):
        ids = (f"c{n}", f"d{n}", f"p{n}")
        device_list += [
            Device(id=ids[0], kind=DeviceKind.CALLER, link=LinkKind.MQTT, window=n),
            Device(id=ids[1], kind=DeviceKind.WINDOW_DISPLAY, link=LinkKind.MQTT, window=n),
            Device(id=ids[2], kind=DeviceKind.EVALUATOR, link=LinkKind.MQTT, window=n),
        ]
        plan_windows.append(
            WindowDevices(
                window=n,
                caller=ids[0],
                display=ids[1],
                pad=ids[2],
                kiosk=kiosks[(n - 1) % len(kiosks)],
                service=SERVICES[n % len(SERVICES)],
            )
        )
    config = HallConfig(
        hall=HallSettings(id=HALL, name="压测大厅", closing_time=clock_time(23, 59)),
        services=services,
        windows=windows,
        staff=staff,
        devices=tuple(device_list),
        evaluation=Evaluation(window_seconds=30, late_delivery_seconds=300),
        mqtt=MqttSettings(host=host, port=port),
    )
    return config, plan_windows, kiosks


def _load_process(conn: Any, plan: Any) -> None:
    import uvloop

    from simulator.loadgen import generate

    conn.send(uvloop.run(generate(plan)))
    conn.close()


def _relay_process(
    host: str,
    port: int,
    displays: dict[str, str],
    pads: dict[str, str],
    ready: Any,
    stop: Any,
    login: tuple[str, str] | None = None,
) -> None:
    import uvloop

    from simulator.loadgen import relay

    async def main() -> None:
        done = asyncio.Event()
        task = asyncio.create_task(
            relay(host, port, HALL, displays, pads, done, ready.set, login=login)
        )
        await asyncio.to_thread(stop.wait)
        done.set()
        await task

    uvloop.run(main())


async def _run_load(plan: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_load_process, args=(child, plan))
    proc.start()
    ready = await asyncio.to_thread(parent.poll, plan.duration_s + plan.warmup_s + 60)
    if not ready:
        proc.kill()
        raise RuntimeError("load generator produced no result")
    result: dict[str, Any] = parent.recv()
    await asyncio.to_thread(proc.join, 5)
    return result


async def run_bench(
    devices: int, duration: float, rate: float, *, secure: bool = True
) -> dict[str, Any]:
    """``secure``: the broker runs as a hall's does (passwords, ACL; docs/security.md); False
    is the opt-out that measures what that costs (docs/benchmarks.md)."""
    from devices.mqtt.identity import Identity
    from devices.mqtt.mosquitto_process import HALL_BROKER_CONFIG, MosquittoProcess
    from simulator.loadgen import LOAD_CONNECTIONS, LoadPlan

    broker = MosquittoProcess(extra_config=HALL_BROKER_CONFIG, secure=secure)
    await asyncio.to_thread(broker.start)
    try:
        config, windows, kiosks = bench_hall(devices, broker.host, broker.port)
        config = replace(config, mqtt=await asyncio.to_thread(broker.settings, config))
        connections = LOAD_CONNECTIONS
        logins: tuple[tuple[str, str], ...] = ()
        controller: tuple[str, str] | None = None
        if secure:
            logins = await asyncio.to_thread(broker.grant_loadgen, HALL, connections + 1)
            controller = broker.login(Identity(HALL))
        total = len(config.devices)

        def plan(offered: float) -> LoadPlan:
            return LoadPlan(
                host=broker.host,
                port=broker.port,
                hall=HALL,
                windows=tuple(windows),
                kiosks=tuple(kiosks),
                rate=offered,
                duration_s=duration,
                connections=connections,
                logins=logins,
            )

        # 1. Baseline: a bare relay, same pattern, saturated.
        ctx = mp.get_context("spawn")
        stop_relay, relay_ready = ctx.Event(), ctx.Event()
        relay = ctx.Process(
            target=_relay_process,
            args=(
                broker.host,
                broker.port,
                {w.caller: w.display for w in windows},
                {w.caller: w.pad for w in windows},
                relay_ready,
                stop_relay,
                controller,
            ),
        )
        relay.start()
        if not await asyncio.to_thread(relay_ready.wait, 30):
            relay.kill()
            raise RuntimeError("the baseline relay did not start")
        baseline = await _run_load(plan(0))
        stop_relay.set()
        await asyncio.to_thread(relay.join, 5)

        # 2 and 3. The daemon.
        with tempfile.TemporaryDirectory(prefix="hallctl-bench-") as tmp:
            daemon = Daemon(
                [HallSource(config, "")],
                db_path=Path(tmp) / "bench.db",
                http_port=0,
                extensions=[mqtt_devices()],
            )
            stop, ready = asyncio.Event(), asyncio.Event()
            task = asyncio.create_task(daemon.run(stop, ready))
            await ready.wait()
            await asyncio.sleep(0.5)
            commit_ms: list[float] = []
            committer = daemon.committer
            if committer is not None:
                earlier = committer.observe_commit

                def observe(seconds: float, appends: int) -> None:
                    commit_ms.append(seconds * 1000)
                    if earlier is not None:
                        earlier(seconds, appends)

                committer.observe_commit = observe
            steady = await _run_load(plan(rate))
            steady_commits = sorted(commit_ms)
            commit_ms.clear()
            saturated = await _run_load(plan(0))
            hub = daemon.hubs[HALL]
            hub_stats = {
                "rate_limited": hub.stats.rate_limited,
                "command_failures": hub.stats.command_failures,
                "retries": hub.stats.retries,
                "shows": hub.stats.shows,
            }
            committer = daemon.committer
            commits = committer.commits if committer else 0
            records = committer.records_committed if committer else 0
            stop.set()
            await task
    finally:
        await asyncio.to_thread(broker.close)
    baseline_rate = baseline["sustained_msgs_per_s"]
    return {
        "broker": "secured (passwords, ACL)" if secure else "open (opt-out)",
        "devices": total,
        "windows": len(windows),
        "offered_msgs_per_s": steady["offered_msgs_per_s"],
        "sustained_msgs_per_s": steady["sustained_msgs_per_s"],
        "press_to_display_ms": steady["press_to_display_ms"],
        "max_sustained_msgs_per_s": saturated["sustained_msgs_per_s"],
        "max_press_to_display_ms": saturated["press_to_display_ms"],
        "baseline_relay_msgs_per_s": baseline_rate,
        "ratio": round(saturated["sustained_msgs_per_s"] / baseline_rate, 3)
        if baseline_rate
        else None,
        "refused": steady["refused"],
        "log": {
            "commits": commits,
            "records": records,
            "mean_batch": round(records / commits, 1) if commits else None,
            "steady_commit_ms": {
                "p50": _pct(steady_commits, 0.5),
                "p99": _pct(steady_commits, 0.99),
            },
        },
        "hub": hub_stats,
        "phases": {"baseline": baseline, "steady": steady, "saturated": saturated},
    }


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(len(values) * q))], 2)


def register_bench_command(subparsers: Any) -> None:
    bench = subparsers.add_parser("bench", help="load-test the controller with simulated devices")
    bench.add_argument("--devices", type=int, default=2000)
    bench.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    bench.add_argument("--rate", type=float, default=2000.0, help="offered messages/s (steady)")
    bench.add_argument(
        "--open-broker",
        action="store_true",
        help="no passwords and no ACL on the private broker (to measure what they cost)",
    )
    bench.add_argument("--json", action="store_true", help="one line of JSON")
    bench.set_defaults(func=_cmd_bench)


def _cmd_bench(args: Any) -> int:
    import logging

    from controller.cli.hallctl import run_async

    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("gmqtt").setLevel(logging.ERROR)
    if args.devices < 4 or args.duration <= 0 or args.rate < 0:
        print("bench: --devices >= 4, --duration > 0, --rate >= 0", file=sys.stderr)
        return 2

    async def main() -> int:
        result = await run_bench(
            args.devices, args.duration, args.rate, secure=not args.open_broker
        )
        print(json.dumps(result, ensure_ascii=False, indent=None if args.json else 2))
        return 0

    return run_async(main)
