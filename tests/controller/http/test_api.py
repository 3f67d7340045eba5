"""The HTTP API with aiohttp's test client: accepted, refused, malformed, unknown, oversized."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from controller.daemon.runtime import HallRuntime
from controller.http.api import MAX_BODY_BYTES, add_api_routes
from controller.store.group_commit import GroupCommitter
from controller.store.memory import MemoryStore
from tests.controller.halls import small_hall

URL = "/api/v1/halls/demo/commands"


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    store = MemoryStore()
    async with GroupCommitter(store) as committer:
        runtime = await HallRuntime.open(small_hall(), store, committer)
        app = web.Application()
        add_api_routes(app, {"demo": runtime})
        async with TestClient(TestServer(app)) as test_client:
            yield test_client


async def test_accepted_command_returns_its_events_and_seq(client: TestClient) -> None:
    response = await client.post(URL, json={"type": "issue_ticket", "service": "A"})
    assert response.status == 200
    body = await response.json()
    assert body["seq"] >= 1
    assert body["events"][0]["e"] == "ticket_issued" and body["events"][0]["number"] == "A001"


async def test_refused_command_is_409_with_the_reason(client: TestClient) -> None:
    response = await client.post(URL, json={"type": "call_next", "window": 1})
    assert response.status == 409
    assert await response.json() == {
        "code": "window_logged_out",
        "message": "1号窗口尚未登录，请先开窗",
        "detail": "window 1 has nobody logged in",
    }


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"type": "issue_ticket"}',  # service missing
        b'{"type": "issue_ticket", "service": 5}',
        b'{"type": "launch_rocket"}',
        b'{"service": "A"}',
        b'{"type": "rate", "ticket": 1, "level": "meh"}',
        b"[]",
    ],
)
async def test_malformed_command_is_400_and_changes_nothing(
    client: TestClient, body: bytes
) -> None:
    before = await (await client.get("/api/v1/halls/demo")).json()
    response = await client.post(URL, data=body)
    assert response.status == 400
    assert (await response.json())["code"] == "bad_command"
    after = await (await client.get("/api/v1/halls/demo")).json()
    assert after["seq"] == before["seq"] and after["totals"] == before["totals"]


async def test_unknown_hall_is_404(client: TestClient) -> None:
    response = await client.post("/api/v1/halls/nowhere/commands", json={"type": "tick"})
    assert response.status == 404
    assert (await response.json())["code"] == "unknown_hall"


async def test_oversized_body_is_413(client: TestClient) -> None:
    padding = "x" * (MAX_BODY_BYTES + 10)
    response = await client.post(
        URL, json={"type": "cancel_ticket", "ticket": 1, "reason": padding}
    )
    assert response.status == 413


async def test_hall_view_lists_windows_and_queues(client: TestClient) -> None:
    await client.post(URL, json={"type": "issue_ticket", "service": "B"})
    view = await (await client.get("/api/v1/halls/demo")).json()
    assert [w["number"] for w in view["windows"]] == [1, 2, 3]
    waiting = {s["id"]: s["waiting"] for s in view["services"]}
    assert waiting == {"A": 0, "B": 1, "C": 0}
    halls = await (await client.get("/api/v1/halls")).json()
    assert halls == [{"id": "demo", "name": "示范政务服务大厅", "timezone": "Asia/Shanghai"}]
