"""Several destinations on a real daemon, across a restart: a batch platform and the 12345
hotline each get what they want from one hall, the hotline's 工单号 lands on the case, and a
restarted daemon resumes each destination at its own cursor without a duplicate event."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from controller.config.loader import parse_config
from controller.core import commands as c
from controller.core import events as ev
from controller.daemon.process import Daemon, HallSource
from controller.haochaping.keys import load_or_create_keys
from controller.haochaping.records import read_log
from controller.haochaping.service import Haochaping
from controller.store.sqlite import SqliteStore
from tests.controller.haochaping.stub_provinces import APP_KEY, SECRET, HotlineStub, ZwfwStub
from tests.controller.haochaping.test_outbox import until
from tests.controller.haochaping.test_public_ratings import HALL

L = c.RatingLevel


async def run_daemon(text: str, db: Path, work: Any) -> None:
    service = Haochaping(db)
    daemon = Daemon(
        [HallSource(parse_config(text), text)],
        db_path=db,
        http_port=0,
        extensions=[service.extension()],
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(daemon.run(stop, ready))
    await asyncio.wait_for(ready.wait(), 10)
    try:
        await work(daemon, service)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


async def serve(daemon: Daemon, window: int, staff: str, level: c.RatingLevel) -> None:
    hall = daemon.halls["h"]
    [issued] = (await hall.submit(c.IssueTicket(service="A"))).events
    assert isinstance(issued, ev.TicketIssued)
    if hall.state.windows[window].staff is None:
        await hall.submit(c.Login(window=window, staff=staff))
    await hall.submit(c.CallNext(window=window))
    await hall.submit(c.Finish(window=window))
    await hall.submit(c.Rate(ticket=issued.ticket, level=level))


async def test_two_destinations_on_a_daemon_across_a_restart(tmp_path: Path) -> None:
    batch, hotline = ZwfwStub(), HotlineStub()
    runners: list[web.AppRunner] = [await batch.start(batch.handle)]
    runners.append(await hotline.start(hotline.handle))
    text = HALL.format(disclose="false").replace(
        'prefix = "A"', 'prefix = "A"\nitem_code = "11330999MB1234567X3330117001000"'
    ) + (
        f'\n[[reporting]]\nadapter = "zwfw_batch"\nurl = "{batch.url}"\ncredentials = "prov"\n'
        f'\n[[reporting]]\nadapter = "hotline_12345"\nurl = "{hotline.url}"\n'
        'credentials = "hotline"\n'
    )
    db = tmp_path / "hall.db"
    secrets = db.with_name(db.name + ".secrets")
    load_or_create_keys(secrets)
    entry = {"app_key": APP_KEY, "app_secret": SECRET}
    data = json.loads(secrets.read_text()) | {"reporting": {"prov": entry, "hotline": entry}}
    secrets.write_text(json.dumps(data))
    try:

        async def first_day(daemon: Daemon, service: Haochaping) -> None:
            for level in (L.SATISFIED, L.DISSATISFIED, L.VERY_SATISFIED):
                await serve(daemon, 1, "01", level)
            await until(lambda: len(batch.received) == 3 + 3 + 1 and len(hotline.received) == 1, 10)
            case = daemon.halls["h"].state.cases[1]
            await until(lambda: "hotline_12345" in case.hand_overs, 10)

        await run_daemon(text, db, first_day)

        async def second_day(daemon: Daemon, service: Haochaping) -> None:
            state = daemon.halls["h"].state
            assert state.cases[1].hand_overs == {"hotline_12345": "GD2026000001"}  # from the log
            await serve(daemon, 2, "02", L.VERY_DISSATISFIED)
            await until(lambda: len(batch.received) == 10 and len(hotline.received) == 2, 10)
            await until(
                lambda: len(state.cases) == 2 and all(k.hand_overs for k in state.cases.values()),
                10,
            )
            keys = [o.key for o in service.halls["h"].outboxes]
            assert keys == ["outbox:zwfw_batch:h", "outbox:hotline_12345:h"]

        await run_daemon(text, db, second_day)
    finally:
        for runner in runners:
            await runner.cleanup()
    assert batch.errors == hotline.errors == []
    kinds = [batch.received[r]["record_type"] for r in batch.order]
    assert kinds.count("evaluation") == 4 and kinds.count("project") == 4
    assert kinds.count("rectification") == 2  # the two cases' "opened" steps
    store = await SqliteStore.open(db)
    try:
        handed = [
            e
            async for _, events in read_log(store, "h")
            for e in events
            if isinstance(e, ev.CaseHandedOver)
        ]
    finally:
        await store.close()
    assert [(e.case, e.reference) for e in handed] == [(1, "GD2026000001"), (2, "GD2026000002")]
