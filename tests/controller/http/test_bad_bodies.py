"""Hostile bodies on every JSON-accepting route of a real daemon (console, accounts, commands,
好差评): invalid UTF-8, JSON nested thousands deep, oversized bodies with and without a
Content-Length, non-JSON. Each gets the API's typed error (400/413, ``{code, message}``, the
message in Chinese), and nothing changes: the halls' state, accounts, tokens, 追评 counts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controller.auth.passwords import fast_hasher
from controller.config.loader import parse_config
from controller.daemon.process import Daemon, HallSource
from controller.haochaping.service import Haochaping
from controller.http.api import MAX_BODY_BYTES
from controller.http.bodies import MAX_FORM_BYTES
from controller.http.console import console_extension
from controller.http.context import ConsoleContext
from controller.http.haochaping_api import MAX_BODY as MAX_HCP_BYTES
from tests.controller.haochaping.test_http import HALL
from tests.e2e.harness import ADMIN, admin_token

DEPTH = 3000  # far beyond the interpreter's recursion limit, yet within every size limit
POISON = "\x00poison\x00"
HAN = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class Route:
    """A route taking a body: a valid body, the string field to poison, where to nest deep."""

    path: str
    body: dict[str, Any]
    text_field: str
    deep_field: str
    limit: int
    code: str = "bad_request"


ROUTES = [
    Route("/api/v1/halls/h/commands", {"type": "issue_ticket", "service": "A"}, "service", "x",
          MAX_BODY_BYTES, "bad_command"),
    Route("/api/v1/session", {"user": "admin", "password": "p" * 12}, "user", "x", MAX_FORM_BYTES),
    Route("/api/v1/users", {"user": "li", "password": "long-enough-1", "role": "viewer"}, "user",
          "x", MAX_FORM_BYTES),
    Route("/api/v1/users/admin/password", {"password": "new-password-1"}, "password", "x",
          MAX_FORM_BYTES),
    Route("/api/v1/users/li/role", {"role": "viewer"}, "role", "x", MAX_FORM_BYTES),
    Route("/api/v1/tokens", {"user": "admin", "name": "bridge"}, "name", "x", MAX_FORM_BYTES),
    Route("/api/v1/halls/h/notice", {"text": "今日下午停电"}, "text", "x", MAX_FORM_BYTES),
    Route("/api/v1/halls/h/tickets/1/reprint", {"kiosk": "kiosk-1"}, "kiosk", "x",
          MAX_FORM_BYTES),
    Route("/hcp/h/1", {"t": "A" * 22, "level": "satisfied"}, "t", "level", MAX_HCP_BYTES),
    Route("/api/v1/halls/h/haochaping/cases/1/contact", {"by": "01"}, "by", "note",
          MAX_HCP_BYTES),
    Route("/api/v1/halls/h/haochaping/tickets/1/case-number", {"case_number": "X1"},
          "case_number", "case_number", MAX_HCP_BYTES),
]  # fmt: skip


def with_raw(body: dict[str, Any], field: str, raw: bytes) -> bytes:
    """``body`` as JSON with ``field``'s value replaced by the raw bytes ``raw``."""
    text = json.dumps({**body, field: POISON}).encode()
    return text.replace(json.dumps(POISON).encode(), raw)


def hostile_bodies(route: Route) -> dict[str, tuple[bytes, int, str | None]]:
    """name -> (body, expected status, expected message or None for any Chinese one)."""
    nested = b"[" * DEPTH + b"]" * DEPTH
    return {
        "invalid UTF-8": (with_raw(route.body, route.text_field, b'"\xff\xfe\xc3"'), 400,
                          "请求内容不是有效的 UTF-8 文本"),
        "nested 3000 deep": (with_raw(route.body, route.deep_field, nested), 400, None),
        "nested 100k deep": (b"[" * 100_000 + b"]" * 100_000, 413, None),
        "over the limit": (with_raw(route.body, route.text_field,
                                    json.dumps("x" * route.limit).encode()), 413,
                           f"请求内容过大：最多 {route.limit} 字节"),
        "not JSON": (b'{"type": ', 400, None),
        "top-level array": (b"[" * DEPTH + b"]" * DEPTH, 400, None),
    }  # fmt: skip


