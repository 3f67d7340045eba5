"""好差评 figures: statistics over a big log, and outbox delivery rate to a local platform.

1. ``StatsFolder`` over a log of N services (issue, call, finish, rate; 10 % 差评 with cases):
   read + decode + fold + report, from SQLite;
2. outbox records/s to a local aiohttp stub answering ``{"code": 0}`` (one request per record,
   in order, as the platform requires), cursor saves included.

Run: .venv/bin/python benchmarks/bench_haochaping.py [--services 100000] [--deliver 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import date
from pathlib import Path

import aiohttp
from aiohttp import web

from controller.config.loader import parse_config
from controller.core import commands as c
from controller.core import events as ev
from controller.core.engine import HallEngine
from controller.haochaping.adapters import JsonV1Adapter
from controller.haochaping.outbox import Outbox, aiohttp_sender
from controller.haochaping.records import read_log
from controller.haochaping.stats import StatsFolder
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


async def build_log(store: SqliteStore, services: int) -> int:
    engine = HallEngine(parse_config(HALL))
    records = [ev.encode_record([ev.HallConfigured(at=T0, text=HALL, digest="x")])]
    engine.handle(c.Login(window=1, staff="01"), T0)
    now = T0
    ratings = 0
    for i in range(services):
        now += 1000
        for command in (
            c.IssueTicket(service="A"),
            c.CallNext(window=1),
            c.Finish(window=1),
            c.Rate(ticket=i + 1, level=LEVELS[i % 10]),
        ):
            events = engine.handle(command, now)
            records.append(ev.encode_record(events))
        ratings += 1
        if i % 5000 == 4999:
            engine.handle(c.CloseDay(), now)
    for start in range(0, len(records), 10_000):
        await store.append("b", records[start : start + 10_000])
    return ratings


async def main(services: int, deliver: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = await SqliteStore.open(Path(folder) / "b.db")
        await build_log(store, services)
        config = parse_config(HALL)
        started = time.perf_counter()
        stats = StatsFolder()
        async for _, events in read_log(store, "b"):
            stats.apply(events)
        report = stats.report(config, date(2026, 1, 1), date(2027, 12, 31))
        took = time.perf_counter() - started
        print(f"statistics: {services} services, {len(report.rows)} rows in {took:.2f} s")

        async def ok(request: web.Request) -> web.Response:
            await request.read()
            return web.json_response({"code": 0})

        app = web.Application()
        app.router.add_post("/r", ok)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        small = await SqliteStore.open(Path(folder) / "small.db")
        await build_log(small, deliver)
        async with aiohttp.ClientSession() as session:
            adapter = JsonV1Adapter(
                f"http://127.0.0.1:{port}/r", JsonV1Adapter.from_config(config).tz
            )
            outbox = Outbox(small, config, adapter, aiohttp_sender(session))
            stop = asyncio.Event()
            started = time.perf_counter()
            task = asyncio.create_task(outbox.run(stop))
            for _ in range(100_000):  # the outbox's counters have no event to wait on
                if outbox.status.delivered >= deliver + deliver // 10:
                    break
                await asyncio.sleep(0.01)
            took = time.perf_counter() - started
            stop.set()
            await task
        print(
            f"outbox: {outbox.status.delivered} records in {took:.2f} s "
            f"({outbox.status.delivered / took:.0f}/s)"
        )
        await runner.cleanup()
        await small.close()
        await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=100_000)
    parser.add_argument("--deliver", type=int, default=3000)
    args = parser.parse_args()
    asyncio.run(main(args.services, args.deliver))
