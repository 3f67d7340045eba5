"""Event-store benchmark: durable appends with group commit, then replay reading.

Run: ``.venv/bin/python benchmarks/bench_store.py [--seconds 5] [--producers 64]
[--kind sqlite|postgres|both]`` (both by default, one after the other in the same run).

Phase 1: N producer coroutines append records (2 events, ~150 bytes, msgpack) through one
GroupCommitter onto the store for a fixed time; every counted append was durable when its await
returned (SQLite: WAL, synchronous=FULL; PostgreSQL: fsync on, synchronous_commit on). Phase 2:
write --records records to one hall, reopen the store and time reading them all back, then
decoding them with msgspec. PostgreSQL runs in a private cluster (tests/pg_cluster.py: initdb
+ pg_ctl, fsync on) in the same folder as the SQLite files, on the same disk.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.pg_cluster

from controller.store.group_commit import GroupCommitter
from controller.store.postgres import PostgresStore
from controller.store.sqlite import SqliteStore
from tests.pg_cluster import PostgresCluster

Opener = Callable[[str], Awaitable[Any]]
"""Opens the store named ``name`` (a fresh one the first time)."""

EVENTS_PER_RECORD = 2
HALLS = 8


class BenchEvent(msgspec.Struct, array_like=True):
    """Shaped like an engine event: kind, hall, window, ticket, staff, time."""

    kind: str
    hall: str
    window: int
    ticket: str
    staff: str
    at_ms: int


def make_record(hall: str, number: int) -> bytes:
    events = [
        BenchEvent("ticket_called", hall, 3, f"A{number:04d}", "不动产登记窗口工号0042", number),
        BenchEvent("window_serving", hall, 3, f"A{number:04d}", "不动产登记窗口工号0042", number),
    ]
    return msgspec.msgpack.encode(events)


async def bench_group_commit(open_store: Opener, producers: int, seconds: float) -> None:
    store = await open_store("commit")
    latencies: list[float] = []
    try:
        async with GroupCommitter(store) as committer:
            deadline = time.perf_counter() + seconds

            async def produce(producer: int) -> None:
                hall = f"hall-{producer % HALLS}"
                number = 0
                while time.perf_counter() < deadline:
                    payload = make_record(hall, number)
                    started = time.perf_counter()
                    await committer.append(hall, payload)
                    latencies.append(time.perf_counter() - started)
                    number += 1

            began = time.perf_counter()
            async with asyncio.TaskGroup() as group:
                for producer in range(producers):
                    group.create_task(produce(producer))
            elapsed = time.perf_counter() - began
            commits = committer.commits
    finally:
        await store.close()
    records = len(latencies)
    size = len(make_record("hall-0", 1234))
    quantiles = statistics.quantiles(latencies, n=100)
    print(f"group commit: {producers} producers, {elapsed:.1f} s, records of {size} bytes")
    print(f"  durable records/s : {records / elapsed:,.0f}")
    print(f"  durable events/s  : {records * EVENTS_PER_RECORD / elapsed:,.0f}")
    print(f"  commits/s         : {commits / elapsed:,.0f}")
    print(f"  mean batch        : {records / commits:.1f} records/commit")
    print(
        f"  append latency    : p50 {quantiles[49] * 1e3:.2f} ms, p99 {quantiles[98] * 1e3:.2f} ms"
    )


async def bench_read(open_store: Opener, count: int) -> None:
    store = await open_store("replay")
    began = time.perf_counter()
    try:
        batch = 10_000
        for first in range(0, count, batch):
            payloads = [make_record("replay", n) for n in range(first, min(first + batch, count))]
            await store.append("replay", payloads)
    finally:
        await store.close()
    print(f"\nreplay: wrote {count:,} records in {time.perf_counter() - began:.1f} s")

    store = await open_store("replay")
    try:
        began = time.perf_counter()
        read_count = 0
        async for chunk in store.read("replay"):
            read_count += len(chunk)
        read_seconds = time.perf_counter() - began

        decoder = msgspec.msgpack.Decoder(list[BenchEvent])
        began = time.perf_counter()
        decoded = 0
        async for chunk in store.read("replay"):
            for record in chunk:
                decoded += len(decoder.decode(record.payload))
        replay_seconds = time.perf_counter() - began
    finally:
        await store.close()
    assert read_count == count, (read_count, count)
    print(
        f"  read {read_count:,} records: {read_seconds:.2f} s ({read_count / read_seconds:,.0f}/s)"
    )
    print(
        f"  read+decode {decoded:,} events: {replay_seconds:.2f} s "
        f"({decoded / replay_seconds:,.0f} events/s)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--producers", type=int, default=64)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=None, help="where to put the files")
    parser.add_argument("--kind", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="bench-store-") as directory:
        folder = Path(directory)
        if args.kind in ("sqlite", "both"):
            print("=== SQLite (WAL, synchronous=FULL)")

            async def open_sqlite(name: str) -> SqliteStore:
                return await SqliteStore.open(folder / f"{name}.db")

            await bench_group_commit(open_sqlite, args.producers, args.seconds)
            await bench_read(open_sqlite, args.records)
        if args.kind in ("postgres", "both"):
            # beside the SQLite files' folder (same disk), where the postgres user may enter
            cluster = PostgresCluster(fsync=True, parent=folder.parent)
            cluster.start()
            try:
                dsns: dict[str, str] = {}
                print("\n=== PostgreSQL (private cluster, fsync on, synchronous_commit on)")

                async def open_postgres(name: str) -> PostgresStore:
                    if name not in dsns:
                        dsns[name] = await asyncio.to_thread(cluster.create_database)
                    return await PostgresStore.open(dsns[name])

                await bench_group_commit(open_postgres, args.producers, args.seconds)
                await bench_read(open_postgres, args.records)
            finally:
                cluster.close()


if __name__ == "__main__":
    uvloop.run(main())
