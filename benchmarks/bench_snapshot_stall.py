"""Command latency while a snapshot of a large hall is written.

Run: ``.venv/bin/python benchmarks/bench_snapshot_stall.py [--tickets 250000] [--seconds 3]``.

A hall with --tickets open tickets (one day, widened number ranges) is rebuilt from a SQLite
log on disk; --submitters coroutines then submit durable commands (take a ticket, call, finish)
back to back. Latency is submit → durable, per command. Four phases, each printed as p50 / p99
/ max: no snapshot (for --seconds); the runtime's snapshot (cut, encoded a slice per loop turn,
written in parts between appends: ``HallRuntime.start_snapshot``), measured from its start to
its end; the next one, which also drops the parts of the one it replaces (a daemon's steady
state); and, for comparison, the former way (the whole state encoded on the event loop, then
one SQLite write in the store's thread, which appends queue behind).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import uvloop

from controller.config.model import (
    HallConfig,
    HallSettings,
    Service,
    Staff,
    StoreSettings,
    Window,
    WindowService,
)
from controller.core import commands as c
from controller.core.engine import HallEngine
from controller.core.events import encode_record
from controller.core.lifecycle import Rejected
from controller.core.state import SNAPSHOT_ENCODER
from controller.daemon.runtime import HallRuntime
from controller.store.base import Snapshot
from controller.store.group_commit import GroupCommitter
from controller.store.sqlite import SqliteStore

MONDAY_9AM = 1_795_395_600_000
WINDOWS = 8


def hall() -> HallConfig:
    services = tuple(
        Service(id=p, name=f"业务{p}", prefix=p, number_max=10**6, number_width=6) for p in "ABCD"
    )
    windows = tuple(
        Window(number=n, name=f"{n}号窗口", services=(WindowService("ABCD"[n % 4], 1),))
        for n in range(1, WINDOWS + 1)
    )
    staff = tuple(Staff(id=f"{1000 + n}", name=f"工作人员{n}") for n in range(1, WINDOWS + 1))
    return HallConfig(
        hall=HallSettings(id="bench", name="基准大厅"),
        services=services,
        windows=windows,
        staff=staff,
        store=StoreSettings(snapshot_every_events=10**9),  # snapshots only when asked
    )


async def build_log(config: HallConfig, path: Path, tickets: int) -> None:
    engine = HallEngine(config)
    store = await SqliteStore.open(path)
    batch: list[bytes] = []
    for i in range(tickets):
        events = engine.handle(c.IssueTicket(service="ABCD"[i % 4]), MONDAY_9AM + i)
        batch.append(encode_record(events))
        if len(batch) == 20_000:
            await store.append("bench", batch)
            batch = []
    for n in range(1, WINDOWS + 1):
        batch.append(
            encode_record(
                engine.handle(c.Login(window=n, staff=f"{1000 + n}"), MONDAY_9AM + tickets)
            )
        )
    await store.append("bench", batch)
    await store.close()


async def load(runtime: HallRuntime, submitters: int, until: Callable[[], bool]) -> list[float]:
    """Submit back to back until ``until()``; each command's latency in ms."""
    latencies: list[float] = []

    async def submitter(k: int) -> None:
        window = k % WINDOWS + 1
        commands = (
            c.IssueTicket(service="ABCD"[k % 4]),
            c.CallNext(window=window),
            c.Finish(window=window),
        )
        i = 0
        while not until():
            command = commands[i % 3]
            i += 1
            started = time.perf_counter()
            try:
                await runtime.submit(command)
            except Rejected:
                continue
            latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(submitter(k) for k in range(submitters)))
    return latencies


def summary(name: str, latencies: list[float], seconds: float) -> str:
    q = statistics.quantiles(latencies, n=100)
    return (
        f"{name:<28} {len(latencies):>6} commands in {seconds:5.2f} s   "
        f"p50 {q[49]:6.2f} ms   p99 {q[98]:7.2f} ms   max {max(latencies):7.2f} ms"
    )


async def legacy_snapshot(runtime: HallRuntime, store: SqliteStore) -> None:
    """The former way: encode everything on the loop, then one write in the store's thread."""
    payload = SNAPSHOT_ENCODER.encode(runtime.state.to_snapshot())
    seq = runtime.state.seq
    await store._call(store._save_snapshot_sync, "bench", Snapshot(seq=seq, payload=payload))


async def main(tickets: int, seconds: float, submitters: int) -> None:
    config = hall()
    with tempfile.TemporaryDirectory(dir=".") as folder:
        path = Path(folder) / "bench.db"
        started = time.perf_counter()
        await build_log(config, path, tickets)
        print(f"log of {tickets} tickets written in {time.perf_counter() - started:.1f} s")
        store = await SqliteStore.open(path)
        try:
            async with GroupCommitter(store) as committer:
                runtime = await HallRuntime.open(config, store, committer)
                print(f"hall rebuilt: {len(runtime.state.tickets)} tickets")
                warm = time.perf_counter() + 0.5
                await load(runtime, submitters, lambda: time.perf_counter() > warm)
                # As in a daemon that has run a while: the rebuilt state in the oldest
                # generation (young, its 60,000-entry queue heaps make every collection slow).
                gc.collect()

                end = time.perf_counter() + seconds
                base = await load(runtime, submitters, lambda: time.perf_counter() > end)
                print(summary("no snapshot", base, seconds))

                p99 = statistics.quantiles(base, n=100)[98]
                ratios = []
                for name in ("during snapshot (now)", "during the next (replaces)"):
                    started = time.perf_counter()
                    runtime.start_snapshot()
                    during = await load(
                        runtime, submitters, lambda: not runtime.snapshot_in_progress
                    )
                    took = time.perf_counter() - started
                    print(summary(name, during, took))
                    ratios.append(statistics.quantiles(during, n=100)[98] / p99)

                started = time.perf_counter()
                task = asyncio.ensure_future(legacy_snapshot(runtime, store))
                await asyncio.sleep(0)
                legacy = await load(runtime, submitters, task.done)
                took = time.perf_counter() - started
                print(summary("during snapshot (before)", legacy, took))
                await task
                shown = " and ".join(f"{r:.2f}" for r in ratios)
                print(f"p99 during snapshot / p99 without: {shown} (first, next)")
        finally:
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=250_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--submitters", type=int, default=16)
    args = parser.parse_args()
    uvloop.run(main(args.tickets, args.seconds, args.submitters))
