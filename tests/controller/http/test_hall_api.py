"""Console reads and actions: devices and alerts, notice and reprint (through the hub to the
devices), ratings and cases, figures as JSON/SVG/CSV/XLSX, voice, the live stream, metrics."""

from __future__ import annotations

import asyncio
import io
import shutil
import time
from collections.abc import AsyncIterator

import msgspec
import pytest

from controller.core.commands import Rate, RatingLevel
from firmware_protocols import mqtt_v1 as proto
from tests.controller.http.console_app import HALL, Console, console_app

BASE = f"/api/v1/halls/{HALL}"


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    async with console_app() as app:
        yield app


async def serve_and_rate(console: Console, csrf: str, level: str) -> dict:
    for body in (
        {"type": "issue_ticket", "service": "A"},
        {"type": "login", "window": 1, "staff": "1001"},
        {"type": "call_next", "window": 1},
        {"type": "finish", "window": 1},
    ):
        response = await console.post(f"{BASE}/commands", body, csrf)
        assert response.status == 200, await response.text()
        if body["type"] == "call_next":
            ticket = (await response.json())["events"][0]["ticket"]
    # The window's pad rates through the device hub's port, never the command API.
    receipt = await console.runtime.submit(Rate(ticket=ticket, level=RatingLevel(level)))
    await console.post(f"{BASE}/commands", {"type": "logout", "window": 1}, csrf)
    return {"events": msgspec.to_builtins(receipt.events)}


async def test_devices_and_offline_alerts(console: Console) -> None:
    await console.login("viewer")
    console.birth("kiosk-1")
    console.hub.on_inbound(
        type(
            "Inbound",
            (),
            {"device": "kiosk-1", "message": proto.PrinterStatus(paper=proto.PaperLevel.OUT)},
        )()
    )
    devices = await (await console.client.get(f"{BASE}/devices")).json()
    assert {d["id"]: d["online"] for d in devices} == {
        "kiosk-1": True,
        "screen-1": False,
        "strip-1": False,
        "caller-1": False,
    }
    assert devices[0]["firmware"] == "1.2.3"
    offline = await (await console.client.get(f"{BASE}/devices?offline=true")).json()
    assert sorted(d["id"] for d in offline) == ["caller-1", "screen-1", "strip-1"]
    alerts = await (await console.client.get(f"{BASE}/alerts")).json()
    kinds = sorted((a["kind"], a["subject"]) for a in alerts)
    assert ("printer", "kiosk-1") in kinds and ("device_offline", "strip-1") in kinds
    assert any("缺纸" in a["text"] for a in alerts)


async def test_long_wait_alert(console: Console) -> None:
    csrf = await console.login("op")
    await console.post(f"{BASE}/commands", {"type": "issue_ticket", "service": "B"}, csrf)
    console.ctx.wait_alert_minutes = 0.0
    await asyncio.sleep(0.01)
    alerts = await (await console.client.get(f"{BASE}/alerts")).json()
    assert any(a["kind"] == "long_wait" and a["subject"] == "B" for a in alerts)


async def test_notice_reaches_the_strip_and_the_screen(console: Console) -> None:
    csrf = await console.login("op")
    await console.post(f"{BASE}/commands", {"type": "login", "window": 1, "staff": "1001"}, csrf)
    console.birth("strip-1")
    console.birth("screen-1")
    console.link.sent.clear()
    response = await console.post(f"{BASE}/notice", {"text": "今日系统升级 请耐心等候"}, csrf)
    assert response.status == 200
    await asyncio.sleep(0)  # the window flush runs on the next loop turn
    shown = {d: m.state for d, m in console.link.sent if isinstance(m, proto.Show)}
    assert shown["strip-1"].lines == ["今日系统升级 请耐心等候"]
    assert shown["screen-1"].notice == "今日系统升级 请耐心等候"
    assert console.ctx.directory.audit_trail[-1].action == "notice"
    too_long = await console.post(f"{BASE}/notice", {"text": "长" * 201}, csrf)
    assert too_long.status == 400
    assert console.hub.extras.notice == "今日系统升级 请耐心等候"


