"""A local stand-in for a provincial 好差评 platform speaking json_v1.

It checks every field's format the way a strict platform would (a wrong one is a 400 with the
field named, which makes the test fail loudly), answers 503 to chosen attempts to force retries,
and answers ``code 1001`` to a record id it already has, as real platforms do. ``hold_after``
lets a test decide when a sender may go on: once that many records are accepted, every further
request waits (``holding`` is set) until ``release()``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
RECORD_ID = re.compile(r"[A-Za-z0-9_-]+-\d+-\d+")
RATING_FORMATS: dict[str, Callable[[Any], bool]] = {
    "recordId": lambda v: isinstance(v, str) and RECORD_ID.fullmatch(v) is not None,
    "type": lambda v: v == "rating",
    "caseNo": lambda v: isinstance(v, str) and 1 <= len(v) <= 50,
    "itemCode": lambda v: isinstance(v, str) and re.fullmatch(r"[0-9A-Za-z]{1,64}", v) is not None,
    "itemName": lambda v: isinstance(v, str) and v != "",
    "deptCode": lambda v: isinstance(v, str) and re.fullmatch(r"[0-9A-HJ-NPQRTUWXY]{18}", v),
    "deptName": lambda v: isinstance(v, str) and v != "",
    "areaCode": lambda v: isinstance(v, str) and re.fullmatch(r"\d{6}|\d{9}|\d{12}", v),
    "windowNo": lambda v: isinstance(v, str) and v.isdigit(),
    "windowName": lambda v: isinstance(v, str) and v != "",
    "staffNo": lambda v: isinstance(v, str) and v != "",
    "staffName": lambda v: isinstance(v, str),
    "channel": lambda v: v in ("1", "2", "3", "4", "5", "6", "7"),
    "grade": lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 5,
    "reasonCodes": lambda v: isinstance(v, str) and re.fullmatch(r"(\w+(,\w+)*)?", v),
    "content": lambda v: isinstance(v, str) and len(v) <= 500,
    "evalTime": lambda v: isinstance(v, str) and TIME.fullmatch(v) is not None,
    "isAppend": lambda v: v in (0, 1),
    "userType": lambda v: v in ("0", "1", "2"),
    "anonymous": lambda v: v in (0, 1),
}
OPTIONAL_TIME = lambda v: v == "" or (isinstance(v, str) and TIME.fullmatch(v) is not None)  # noqa: E731
CASE_FORMATS: dict[str, Callable[[Any], bool]] = {
    "recordId": RATING_FORMATS["recordId"],
    "type": lambda v: v == "case",
    "caseId": lambda v: isinstance(v, str) and re.fullmatch(r".+-C\d+", v) is not None,
    "step": lambda v: (
        v in ("opened", "contacted", "verified", "reviewed", "rectified", "closed", "escalated")
    ),
    "stepTime": lambda v: isinstance(v, str) and TIME.fullmatch(v) is not None,
    "handler": lambda v: isinstance(v, str),
    "note": lambda v: isinstance(v, str),
    "deptCode": lambda v: isinstance(v, str) and len(v) in (0, 18),
    "ratingRecordId": lambda v: v == "" or RATING_FORMATS["recordId"](v),
    "contactDue": OPTIONAL_TIME,
    "rectifyDue": OPTIONAL_TIME,
    "reached": lambda v: v in ("", 0, 1),
    "outcome": lambda v: v in ("", "upheld", "explained", "mistaken", "malicious"),
    "appealGranted": lambda v: v in ("", 0, 1),
    "overdueStep": lambda v: v in ("", "contact", "rectify"),
    "dueTime": OPTIONAL_TIME,
}


@dataclass
class StubPlatform:
    fail_attempts: Callable[[str, int], bool] = lambda record_id, attempt: False
    refuse: Callable[[dict[str, Any]], bool] = lambda body: False
    received: dict[str, dict[str, Any]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    format_errors: list[str] = field(default_factory=list)
    duplicates: int = 0
    url: str = ""
    hold_after: int | None = None
    holding: asyncio.Event = field(default_factory=asyncio.Event)
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        """Let held and later requests through."""
        self.hold_after = None
        self._released.set()

    async def handle(self, request: web.Request) -> web.Response:
        assert request.content_type == "application/json" and request.charset == "utf-8"
        if self.hold_after is not None and len(self.received) >= self.hold_after:
            self.holding.set()
            await self._released.wait()
        body = await request.json()
        record_id = body.get("recordId", "")
        assert request.headers["X-Request-Id"] == record_id
        attempt = self.attempts[record_id] = self.attempts.get(record_id, 0) + 1
        if self.fail_attempts(record_id, attempt):
            return web.json_response({"code": 5030, "msg": "busy"}, status=503)
        formats = RATING_FORMATS if body.get("type") == "rating" else CASE_FORMATS
        bad = [k for k, ok in formats.items() if k not in body or not ok(body[k])]
        bad += [k for k in body if k not in formats]
        if bad:
            self.format_errors.append(f"{record_id}: {bad} in {body}")
            return web.json_response({"code": 4000, "msg": f"bad fields {bad}"}, status=400)
        if self.refuse(body):
            return web.json_response({"code": 4001, "msg": "refused"})
        if record_id in self.received:
            self.duplicates += 1
            return web.json_response({"code": 1001, "msg": "duplicate"})
        self.received[record_id] = body
        self.order.append(record_id)
        return web.json_response({"code": 0, "msg": "ok"})

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/api/ratings", self.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/api/ratings"
        return runner
