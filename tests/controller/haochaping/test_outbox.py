"""The outbox against a strict local platform: formats, retries, set-aside, restart, webhook."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from controller.config.loader import parse_config
from controller.config.model import HallConfig
from controller.core import commands as c
from controller.core import events as ev
from controller.daemon.runtime import HallRuntime
from controller.haochaping.adapters import EscalationWebhook, JsonV1Adapter
from controller.haochaping.outbox import Outbox, aiohttp_sender
from controller.haochaping.records import CASE_EVENTS, read_log
from controller.store.group_commit import GroupCommitter
from controller.store.sqlite import SqliteStore
from tests.controller.halls import MINUTE, MONDAY_9AM
from tests.controller.haochaping.stub_platform import StubPlatform

L = c.RatingLevel
HALL = """
[hall]
id = "qx"
name = "青溪县政务服务中心"
region_code = "330999"

[[services]]
id = "A"
name = "不动产登记"
prefix = "A"
item_code = "11330999MB1234567X3330117001000"

[[windows]]
number = 1
services = ["A"]
department = "zrj"

[[windows]]
number = 2
services = ["A"]
department = "zrj"

[[departments]]
id = "zrj"
name = "县自然资源和规划局"
code = "113309990026000004"

[[staff]]
id = "0101"
name = "陈晓燕"

[[staff]]
id = "0102"
name = "刘建国"

