"""评价信息公开 on a real daemon with the console's access rules: the JSON needs no login,
shows hall, departments and windows (staff only when configured), never a rater or a text, is
cached a few seconds, and refuses bad input with a typed error."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controller.auth.passwords import fast_hasher
from controller.config.loader import parse_config
from controller.core import commands as c
from controller.core import events as ev
from controller.daemon.process import Daemon, HallSource
from controller.haochaping.disclosure import DisclosureCache
from controller.haochaping.service import Haochaping
from controller.http.console import console_extension

HALL = """
[hall]
id = "h"
name = "青溪县政务服务中心"
region_code = "330999"

[[services]]
id = "A"
name = "社保"
prefix = "A"

[[windows]]
number = 1
name = "1号窗口（社保）"
services = ["A"]
department = "rsj"

[[windows]]
number = 2
name = "2号窗口（医保）"
services = ["A"]
department = "ybj"

[[departments]]
id = "rsj"
name = "县人社局"
code = "113309990026000004"

[[departments]]
id = "ybj"
name = "县医疗保障局"
code = "12330999MB12345672"

[[staff]]
id = "01"
name = "王芳"

[[staff]]
id = "02"
name = "李强"

[evaluation]
disclose_staff = {disclose}
"""
PUBLIC = "/api/v1/public/halls/h/ratings"


@dataclass
class Site:
    daemon: Daemon
    service: Haochaping
    http: aiohttp.ClientSession
    base: str

    async def get(self, path: str) -> tuple[int, Any, aiohttp.ClientResponse]:
        async with self.http.get(self.base + path) as response:
            return response.status, await response.json(), response

    async def serve(self, window: int, staff: str, level: c.RatingLevel | None) -> None:
        hall = self.daemon.halls["h"]
        [issued] = (await hall.submit(c.IssueTicket(service="A"))).events
        assert isinstance(issued, ev.TicketIssued)
        if hall.state.windows[window].staff is None:
            await hall.submit(c.Login(window=window, staff=staff))
        await hall.submit(c.CallNext(window=window))
        await hall.submit(c.Finish(window=window))
        if level is not None:
            text = "窗口人员态度差" if level.is_bad else ""
            await hall.submit(c.Rate(ticket=issued.ticket, level=level, text=text))


async def open_site(tmp_path: Path, disclose: bool) -> AsyncIterator[Site]:
    text = HALL.format(disclose=str(disclose).lower())
    service = Haochaping(tmp_path / "hall.db")
    daemon = Daemon(
        [HallSource(parse_config(text), text)],
        db_path=tmp_path / "hall.db",
        http_port=0,
        extensions=[
            console_extension(demo_admin=("admin", "pw-for-tests-1"), hasher=fast_hasher()),
            service.extension(),
        ],
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(daemon.run(stop, ready))
    await asyncio.wait_for(ready.wait(), 10)
    try:
        async with aiohttp.ClientSession() as http:  # no login, no token
            yield Site(daemon, service, http, f"http://127.0.0.1:{daemon.bound_port}")
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async for s in open_site(tmp_path, disclose=False):
        yield s


async def a_morning(site: Site) -> None:
    L = c.RatingLevel
    for level in (L.VERY_SATISFIED, L.SATISFIED, L.DISSATISFIED, None):
        await site.serve(1, "01", level)
    for level in (L.VERY_SATISFIED, L.BASICALLY_SATISFIED):
        await site.serve(2, "02", level)


async def test_public_figures_need_no_login_and_disclose_no_person(site: Site) -> None:
    await a_morning(site)
    status, _, _ = await site.get("/api/v1/halls/h/haochaping/statistics")
    assert status == 401  # the staff's statistics stay behind the login
    status, body, response = await site.get(f"{PUBLIC}?period=day")
    assert status == 200 and response.headers["Cache-Control"] == "public, max-age=5"
    assert body["hall_name"] == "青溪县政务服务中心" and body["period_label"] == "今日"
    overall = body["overall"]
    assert (overall["served"], overall["rated"], overall["ratings"]) == (6, 5, 5)
    assert overall["coverage"] == round(5 / 6, 4) and overall["satisfaction"] == 0.8
    assert overall["bad_ratings"] == 1
    departments = {d["name"]: d for d in body["departments"]}
    assert departments["县人社局"]["satisfaction"] == round(2 / 3, 4)
    assert departments["县医疗保障局"]["coverage"] == 1.0
    assert [w["name"] for w in body["windows"]] == ["1号窗口（社保）", "2号窗口（医保）"]
    assert body["staff"] is None  # disclose_staff = false
    text = str(body)
    assert (
        "王芳" not in text
        and "态度差" not in text
        and "01" not in [w["key"] for w in body["windows"]]
    )
    status, halls, _ = await site.get("/api/v1/public/halls")
    assert status == 200 and halls == [{"id": "h", "name": "青溪县政务服务中心"}]


async def test_public_figures_are_cached_a_few_seconds(site: Site) -> None:
    now = [1000.0]
    site.service.disclosure = DisclosureCache(clock=lambda: now[0])
    await a_morning(site)
    _, first, _ = await site.get(PUBLIC)
    await site.serve(2, "02", c.RatingLevel.SATISFIED)
    now[0] += 4.9
    _, cached, _ = await site.get(PUBLIC)
    assert cached == first and site.service.disclosure.computed == 1
    now[0] += 0.1
    _, fresh, _ = await site.get(PUBLIC)
    assert fresh["overall"]["served"] == first["overall"]["served"] + 1
    assert site.service.disclosure.computed == 2
    _, month, _ = await site.get(PUBLIC)  # the default period is the month, cached apart
    assert month["period"] == "month" and site.service.disclosure.computed == 2


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        (f"{PUBLIC}?period=week", 400, "bad_request"),
        (f"{PUBLIC}?period=", 400, "bad_request"),
        ("/api/v1/public/halls/nope/ratings", 404, "unknown_hall"),
    ],
)
async def test_bad_requests_get_typed_errors_and_change_nothing(
    site: Site, path: str, status: int, code: str
) -> None:
    await a_morning(site)
    before = site.daemon.halls["h"].state.fingerprint()
    got, body, _ = await site.get(path)
    assert (got, body["code"]) == (status, code)
    assert site.daemon.halls["h"].state.fingerprint() == before
    assert site.service.disclosure.computed == 0


async def test_staff_are_disclosed_only_when_configured(tmp_path: Path) -> None:
    async for site in open_site(tmp_path, disclose=True):
        await a_morning(site)
        _, body, _ = await site.get(PUBLIC)
        staff = {s["name"]: s for s in body["staff"]}
        assert staff["王芳"]["ratings"] == 3 and staff["李强"]["satisfaction"] == 1.0


async def test_the_page_and_its_assets_are_public(site: Site) -> None:
    for name, ctype in (
        ("ratings.html", "text/html"),
        ("ratings.js", "application/javascript"),
        ("ratings.css", "text/css"),
    ):
        async with site.http.get(f"{site.base}/public/{name}") as response:
            assert response.status == 200 and response.content_type == ctype
            body = await response.text()
    async with site.http.get(f"{site.base}/public/ratings.html") as response:
        page = await response.text()
    assert "评价信息公开" in page and 'name="viewport"' in page and "<script src=" in page
    assert body.startswith("/*")