async def test_reprint_goes_to_the_kiosk_and_refusals_change_nothing(console: Console) -> None:
    csrf = await console.login("op")
    issued = await console.post(f"{BASE}/commands", {"type": "issue_ticket", "service": "A"}, csrf)
    ticket = (await issued.json())["events"][0]["ticket"]
    offline = await console.post(f"{BASE}/tickets/{ticket}/reprint", {"kiosk": "kiosk-1"}, csrf)
    assert offline.status == 409 and (await offline.json())["code"] == "device_offline"
    console.birth("kiosk-1")
    console.link.sent.clear()
    ok = await console.post(f"{BASE}/tickets/{ticket}/reprint", {"kiosk": "kiosk-1"}, csrf)
    assert ok.status == 200
    [(device, printed)] = [(d, m) for d, m in console.link.sent if isinstance(m, proto.PrintTicket)]
    assert device == "kiosk-1" and printed.number == "A001"
    for kiosk, ticket_id, code in (
        ("screen-1", ticket, "not_a_kiosk"),
        ("kiosk-1", 999, "not_reprintable"),
    ):
        refused = await console.post(f"{BASE}/tickets/{ticket_id}/reprint", {"kiosk": kiosk}, csrf)
        assert (await refused.json())["code"] == code
    malformed = await console.post(f"{BASE}/tickets/{ticket}/reprint", {"printer": 1}, csrf)
    assert malformed.status == 400


async def test_ratings_cases_and_figures(console: Console) -> None:
    csrf = await console.login("op")
    rated = await serve_and_rate(console, csrf, "very_dissatisfied")
    await serve_and_rate(console, csrf, "satisfied")
    ratings = await (await console.client.get(f"{BASE}/ratings")).json()
    assert sorted(r["label"] for r in ratings) == ["满意", "非常不满意"]
    bad = await (await console.client.get(f"{BASE}/ratings?bad=true")).json()
    assert [r["level"] for r in bad] == ["very_dissatisfied"]
    assert (await console.client.get(f"{BASE}/ratings?level=meh")).status == 400
    [case_id] = [e["case"] for e in rated["events"] if e["e"] == "case_opened"]
    cases = await (await console.client.get(f"{BASE}/cases")).json()
    assert [c["id"] for c in cases] == [case_id] and cases[0]["state"] == "awaiting_contact"
    case = await (await console.client.get(f"{BASE}/cases/{case_id}")).json()
    assert case["number"] == "A001" and case["contact_due"] > case["opened_at"]
    assert (await console.client.get(f"{BASE}/cases/999")).status == 404
    assert (await console.client.get(f"{BASE}/cases?state=nope")).status == 400

    figures = await (await console.client.get(f"{BASE}/figures")).json()
    assert figures["overall"]["rated"] == 2 and figures["overall"]["satisfaction"] == 0.5
    assert figures["overall"]["coverage"] == 1.0
    assert sum(h["arrivals"] for h in figures["hours"]) == 2
    svg = await console.client.get(f"{BASE}/figures/satisfaction-window.svg")
    assert svg.status == 200 and svg.content_type == "image/svg+xml"
    assert "<svg" in await svg.text() and "50%" in await svg.text()
    assert (await console.client.get(f"{BASE}/figures/nope.svg")).status == 404
    csv_text = (await (await console.client.get(f"{BASE}/figures.csv")).read()).decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("类别,项目,取号")
    xlsx = await (await console.client.get(f"{BASE}/figures.xlsx")).read()
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(xlsx)).active
    assert sheet is not None and sheet["A1"].value == "类别"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="apt-get install espeak-ng")
async def test_voice_is_a_wav_of_a_call_and_nothing_else(console: Console) -> None:
    await console.login("viewer")
    wav = await console.client.get(f"{BASE}/voice.wav?number=A023&window=3&recall=1")
    assert wav.status == 200 and (await wav.read()).startswith(b"RIFF")
    for query, status in (
        ("number=A023;rm&window=3", 400),
        ("number=hello&window=3", 400),
        ("number=A023&window=x", 400),
        ("number=A023&window=99", 404),
    ):
        assert (await console.client.get(f"{BASE}/voice.wav?{query}")).status == status


async def read_event(stream: object, kind: str) -> dict:
    """The next SSE event of ``kind`` from an aiohttp response's content."""
    event = ""
    while True:
        line = (await stream.readline()).decode().rstrip("\n")  # type: ignore[attr-defined]
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == kind:
            result: dict = msgspec.json.decode(line[6:])
            return result


