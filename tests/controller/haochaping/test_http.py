"""The 好差评 routes on a real daemon: the QR 追评 endpoint and every way it refuses, identity
privacy, case steps, statistics and the status of reporting."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openpyxl import load_workbook

from controller.config.loader import parse_config
from controller.daemon.process import Daemon, HallSource
from controller.haochaping.followup import follow_up_token
from controller.haochaping.service import Haochaping

HCP = "/api/v1/halls/h/haochaping"
HALL = """
[hall]
id = "{id}"
name = "测试大厅"
region_code = "330999"

[[services]]
id = "A"
name = "社保"
prefix = "A"

[[windows]]
number = 1
services = ["A"]
department = "rsj"

[[departments]]
id = "rsj"
name = "县人社局"
code = "113309990026000004"

[[staff]]
id = "01"
name = "王芳"

[evaluation]
follow_up_url = "https://hall.example.gov.cn/hcp"
follow_up_days = {days}
"""


@dataclass
class Api:
    session: aiohttp.ClientSession
    base: str
    daemon: Daemon
    service: Haochaping

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, self.base + path, json=body) as response:
            ctype = response.content_type
            data = await (response.json() if ctype == "application/json" else response.read())
            return response.status, data

    async def command(self, hall: str, body: dict[str, Any]) -> Any:
        status, data = await self.call("POST", f"/api/v1/halls/{hall}/commands", body)
        assert status == 200, data
        return data

    async def served_ticket(self, hall: str = "h") -> int:
        issued = await self.command(hall, {"type": "issue_ticket", "service": "A"})
        ticket: int = issued["events"][0]["ticket"]
        if self.daemon.halls[hall].state.windows[1].staff is None:
            await self.command(hall, {"type": "login", "window": 1, "staff": "01"})
        await self.command(hall, {"type": "call_next", "window": 1})
        await self.command(hall, {"type": "finish", "window": 1})
        return ticket

    def token(self, ticket: int, hall: str = "h") -> str:
        return follow_up_token(self.service.halls[hall].keys.follow_up, hall, ticket)

    def fingerprint(self, hall: str = "h") -> bytes:
        return self.daemon.halls[hall].state.fingerprint()


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    sources = [
        HallSource(parse_config(HALL.format(id=h, days=d)), HALL.format(id=h, days=d))
        for h, d in (("h", 7), ("h0", 0))
    ]
    service = Haochaping(tmp_path / "hall.db")
    daemon = Daemon(
        sources, db_path=tmp_path / "hall.db", http_port=0, extensions=[service.extension()]
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(daemon.run(stop, ready))
    await asyncio.wait_for(ready.wait(), 5)
    try:
        async with aiohttp.ClientSession() as session:
            yield Api(session, f"http://127.0.0.1:{daemon.bound_port}", daemon, service)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)


async def test_follow_up_through_the_qr_code_once(api: Api, tmp_path: Path) -> None:
    ticket = await api.served_ticket()
    link = api.service.followup_url(api.daemon.halls["h"], ticket)
    assert link == f"https://hall.example.gov.cn/hcp/h/{ticket}?t={api.token(ticket)}"
    status, page = await api.call("GET", f"/hcp/h/{ticket}?t={api.token(ticket)}")
    assert status == 200 and page["state"] == "available" and len(page["levels"]) == 5
    body = {"t": api.token(ticket), "level": "dissatisfied", "reasons": ["wait"], "rater": "张三"}
    status, data = await api.call("POST", f"/hcp/h/{ticket}", body)
    assert status == 200, data
    assert [e["e"] for e in data["events"]] == ["service_rated", "case_opened"]
    assert data["events"][0]["follow_up"] and data["events"][0]["channel"] == "qr_code"
    status, ratings = await api.call("GET", f"{HCP}/ratings")
    assert status == 200 and [r["rater"] for r in ratings] == ["张*"]
    assert ratings[0]["record"]["department_code"] == "113309990026000004"
    db = (tmp_path / "hall.db").read_bytes() + (tmp_path / "hall.db-wal").read_bytes()
    assert "张三".encode() not in db  # sealed before it reached the engine and the log
    before = api.fingerprint()
    status, data = await api.call("POST", f"/hcp/h/{ticket}", {**body, "level": "satisfied"})
    assert (status, data["code"]) == (409, "follow_up_used")
    assert api.fingerprint() == before


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("forged", 403, "bad_follow_up_token"),
        ("other_ticket", 403, "bad_follow_up_token"),
        ("level_6", 400, "bad_level"),
        ("level_word", 400, "bad_level"),
        ("unknown_ticket", 409, "unknown_ticket"),
        ("unserved", 409, "not_finished"),
        ("unknown_reason", 409, "unknown_reason"),
        ("closed", 409, "evaluation_closed"),
        ("not_json", 400, "bad_request"),
    ],
)
async def test_bad_follow_ups_are_refused_counted_and_change_nothing(
    api: Api, case: str, status: int, code: str
) -> None:
    hall = "h0" if case == "closed" else "h"
    ticket = await api.served_ticket(hall)
    body: Any = {"t": api.token(ticket, hall), "level": "satisfied"}
    path = f"/hcp/{hall}/{ticket}"
    if case == "forged":
        body["t"] = "A" * 22
    elif case == "other_ticket":
        body["t"] = api.token(ticket + 1, hall)
    elif case == "level_6":
        body["level"] = 6
    elif case == "level_word":
        body["level"] = "excellent"
    elif case == "unknown_ticket":
        path, body["t"] = f"/hcp/{hall}/999", api.token(999, hall)
    elif case == "unserved":
        issued = await api.command(hall, {"type": "issue_ticket", "service": "A"})
        waiting = issued["events"][0]["ticket"]
        path, body["t"] = f"/hcp/{hall}/{waiting}", api.token(waiting, hall)
    elif case == "unknown_reason":
        body["reasons"] = ["rude"]
    elif case == "closed":
        await asyncio.sleep(0.01)
    before = api.fingerprint(hall)
    if case == "not_json":
        async with api.session.post(api.base + path, data=b"{oops") as response:
            got_status, data = response.status, await response.json()
    else:
        got_status, data = await api.call("POST", path, body)
    assert (got_status, data["code"]) == (status, code)
    assert api.fingerprint(hall) == before
    _, counts = await api.call("GET", f"/api/v1/halls/{hall}/haochaping")
    assert counts["follow_ups"] == {"accepted": 0, "refused": {code: 1}}


async def test_a_case_worked_through_the_api(api: Api) -> None:
    ticket = await api.served_ticket()
    await api.command("h", {"type": "rate", "ticket": ticket, "level": "very_dissatisfied"})
    status, cases = await api.call("GET", f"{HCP}/cases?open=1")
    assert status == 200 and len(cases) == 1 and cases[0]["case"]["department"] == "rsj"
    case = cases[0]["case"]["id"]
    steps = [
        ("contact", {"by": "王科长", "note": "电话回访"}),
        ("verify", {"by": "王科长", "outcome": "upheld"}),
        ("rectify", {"by": "李主任", "note": "增加导办人员"}),
        ("close", {"by": "李主任", "note": "已向群众反馈"}),
    ]
    for step, body in steps:
        status, data = await api.call("POST", f"{HCP}/cases/{case}/{step}", body)
        assert status == 200, (step, data)
    _, cases = await api.call("GET", f"{HCP}/cases")
    assert cases[0]["case"]["state"] == "closed" and len(cases[0]["case"]["steps"]) == 4
    status, data = await api.call("POST", f"{HCP}/cases/{case}/contact", {"by": "x"})
    assert (status, data["code"]) == (409, "case_step_not_allowed")
    status, data = await api.call("POST", f"{HCP}/cases/99/contact", {"by": "x"})
    assert (status, data["code"]) == (409, "unknown_case")
    status, data = await api.call("POST", f"{HCP}/cases/{case}/verify", {"by": "x"})
    assert (status, data["code"]) == (400, "bad_request")
    status, data = await api.call("POST", f"{HCP}/cases/{case}/delete", {"by": "x"})
    assert status == 404


async def test_case_number_statistics_and_exports(api: Api) -> None:
    ticket = await api.served_ticket()
    status, data = await api.call(
        "POST",
        f"{HCP}/tickets/{ticket}/case-number",
        {"case_number": "BJ-0001"},
    )
    assert status == 200, data
    status, data = await api.call(
        "POST",
        f"{HCP}/tickets/{ticket}/case-number",
        {"case_number": "有 空格"},
    )
    assert (status, data["code"]) == (409, "bad_case_number")
    rated = await api.command("h", {"type": "rate", "ticket": ticket, "level": "satisfied"})
    assert rated["events"][0]["case_number"] == "BJ-0001"
    status, report = await api.call("GET", f"{HCP}/statistics")
    assert status == 200
    hall = report["rows"][0]
    assert (hall["dimension"], hall["served"], hall["rated"], hall["satisfaction"]) == (
        "hall",
        1,
        1,
        1.0,
    )
    status, xlsx = await api.call("GET", f"{HCP}/statistics?format=xlsx")
    assert status == 200 and load_workbook(io.BytesIO(xlsx)).sheetnames[0] == "大厅"
    status, data = await api.call("GET", f"{HCP}/statistics?from=2026-13-01")
    assert (status, data["code"]) == (400, "bad_request")
    status, data = await api.call("GET", "/api/v1/halls/nope/haochaping/statistics")
    assert status == 404
