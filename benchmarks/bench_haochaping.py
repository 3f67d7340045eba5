"""好差评 figures: statistics over a big log, and outbox delivery rate to a local platform.

1. statistics over a log of N services (issue, call, finish, rate; 10 % 差评 with cases; 5,000
   a day, each day closed): the one read of the log ``LiveStats`` does at start-up (read +
   decode + fold into day buckets), then what a request costs: a report for one day, for the
   month, and for the whole range (merging day buckets; no fold); then the statistics snapshot
   (save, and a restart or ``hallctl report`` starting from it);
2. outbox records/s to a local aiohttp platform, cursor saves included: ``json_v1`` (one
   request per record, ratings and case steps) and ``zwfw_batch`` (batches of ``--batch``,
   signed, ratings, 办件 records and case steps), in the same run.

Run: .venv/bin/python benchmarks/bench_haochaping.py [--services 100000] [--deliver 3000]
     [--batch 200]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from controller.config.loader import parse_config
from controller.core import commands as c
from controller.core import events as ev
from controller.core.engine import HallEngine
from controller.haochaping.adapters import JsonV1Adapter, ZwfwBatchAdapter
from controller.haochaping.adapters.base import Adapter
from controller.haochaping.keys import Credentials
from controller.haochaping.live_stats import LiveStats, snapshot_key
from controller.haochaping.outbox import Outbox, aiohttp_sender
from controller.store.sqlite import SqliteStore

HALL = """
[hall]
id = "b"
name = "基准大厅"
region_code = "330999"
[[services]]
id = "A"
name = "社保"
prefix = "A"
number_max = 99999
number_width = 5
[[windows]]
number = 1
services = ["A"]
[[staff]]
id = "01"
name = "王芳"
"""
T0 = 1_795_395_600_000
LEVELS = [c.RatingLevel.VERY_SATISFIED] * 9 + [c.RatingLevel.DISSATISFIED]


async def build_log(store: SqliteStore, services: int, per_day: int = 5000) -> int:
    """``services`` services, ``per_day`` a day from 09:00 five seconds apart, each day closed
    at 17:31 (so finished tickets leave the live state, as on a real hall)."""
    engine = HallEngine(parse_config(HALL))
    records = [ev.encode_record([ev.HallConfigured(at=T0, text=HALL, digest="x")])]
    records.append(ev.encode_record(engine.handle(c.Login(window=1, staff="01"), T0)))
    day_start = T0
    ratings = 0
    for i in range(services):
        now = day_start + (i % per_day) * 5000
        for command in (
            c.IssueTicket(service="A"),
            c.CallNext(window=1),
            c.Finish(window=1),
            c.Rate(ticket=i + 1, level=LEVELS[i % 10]),
        ):
            events = engine.handle(command, now)
            records.append(ev.encode_record(events))
        ratings += 1
        if i % per_day == per_day - 1:
            records.append(ev.encode_record(engine.handle(c.CloseDay(), day_start + 30_660_000)))
            day_start += 86_400_000
    for start in range(0, len(records), 10_000):
        await store.append("b", records[start : start + 10_000])
    return ratings


def best_of(runs: int, job: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        job()
        times.append(time.perf_counter() - started)
    return min(times)


async def statistics(store: SqliteStore, services: int) -> None:
    config = parse_config(HALL)
    live = LiveStats(store, "b", config)
    started = time.perf_counter()
    await live.build()
    print(
        f"statistics: start-up read of {services} services: {time.perf_counter() - started:.2f} s"
    )
    first = date.fromtimestamp(T0 / 1000)
    for name, (start, end) in {
        "one day": (first, first),
        "the month (30 days)": (first, first + timedelta(days=29)),
        "whole range (366 days)": (first, first + timedelta(days=365)),
    }.items():
        report = live.folder.report(start, end)
        [hall] = [r for r in report.rows if r.key == "b"]
        took = best_of(3, lambda s=start, e=end: live.folder.report(s, e))
        print(
            f"statistics: {name}: {hall.served} services, {len(report.rows)} rows in {took:.3f} s"
        )
    started = time.perf_counter()
    await live.save()
    size = len(await store.get_value(snapshot_key("b")) or b"")
    print(
        f"statistics: snapshot saved, {size / 1e6:.1f} MB in {time.perf_counter() - started:.2f} s"
    )
    again = LiveStats(store, "b", config)  # a restart, or hallctl report: snapshot + log tail
    started = time.perf_counter()
    await again.build()
    month = again.folder.report(first, first + timedelta(days=29))
    took = time.perf_counter() - started
    print(f"statistics: from the snapshot, caught up and the month's report in {took:.2f} s")
    assert month == live.folder.report(first, first + timedelta(days=29))


async def outbox_rate(
    store: SqliteStore, adapter: Adapter, session: aiohttp.ClientSession
) -> tuple[int, float]:
    outbox = Outbox(store, parse_config(HALL), adapter, aiohttp_sender(session))
    last = await store.last_seq("b")
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(outbox.run(stop))
    for _ in range(100_000):  # the outbox's counters have no event to wait on
        if outbox.status.cursor >= last:
            break
        await asyncio.sleep(0.01)
    took = time.perf_counter() - started
    stop.set()
    await task
    return outbox.status.delivered, took


async def main(services: int, deliver: int, batch: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = await SqliteStore.open(Path(folder) / "b.db")
        await build_log(store, services)
        await statistics(store, services)
        await store.close()

        async def json_ok(request: web.Request) -> web.Response:
            await request.read()
            return web.json_response({"code": 0})

        async def batch_ok(request: web.Request) -> web.Response:
            await request.read()
            return web.json_response({"code": "0000", "data": {"failed": []}})

        app = web.Application()
        app.router.add_post("/r", json_ok)
        app.router.add_post("/batch", batch_ok)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        credentials = Credentials(app_key="bench", app_secret=b"bench-secret")
        adapters: list[Adapter] = [
            JsonV1Adapter(f"{base}/r", ZoneInfo("Asia/Shanghai")),
            ZwfwBatchAdapter(f"{base}/batch", credentials, max_batch=batch),
        ]
        async with aiohttp.ClientSession() as session:
            for adapter in adapters:
                small = await SqliteStore.open(Path(folder) / f"{adapter.name}.db")
                await build_log(small, deliver)
                delivered, took = await outbox_rate(small, adapter, session)
                await small.close()
                print(
                    f"outbox {adapter.name}: {delivered} records in {took:.2f} s "
                    f"({delivered / took:.0f}/s)"
                )
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=100_000)
    parser.add_argument("--deliver", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.services, args.deliver, args.batch))
