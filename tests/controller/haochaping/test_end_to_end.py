"""End to end: the simulator's citizens rate on real MQTT pads; their ratings become records,
差评 become cases, statistics come out of the log, and everything reaches a strict provincial
platform through the outbox, retries included. One 追评 comes in through a ticket's QR link."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import date, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import aiohttp

from controller.auth.device_keys import DeviceKeys, device_keys_path
from controller.config.loader import parse_config
from controller.core import events as ev
from controller.daemon.device_links import mqtt_devices
from controller.daemon.process import Daemon, HallSource
from controller.haochaping.records import CASE_EVENTS, read_log
from controller.haochaping.service import Haochaping
from controller.haochaping.stats import Dimension, StatsFolder
from controller.store.sqlite import SqliteStore
from devices.mqtt.mosquitto_process import MosquittoProcess
from firmware_protocols.mqtt_v1 import RatingLevel as PadLevel
from simulator.params import SimParams
from simulator.run import run_simulation
from tests.controller.haochaping.stub_platform import StubPlatform

PARAMS = SimParams(
    arrivals_per_hour=60.0,
    ratings={
        PadLevel.VERY_SATISFIED: 0.4,
        PadLevel.SATISFIED: 0.2,
        PadLevel.BASICALLY_SATISFIED: 0.1,
        PadLevel.DISSATISFIED: 0.2,
        PadLevel.VERY_DISSATISFIED: 0.1,
    },
)
HALL = """
[hall]
id = "t"
name = "测试大厅"
region_code = "330999"

[[services]]
id = "A"
name = "不动产登记"
prefix = "A"
item_code = "330999001"
expected_minutes = 4

[[services]]
id = "B"
name = "社保业务"
prefix = "B"
item_code = "330999002"
expected_minutes = 3

[[windows]]
number = 1
name = "综合窗口"
department = "zwb"
services = ["A", "B"]

[[windows]]
number = 2
department = "zwb"
services = ["B"]

[[departments]]
id = "zwb"
name = "县政务服务管理局"
code = "113309990026000004"

[[staff]]
id = "0001"
name = "王丽"

[[staff]]
id = "0002"
name = "李强"

[[devices]]
id = "kiosk-1"
kind = "kiosk"
link = "mqtt"

[[devices]]
id = "screen"
kind = "hall_screen"
link = "mqtt"

[[devices]]
id = "w1-caller"
kind = "caller"
link = "mqtt"
window = 1

[[devices]]
id = "w1-led"
kind = "window_display"
link = "mqtt"
window = 1

[[devices]]
id = "w1-pad"
kind = "evaluator"
link = "mqtt"
window = 1

[[devices]]
id = "w2-caller"
kind = "caller"
link = "mqtt"
window = 2

[[devices]]
id = "w2-led"
kind = "window_display"
link = "mqtt"
window = 2

[[devices]]
id = "w2-pad"
kind = "evaluator"
link = "mqtt"
window = 2

[evaluation]
follow_up_url = "https://hall.example.gov.cn/hcp"
"""


def hall_text(platform_url: str) -> str:
    return HALL + f'\n[reporting]\nadapter = "json_v1"\nurl = "{platform_url}"\n'


async def test_simulated_ratings_flow_through_cases_statistics_and_the_outbox(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    platform = StubPlatform(fail_attempts=lambda rid, attempt: hash(rid) % 4 == 0 and attempt == 1)
    runner = await platform.start()
    text = hall_text(platform.url)
    config = parse_config(text)
    config = dataclasses.replace(config, mqtt=mosquitto.settings(config))
    service = Haochaping(tmp_path / "hall.db")
    daemon = Daemon(
        [HallSource(config, text)],
        db_path=tmp_path / "hall.db",
        http_port=0,
        extensions=[service.extension(), mqtt_devices(followup_url=service.followup_url)],
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(daemon.run(stop, ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        report = await run_simulation(
            config,
            mosquitto.address,
            duration_s=4.0,
            speed=600,
            seed=3,
            params=PARAMS,
            passwords=mosquitto.device_passwords(config),
            keys=DeviceKeys(device_keys_path(tmp_path / "hall.db")).lookup(config.hall.id),
        )
        assert report.violations == ()
        runtime = daemon.halls["t"]
        state = runtime.state

        # One 追评 through the QR link of a served ticket, as a citizen's phone would send it.
        served = next(t for t in state.tickets.values() if t.done_at is not None)
        link = service.followup_url(runtime, served.id)
        assert link is not None
        token = parse_qs(urlsplit(link).query)["t"][0]
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{daemon.bound_port}/hcp/t/{served.id}"
            body = {"t": token, "level": "very_dissatisfied", "reasons": ["wait"]}
            async with session.post(url, json=body) as response:
                assert response.status == 200, await response.text()

        [outbox] = service.halls["t"].outboxes
        for _ in range(500):  # the outbox catches up with the log (retries included)
            if outbox.status.lag_records == 0 and outbox.status.cursor == state.seq:
                break
            await asyncio.sleep(0.02)
        status = outbox.status
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await runner.cleanup()

    summary = report.result.summary
    assert summary.ratings >= 5, "the simulated citizens rated"
    assert state.totals.rated == summary.ratings  # the pads' ratings, each in the log once

    store = await SqliteStore.open(tmp_path / "hall.db")
    try:
        rated: list[ev.ServiceRated] = []
        opened: list[ev.CaseOpened] = []
        expected_ids: list[str] = []
        folder = StatsFolder(config)
        async for seq, events in read_log(store, "t"):
            folder.apply(events)
            for index, e in enumerate(events):
                if isinstance(e, (ev.ServiceRated, *CASE_EVENTS)):
                    expected_ids.append(f"t-{seq}-{index}")
                if isinstance(e, ev.ServiceRated):
                    rated.append(e)
                    if e.level.is_bad:  # the case sits in the same record, right after it
                        assert isinstance(events[index + 1], ev.CaseOpened)
                elif isinstance(e, ev.CaseOpened):
                    opened.append(e)
    finally:
        await store.close()

    bad = [r for r in rated if r.level.is_bad]
    assert len(bad) >= 2 and len(opened) == len(bad) == len(state.cases)
    assert sum(r.follow_up for r in rated) == 1 and len(rated) == summary.ratings + 1
    assert all(c.department == "zwb" for c in opened)

    day = report_day(rated[0].at, config.hall.timezone)
    stats = folder.report(day, day)
    [hall] = [r for r in stats.rows if r.dimension is Dimension.HALL]
    assert hall.ratings == len(rated) and hall.bad_ratings == len(bad) and hall.cases == len(bad)
    assert hall.rated == len({r.ticket for r in rated})
    assert hall.served == state.totals.finished

    assert platform.format_errors == []
    assert platform.order == expected_ids  # every rating and case record, in log order
    assert status.retries > 0 and status.delivered == len(expected_ids) and status.rejected == 0
    appended = [b for b in platform.received.values() if b.get("isAppend") == 1]
    assert len(appended) == 1 and appended[0]["channel"] == "3"


def report_day(ms: int, tz: str) -> date:
    return datetime.fromtimestamp(ms / 1000, ZoneInfo(tz)).date()
