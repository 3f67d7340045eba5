"""``Idempotency-Key`` on the command endpoint, and the API while the log cannot be written."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from controller.http.context import CONSOLE, STORE_HEALTH
from tests.controller.http.console_app import HALL, PASSWORD, Console, console_app

URL = f"/api/v1/halls/{HALL}/commands"
TICKET = {"type": "issue_ticket", "service": "A"}


@pytest.fixture
async def console() -> AsyncIterator[Console]:
    async with console_app(lambda app: app.__setitem__(STORE_HEALTH, app[CONSOLE].health)) as app:
        yield app


async def bearer(console: Console, user: str) -> dict[str, str]:
    _, secret = await console.ctx.directory.issue_token(user, "test", by="test")
    return {"Authorization": f"Bearer {secret}"}


def issued(console: Console) -> int:
    return len(console.runtime.state.tickets)


async def test_a_retry_gets_the_first_answer_byte_for_byte_and_runs_once(
    console: Console,
) -> None:
    headers = await bearer(console, "op") | {"Idempotency-Key": "9f1c-retry-1"}
    first = await console.client.post(URL, json=TICKET, headers=headers)
    body = await first.read()
    assert first.status == 200 and "Idempotent-Replayed" not in first.headers
    # The same command spelled differently is the same request.
    again = await console.client.post(
        URL, data='{ "service" : "A", "type" : "issue_ticket" }', headers=headers
    )
    assert again.status == 200 and await again.read() == body
    assert again.headers["Idempotent-Replayed"] == "true"
    assert issued(console) == 1


async def test_the_same_key_with_another_command_is_refused(console: Console) -> None:
    headers = await bearer(console, "op") | {"Idempotency-Key": '"k-2"'}  # the draft's quoting
    assert (await console.client.post(URL, json=TICKET, headers=headers)).status == 200
    seq = console.runtime.state.seq
    other = await console.client.post(
        URL, json={"type": "issue_ticket", "service": "B"}, headers=headers
    )
    assert other.status == 422
    assert (await other.json())["code"] == "idempotency_key_reused"
    assert console.runtime.state.seq == seq and issued(console) == 1


async def test_keys_are_scoped_per_principal(console: Console) -> None:
    key = {"Idempotency-Key": "shared"}
    op = await console.client.post(URL, json=TICKET, headers=await bearer(console, "op") | key)
    admin = await console.client.post(
        URL, json=TICKET, headers=await bearer(console, "admin") | key
    )
    assert op.status == admin.status == 200
    assert (await op.json())["seq"] != (await admin.json())["seq"]
    assert issued(console) == 2


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "中文", '""'])
async def test_a_bad_key_is_refused_and_changes_nothing(console: Console, key: str) -> None:
    headers = await bearer(console, "op") | {"Idempotency-Key": key}
    seq = console.runtime.state.seq
    response = await console.client.post(URL, json=TICKET, headers=headers)
    assert response.status == 400
    assert (await response.json())["code"] == "bad_idempotency_key"
    assert console.runtime.state.seq == seq and issued(console) == 0


async def test_a_refused_command_is_not_remembered(console: Console) -> None:
    headers = await bearer(console, "op")
    keyed = headers | {"Idempotency-Key": "call-1"}
    call = {"type": "call_next", "window": 1}
    refused = await console.client.post(URL, json=call, headers=keyed)
    assert refused.status == 409  # nobody is logged in at window 1: nothing recorded
    for body in (TICKET, {"type": "login", "window": 1, "staff": "1001"}):
        assert (await console.client.post(URL, json=body, headers=headers)).status == 200
    called = await console.client.post(URL, json=call, headers=keyed)
    assert called.status == 200, await called.text()
    assert any(e["e"] == "ticket_called" for e in (await called.json())["events"])


async def test_while_the_log_cannot_be_written_health_login_and_commands_say_so(
    console: Console,
) -> None:
    health = console.ctx.health
    assert (await console.client.get("/healthz")).status == 200
    headers = await bearer(console, "op")
    await console.store.close()  # the store now refuses every write: the next commit fails
    failed = await console.client.post(URL, json=TICKET, headers=headers)
    assert failed.status == 503
    assert (await failed.json())["code"] == "hall_unavailable"
    health.status = health.status.FAILING  # what the daemon's supervisor records (no daemon here)
    health.reason = "memory event store is closed"
    healthz = await console.client.get("/healthz")
    assert healthz.status == 503
    assert (await healthz.json())["store"]["reason"] == "memory event store is closed"
    login = await console.client.post("/api/v1/session", json={"user": "op", "password": "x"})
    # a wrong password is still a wrong password (nothing is written for it) ...
    assert login.status == 401
    login = await console.client.post("/api/v1/session", json={"user": "op", "password": PASSWORD})
    assert login.status == 503  # ... but a right one cannot open a durable session
    reply = await login.json()
    assert reply["code"] == "store_unavailable" and "稍后再试" in reply["message"]
    alerts = await console.client.get(f"/api/v1/halls/{HALL}/alerts", headers=headers)
    kinds = [a["kind"] for a in await alerts.json()]
    assert kinds[0] == "store_unwritable"
    metrics = await (await console.client.get("/metrics", headers=headers)).text()
    assert "hallctl_store_writable 0.0" in metrics