@dataclass
class Hall:
    url: str
    http: aiohttp.ClientSession
    daemon: Daemon
    ctx: ConsoleContext
    service: Haochaping

    def snapshot(self) -> Any:
        """Everything a request could change, but the audit of refusals."""
        directory = self.ctx.directory
        return (
            self.daemon.halls["h"].state.fingerprint(),
            [(a.user, a.role, a.password_hash, a.enabled) for a in directory.accounts.values()],
            directory.tokens(),
            self.service.halls["h"].follow_ups.accepted,
        )


@pytest.fixture
async def hall(tmp_path: Path) -> AsyncIterator[Hall]:
    text = HALL.format(id="h", days=7)
    service = Haochaping(tmp_path / "hall.db")
    found: list[ConsoleContext] = []
    console = console_extension(demo_admin=ADMIN, hasher=fast_hasher(), console=found)
    daemon = Daemon(
        [HallSource(parse_config(text), text)],
        db_path=tmp_path / "hall.db",
        http_port=0,
        extensions=[service.extension(), console],
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(daemon.run(stop, ready))
    await asyncio.wait_for(ready.wait(), 20)
    url = f"http://127.0.0.1:{daemon.bound_port}"
    try:
        token = await admin_token(url)
        headers = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession(headers=headers) as http:
            yield Hall(url, http, daemon, found[0], service)
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


async def post(hall: Hall, path: str, data: Any) -> tuple[int, dict[str, Any], bool]:
    headers = {"Content-Type": "application/json"}
    async with hall.http.post(hall.url + path, data=data, headers=headers) as response:
        assert response.content_type == "application/json", await response.text()
        return response.status, await response.json(), "Set-Cookie" in response.headers


async def chunked(body: bytes) -> AsyncIterator[bytes]:
    """The body in 1 KiB chunks without a Content-Length (chunked transfer encoding)."""
    for start in range(0, len(body), 1024):
        yield body[start : start + 1024]
        await asyncio.sleep(0)


@pytest.mark.parametrize("route", ROUTES, ids=[r.path for r in ROUTES])
async def test_hostile_bodies_get_a_typed_error_and_change_nothing(
    hall: Hall, route: Route
) -> None:
    before = hall.snapshot()
    audited = len(hall.ctx.directory.audit_trail)
    cases = hostile_bodies(route)
    for name, (body, status, message) in cases.items():
        for sent in ("whole", "chunked"):
            data = body if sent == "whole" else chunked(body)
            got, reply, cookie = await post(hall, route.path, data)
            what = f"{name}, {sent}: {reply}"
            expected_code = route.code if status == 400 else "too_large"
            assert (got, reply["code"]) == (status, expected_code), what
            assert HAN.search(reply["message"]), what
            assert message is None or reply["message"] == message, what
            assert not cookie, what
    assert hall.snapshot() == before
    if route.path != "/api/v1/session" and not route.path.startswith("/hcp/"):
        refusals = list(hall.ctx.directory.audit_trail)[audited:]
        assert [r.outcome for r in refusals] == [
            route.code if status == 400 else "too_large"
            for _, status, _ in cases.values()
            for _ in range(2)
        ]
    healthy = await hall.http.get(hall.url + "/api/v1/halls/h")
    assert healthy.status == 200


async def test_deep_nesting_reaches_the_decoder_and_is_refused_as_too_deep(hall: Hall) -> None:
    """Where msgspec must walk a value (an unknown field it skips, an ``Any`` field), 3000
    levels exhaust the interpreter's recursion limit: the answer names the nesting."""
    nested = b"[" * DEPTH + b"]" * DEPTH
    for route in ROUTES:
        if route.deep_field not in ("x", "level"):
            continue
        status, reply, _ = await post(
            hall, route.path, with_raw(route.body, route.deep_field, nested)
        )
        assert (status, reply) == (400, {"code": route.code, "message": "请求内容的 JSON 嵌套过深"})
