"""Engine and log figures for docs/benchmarks.md (issue: hall queue engine).

1. commands/s of the engine in memory (a realistic mix: take, call, start, finish, rate);
2. durable events/s through HallRuntime + group commit + SQLite (WAL, synchronous=FULL), with
   many concurrent submitters as a busy hall would have;
3. replay time of a log of 1,000,000 events (SQLite read + decode + fold).

Run: .venv/bin/python benchmarks/bench_engine.py [--events 1000000] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import uvloop

from controller.config.loader import load_config
from controller.config.model import HallConfig
from controller.core import commands as c
from controller.core.engine import HallEngine
from controller.core.events import encode_record
from controller.core.lifecycle import Rejected
from controller.daemon.runtime import HallRuntime, load_state
from controller.store.group_commit import GroupCommitter
from controller.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[1]
START_MS = 1_795_395_600_000  # a Monday, 09:00 in Shanghai


def hall() -> HallConfig:
    """The demo hall, with number ranges wide enough for a benchmark's endless day."""
    config = load_config(ROOT / "examples" / "demo-hall.toml")
    services = tuple(replace(s, number_max=10**7) for s in config.services)
    return replace(config, services=services)


def workload(config: HallConfig) -> Iterator[c.AnyCommand]:
    """An endless day: logins, then per window take -> call -> start -> finish -> rate."""
    windows = [w.number for w in config.windows]
    staff = [s.id for s in config.staff]
    for window, member in zip(windows, staff, strict=False):
        yield c.Login(window=window, staff=member)
    ticket = 0
    while True:
        for window in windows:
            w = config.window(window)
            assert w is not None
            yield c.IssueTicket(service=w.services[0].service_id)
            yield c.CallNext(window=window)
            yield c.Start(window=window)
            yield c.Finish(window=window)
            ticket += 1
            yield c.Rate(ticket=ticket, level=c.RatingLevel.SATISFIED)


def bench_engine(config: HallConfig, commands: int) -> dict[str, float]:
    engine = HallEngine(config)
    gen = workload(config)
    batch = [next(gen) for _ in range(commands)]
    now = START_MS
    events = rejected = 0
    started = time.perf_counter()
    for command in batch:
        now += 7
        try:
            events += len(engine.handle(command, now))
        except Rejected:
            rejected += 1
    seconds = time.perf_counter() - started
    return {
        "commands": commands,
        "seconds": round(seconds, 3),
        "commands_per_s": round(commands / seconds),
        "events_per_s": round(events / seconds),
        "rejected": rejected,
    }


async def bench_durable(config: HallConfig, seconds: float, producers: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        store = await SqliteStore.open(Path(tmp) / "bench.db")
        async with GroupCommitter(store) as committer:
            runtime = await HallRuntime.open(config, store, committer)
            for window, member in zip(
                [w.number for w in config.windows], [s.id for s in config.staff], strict=False
            ):
                await runtime.submit(c.Login(window=window, staff=member))
            services = [s.id for s in config.services]
            deadline = time.perf_counter() + seconds
            counts = {"commands": 0, "events": 0}
            latencies: list[float] = []

            async def producer(i: int) -> None:
                n = 0
                while time.perf_counter() < deadline:
                    n += 1
                    t0 = time.perf_counter()
                    receipt = await runtime.submit(
                        c.IssueTicket(service=services[(i + n) % len(services)])
                    )
                    latencies.append(time.perf_counter() - t0)
                    counts["commands"] += 1
                    counts["events"] += len(receipt.events)

            started = time.perf_counter()
            await asyncio.gather(*(producer(i) for i in range(producers)))
            elapsed = time.perf_counter() - started
            commits = committer.commits
        await store.close()
    latencies.sort()
    return {
        "producers": producers,
        "seconds": round(elapsed, 2),
        "durable_events_per_s": round(counts["events"] / elapsed),
        "commits_per_s": round(commits / elapsed),
        "mean_batch": round(counts["commands"] / max(1, commits), 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
    }


async def bench_replay(config: HallConfig, target_events: int) -> dict[str, float]:
    """Write a log of ``target_events`` events (one command per record, as the daemon does),
    then time rebuilding the state from it."""
    engine = HallEngine(config)
    gen = workload(config)
    now = START_MS
    with tempfile.TemporaryDirectory() as tmp:
        store = await SqliteStore.open(Path(tmp) / "replay.db")
        events = 0
        pending: list[bytes] = []
        write_started = time.perf_counter()
        while events < target_events:
            now += 7
            try:
                out = engine.handle(next(gen), now)
            except Rejected:
                continue
            if out:
                events += len(out)
                pending.append(encode_record(out))
            if len(pending) >= 5000:
                await store.append(config.hall.id, pending)
                pending = []
        if pending:
            await store.append(config.hall.id, pending)
        write_seconds = time.perf_counter() - write_started
        size = (Path(tmp) / "replay.db").stat().st_size
        records = await store.last_seq(config.hall.id)
        started = time.perf_counter()
        state = await load_state(config, store)
        replay_seconds = time.perf_counter() - started
        assert state.fingerprint() == engine.state.fingerprint(), "replay differs from live"
        await store.close()
    return {
        "events": events,
        "records": records,
        "tickets": len(state.tickets),
        "db_mb": round(size / 1e6, 1),
        "write_seconds": round(write_seconds, 2),
        "replay_seconds": round(replay_seconds, 2),
        "replay_events_per_s": round(events / replay_seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=500_000)
    parser.add_argument("--durable-seconds", type=float, default=5.0)
    parser.add_argument("--producers", type=int, default=64)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    config = hall()
    result = {
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpu, "
        f"Python {platform.python_version()}",
        "engine": bench_engine(config, args.commands),
        "durable": uvloop.run(bench_durable(config, args.durable_seconds, args.producers)),
        "replay": uvloop.run(bench_replay(config, args.events)),
    }
    print(json.dumps(result, indent=None if args.json else 2, ensure_ascii=False))


if __name__ == "__main__":
    main()