[reporting]
adapter = "json_v1"
url = "http://127.0.0.1:1/unused"
"""
LEVELS = [L.VERY_SATISFIED, L.SATISFIED, L.DISSATISFIED, L.BASICALLY_SATISFIED, L.VERY_DISSATISFIED]


class Hall:
    def __init__(self, runtime: HallRuntime, store: SqliteStore, clock: list[int]) -> None:
        self.runtime = runtime
        self.store = store
        self.clock = clock

    async def at(self, ms: int, command: c.AnyCommand) -> list[ev.AnyEvent]:
        self.clock[0] = ms
        return (await self.runtime.submit(command)).events


@pytest.fixture
async def hall(tmp_path: Path) -> AsyncIterator[Hall]:
    config = parse_config(HALL)
    store = await SqliteStore.open(tmp_path / "hall.db")
    clock = [MONDAY_9AM]
    async with GroupCommitter(store) as committer:
        runtime = await HallRuntime.open(
            config, store, committer, config_text=HALL, clock=lambda: clock[0]
        )
        yield Hall(runtime, store, clock)
    await store.close()


async def busy_morning(hall: Hall, services: int = 10) -> None:
    """Services at two windows, every fifth level a 差评; cases worked; a 追评; an overdue step."""
    t = MONDAY_9AM
    await hall.at(t, c.Login(window=1, staff="0101"))
    await hall.at(t, c.Login(window=2, staff="0102"))
    cases: list[int] = []
    for i in range(services):
        window = 1 + i % 2
        t += MINUTE
        [issued] = await hall.at(t, c.IssueTicket(service="A"))
        assert isinstance(issued, ev.TicketIssued)
        await hall.at(t + 1000, c.CallNext(window=window))
        await hall.at(t + 30_000, c.Finish(window=window))
        reasons = ("wait",) if LEVELS[i % 5].is_bad else ()
        rated = await hall.at(
            t + 35_000, c.Rate(ticket=issued.ticket, level=LEVELS[i % 5], reasons=reasons)
        )
        cases += [e.case for e in rated if isinstance(e, ev.CaseOpened)]
    await hall.at(
        t + 60_000,
        c.FollowUpRate(
            ticket=1,
            level=L.SATISFIED,
            text="回家后想想还行",
            rater_sealed="v1:x",
            rater_kind=c.RaterKind.INDIVIDUAL,
        ),
    )
    if not cases:
        return
    first = cases[0]
    await hall.at(t + 2 * MINUTE, c.ContactCase(case=first, by="王科长", note="电话联系"))
    await hall.at(
        t + 3 * MINUTE, c.VerifyCase(case=first, by="王科长", outcome=c.VerificationOutcome.UPHELD)
    )
    await hall.at(t + 4 * MINUTE, c.RectifyCase(case=first, by="李主任", note="增设叫号提示"))
    await hall.at(t + 5 * MINUTE, c.CloseCase(case=first, by="李主任", note="已回复群众"))
    await hall.at(MONDAY_9AM + 2 * 24 * 60 * MINUTE, c.Tick())  # Wednesday: 回访 overdue


async def expected_ids(store: SqliteStore, hall_id: str) -> list[str]:
    ids = []
    async for seq, events in read_log(store, hall_id):
        for index, e in enumerate(events):
            if isinstance(e, (ev.ServiceRated, *CASE_EVENTS)):
                ids.append(f"{hall_id}-{seq}-{index}")
    return ids


async def until(done: Any, within: float) -> None:
    """Poll ``done`` (the stub's counters have no event to wait on) for ``within`` seconds."""
    for _ in range(int(within / 0.01)):
        if done():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("condition not reached")


async def run_until(outbox: Outbox, done: Any, within: float = 10.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(outbox.run(stop))
    try:
        await until(done, within)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


@pytest.fixture
async def platform() -> AsyncIterator[StubPlatform]:
    stub = StubPlatform()
    runner = await stub.start()
    yield stub
    await runner.cleanup()


def outbox_for(hall: Hall, url: str, session: aiohttp.ClientSession, **kw: Any) -> Outbox:
    config: HallConfig = hall.runtime.engine.config
    adapter = JsonV1Adapter(url, ZoneInfo(config.hall.timezone))
    return Outbox(hall.store, config, adapter, aiohttp_sender(session), first_backoff_s=0.01, **kw)


async def test_every_record_arrives_well_formed_in_order_despite_failures(
    hall: Hall, platform: StubPlatform
) -> None:
    await busy_morning(hall)
    expected = await expected_ids(hall.store, "qx")
    assert len(expected) == 10 + 1 + 4 + 4 + 3  # ratings, 追评, opened, first's steps, overdue
    platform.fail_attempts = lambda rid, attempt: hash(rid) % 3 == 0 and attempt <= 2
    async with aiohttp.ClientSession() as session:
        outbox = outbox_for(hall, platform.url, session)
        await run_until(outbox, lambda: len(platform.received) == len(expected))
    assert platform.format_errors == []
    assert platform.order == expected  # log order, nothing overtakes a failing record
    status = outbox.status
    assert status.delivered == len(expected) and status.rejected == 0
    assert status.retries == 2 * sum(1 for rid in expected if hash(rid) % 3 == 0) > 0
    assert status.lag_records == 0 and status.cursor == await hall.store.last_seq("qx")
    rating = platform.received[expected[0]]
    assert rating["grade"] == 5 and rating["deptCode"] == "113309990026000004"
    assert rating["staffName"] == "陈晓燕" and rating["itemName"] == "不动产登记"
    follow_up = next(b for b in platform.received.values() if b.get("isAppend") == 1)
    assert follow_up["channel"] == "3" and follow_up["anonymous"] == 0
    assert "v1:x" not in str(platform.received)  # the sealed identity never leaves the hall
    overdue = [b for b in platform.received.values() if b.get("step") == "escalated"]
    assert [b["overdueStep"] for b in overdue] == ["contact"] * 3


async def test_a_refused_record_is_set_aside_and_the_rest_flow(
    hall: Hall, platform: StubPlatform
) -> None:
    await busy_morning(hall, services=5)
    expected = await expected_ids(hall.store, "qx")
    platform.refuse = lambda body: body.get("step") == "contacted"
    async with aiohttp.ClientSession() as session:
        outbox = outbox_for(hall, platform.url, session)
        await run_until(outbox, lambda: len(platform.received) == len(expected) - 1)
        assert outbox.status.rejected == 1 and "4001" in outbox.status.last_error
        [aside] = await outbox.rejected()
        assert aside["record_id"] in expected and aside["record_id"] not in platform.received


async def test_resumes_after_restart_without_losing_a_record(
    hall: Hall, platform: StubPlatform
) -> None:
    await busy_morning(hall)
    expected = await expected_ids(hall.store, "qx")
    platform.hold_after = 7  # the first outbox is stopped with its 8th record in flight
    async with aiohttp.ClientSession() as session:
        first = outbox_for(hall, platform.url, session)
        stop = asyncio.Event()
        task = asyncio.create_task(first.run(stop))
        await asyncio.wait_for(platform.holding.wait(), 10)
        stop.set()
        platform.release()  # the request in flight is answered; the outbox then stops
        await asyncio.wait_for(task, 5)
        assert first.status.delivered == 8
        saved = int(await hall.store.get_value(first.key) or b"0")
        assert 0 < saved < await hall.store.last_seq("qx")
        second = outbox_for(hall, platform.url, session)  # a new process, same database
        await run_until(second, lambda: len(platform.received) == len(expected))
    assert sorted(platform.received) == sorted(expected)
    # the second resumed at the saved cursor: it sent exactly the records after it
    after_cursor = [rid for rid in expected if int(rid.split("-")[1]) > saved]
    assert second.status.delivered == len(after_cursor) < len(expected)
    assert platform.duplicates == len(after_cursor) - (len(expected) - 8)
    # case steps sent after the restart still carry their case's department code
    assert all(len(body["deptCode"]) == 18 for body in platform.received.values())
    assert platform.format_errors == []


class WatchedWake(asyncio.Event):
    """The outbox's wake-up event, telling the test when the outbox has gone idle on it."""

    def __init__(self) -> None:
        super().__init__()
        self.idle = asyncio.Event()

    async def wait(self) -> Literal[True]:
        self.idle.set()
        return await super().wait()


async def test_new_records_wake_a_waiting_outbox(hall: Hall, platform: StubPlatform) -> None:
    async with aiohttp.ClientSession() as session:
        outbox = outbox_for(hall, platform.url, session)
        wake = outbox._wake = WatchedWake()
        hall.runtime.subscribe(outbox.notify)
        stop = asyncio.Event()
        task = asyncio.create_task(outbox.run(stop))
        await asyncio.wait_for(wake.idle.wait(), 5)  # drained the empty log; only a wake-up helps
        await busy_morning(hall, services=2)
        await until(lambda: len(platform.received) >= 2, 5)
        stop.set()
        await task
    assert outbox.status.log_seq == await hall.store.last_seq("qx")


async def test_unreachable_platform_counts_failures_and_keeps_the_cursor(hall: Hall) -> None:
    await busy_morning(hall, services=2)
    first_rating_seq = int((await expected_ids(hall.store, "qx"))[0].split("-")[1])
    async with aiohttp.ClientSession() as session:
        outbox = outbox_for(hall, "http://127.0.0.1:9/api", session, timeout_s=0.5)
        await run_until(outbox, lambda: outbox.status.consecutive_failures >= 3)
    assert outbox.status.delivered == 0 and outbox.status.lag_records > 0
    assert outbox.status.last_error.startswith("Client")
    assert outbox.status.cursor == first_rating_seq - 1  # stuck before the undelivered record
    assert int(await hall.store.get_value(outbox.key) or b"0") <= first_rating_seq - 1


async def test_the_webhook_gets_overdue_steps_only(hall: Hall) -> None:
    from aiohttp import web

    notices: list[dict[str, Any]] = []

    async def receive(request: web.Request) -> web.Response:
        notices.append(await request.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/overdue", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        await busy_morning(hall, services=5)
        config = hall.runtime.engine.config
        webhook = EscalationWebhook(f"http://127.0.0.1:{port}/overdue")
        async with aiohttp.ClientSession() as session:
            outbox = Outbox(hall.store, config, webhook, aiohttp_sender(session))
            await run_until(outbox, lambda: outbox.status.lag_records == 0 and len(notices) > 0)
    finally:
        await runner.cleanup()
    assert {n["overdue_step"] for n in notices} == {"contact"}
    assert all(n["case_id"].startswith("qx-C") for n in notices)
    assert len(notices) == 1  # five services: one 差评 left uncontacted (the other was handled)
