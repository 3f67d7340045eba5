"""The 操作 page's waiting list: search by part of the number, and the hall list names the
hall's time zone (the console shows every time in it, not in the browser's)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.controller.http.console_app import HALL, Console, console_app

BASE = f"/api/v1/halls/{HALL}"


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    async with console_app() as app:
        yield app


async def test_waiting_tickets_can_be_searched_by_number(console: Console) -> None:
    csrf = await console.login("op")
    for _ in range(12):
        reply = await console.post(
            f"{BASE}/commands", {"type": "issue_ticket", "service": "A"}, csrf
        )
        assert reply.status == 200
    found = await (await console.client.get(f"{BASE}/tickets?state=waiting&q=a01")).json()
    assert [t["number"] for t in found] == ["A010", "A011", "A012"]
    none = await (await console.client.get(f"{BASE}/tickets?q=Z9")).json()
    assert none == []
    halls = await (await console.client.get("/api/v1/halls")).json()
    assert halls[0]["timezone"] == "Asia/Shanghai"