async def test_live_stream_sends_a_picture_per_change_and_calls(console: Console) -> None:
    csrf = await console.login("op")
    response = await console.client.get(f"{BASE}/live")
    assert response.headers["Content-Type"].startswith("text/event-stream")
    first = await asyncio.wait_for(read_event(response.content, "picture"), 5)
    assert first["hall"]["totals"]["issued"] == 0
    await console.post(f"{BASE}/commands", {"type": "login", "window": 2, "staff": "1002"}, csrf)
    await console.post(f"{BASE}/commands", {"type": "issue_ticket", "service": "B"}, csrf)
    sent = time.perf_counter()
    await console.post(f"{BASE}/commands", {"type": "call_next", "window": 2}, csrf)
    call = await asyncio.wait_for(read_event(response.content, "call"), 5)
    assert (call["number"], call["window"], call["recall"]) == ("B001", 2, False)
    while True:
        picture = await asyncio.wait_for(read_event(response.content, "picture"), 5)
        if picture["hall"]["windows"][1]["ticket"] == "B001":
            break
    assert time.perf_counter() - sent < 1.0
    response.close()


async def test_metrics_expose_devices_queues_and_latencies(console: Console) -> None:
    csrf = await console.login("op")
    console.hub.on_inbound(
        type(
            "Inbound",
            (),
            {
                "device": "kiosk-1",
                "message": proto.Birth(kind=proto.DeviceKind.KIOSK, session=1, fw="1.0"),
            },
        )()
    )
    await console.post(f"{BASE}/commands", {"type": "issue_ticket", "service": "A"}, csrf)
    text = await (await console.client.get("/metrics")).text()
    assert f'hallctl_devices_online{{hall="{HALL}",kind="kiosk"}} 1.0' in text
    assert f'hallctl_queue_waiting{{hall="{HALL}",service="A"}} 1.0' in text
    assert f'hallctl_http_command_seconds_count{{hall="{HALL}"}} 1.0' in text
    assert "hallctl_log_commit_seconds_count" in text
    assert "hallctl_log_commit_seconds_count 0.0" not in text
    [(_, show)] = [(d, m) for d, m in console.link.sent if d == "kiosk-1"][-1:]
    ack = proto.Ack(id=show.id, ok=True)
    console.hub.on_inbound(type("Inbound", (), {"device": "kiosk-1", "message": ack})())
    text = await (await console.client.get("/metrics")).text()
    assert f'hallctl_device_ack_seconds_count{{hall="{HALL}"}} 1.0' in text
    # What bounded memory dropped is counted by reason (here: an unconfigured device).
    for ghost in ("ghost-1", "ghost-2"):
        console.hub.on_inbound(type("Inbound", (), {"device": ghost, "message": ack})())
    text = await (await console.client.get("/metrics")).text()
    assert f'hallctl_device_dropped_total{{hall="{HALL}",reason="unknown_device"}} 2.0' in text
    assert f'hallctl_device_dropped_total{{hall="{HALL}",reason="reply_cache_evicted"}} 0.0' in text


async def test_metrics_expose_the_haochaping_outbox_lag() -> None:
    from controller.haochaping.outbox import OutboxStatus
    from controller.http.haochaping_api import SERVICE

    status = OutboxStatus(adapter="zj", hall=HALL, lag_records=7, consecutive_failures=2)
    status.oldest_unsent_ms = int(time.time() * 1000) - 90_000
    hall = type("Hall", (), {"outbox_status": lambda self: [status]})()
    service = type("Service", (), {"halls": {HALL: hall}})()
    async with console_app(lambda app: app.__setitem__(SERVICE, service)) as console:
        await console.login("viewer")
        text = await (await console.client.get("/metrics")).text()
    assert f'hallctl_outbox_lag_records{{adapter="zj",hall="{HALL}"}} 7.0' in text
    assert f'hallctl_outbox_consecutive_failures{{adapter="zj",hall="{HALL}"}} 2.0' in text
    [age] = [ln for ln in text.splitlines() if ln.startswith("hallctl_outbox_oldest_unsent")]
    assert 89 < float(age.rsplit(" ", 1)[1]) < 120
