"""Online bookings through a real daemon's HTTP port: never oversold under concurrency, the
``booking`` scope, the public page's rules, sealed identities, bad input."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from controller.auth.model import Role, Scope
from controller.core import events as ev
from controller.core.events import decode_record
from controller.store.sqlite import SqliteStore
from tests.controller.http.booking_daemon import HALL, booking_daemon


def phone(n: int) -> str:
    return f"138{n:08d}"


async def post(
    http: aiohttp.ClientSession, url: str, body: dict[str, Any], token: str | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.post(url, json=body, headers=headers) as r:
        return r.status, await r.json()


async def logged_events(db: Path) -> list[ev.AnyEvent]:
    store = await SqliteStore.open(db)
    try:
        out: list[ev.AnyEvent] = []
        async for chunk in store.read(HALL, 0):
            for record in chunk:
                out.extend(decode_record(record.payload))
        return out
    finally:
        await store.close()


async def test_50_concurrent_bookings_for_10_places_give_10_and_40_clear_refusals(
    tmp_path: Path,
) -> None:
    db = tmp_path / "hall.db"
    async with booking_daemon(db, capacity=10) as d:
        token = await d.token("city", Role.VIEWER, Scope.BOOKING)
        slot = d.tomorrow_slot()
        url = f"{d.url}/api/v1/halls/{HALL}/bookings"
        connector = aiohttp.TCPConnector(limit=50)
        async with aiohttp.ClientSession(connector=connector) as http:
            start = asyncio.Event()

            async def one(n: int) -> tuple[int, dict[str, Any]]:
                await start.wait()
                body = {
                    "service": "A",
                    "slot_start_ms": slot.start_ms,
                    "name": "张三",
                    "phone": phone(n),
                }
                return await post(http, url, body, token)

            tasks = [asyncio.create_task(one(n)) for n in range(50)]
            start.set()
            answers = await asyncio.gather(*tasks)
        statuses = Counter(status for status, _ in answers)
        assert statuses == {200: 10, 409: 40}
        refusals = [body for status, body in answers if status == 409]
        assert {r["code"] for r in refusals} == {"slot_full"}
        assert {r["message"] for r in refusals} == {"该时段已约满，请选择其他时段"}
        codes = {body["code"] for status, body in answers if status == 200}
        assert len(codes) == 10
        assert d.runtime.state.slot_taken[("A", slot.start_ms)] == 10
    booked = [e for e in await logged_events(db) if isinstance(e, ev.AppointmentBooked)]
    assert {e.code for e in booked} == codes  # durable: exactly the ten answered
    async with booking_daemon(db, capacity=10) as again:  # a restart rebuilds the same places
        assert again.runtime.state.slot_taken[("A", slot.start_ms)] == 10
        assert set(again.runtime.state.bookings) == codes


async def test_a_booking_token_books_and_does_nothing_else(tmp_path: Path) -> None:
    async with booking_daemon(tmp_path / "hall.db") as d:
        booking = await d.token("city", Role.ADMIN, Scope.BOOKING)  # even an admin's account
        viewer = await d.token("watcher", Role.VIEWER, None)
        slot = d.tomorrow_slot()
        body = {"service": "A", "slot_start_ms": slot.start_ms, "name": "李四", "phone": phone(1)}
        base = f"{d.url}/api/v1/halls/{HALL}"
        async with aiohttp.ClientSession() as http:
            status, booked = await post(http, f"{base}/bookings", body, booking)
            assert status == 200
            auth = {"Authorization": f"Bearer {booking}"}
            async with http.get(f"{base}/bookings/{booked['code']}", headers=auth) as r:
                assert r.status == 200 and (await r.json())["phone"] == "138****0001"
            async with http.get(
                f"{base}/booking/slots?service=A&date={slot.day}", headers=auth
            ) as r:
                assert r.status == 200
            # everything else is refused, reads included
            for method, path in [
                ("POST", f"{base}/commands"),
                ("GET", f"{base}"),
                ("GET", f"{d.url}/api/v1/halls"),
                ("GET", f"{d.url}/api/v1/users"),
                ("POST", f"{d.url}/api/v1/tokens"),
            ]:
                async with http.request(method, path, headers=auth, json={"type": "tick"}) as r:
                    assert r.status == 403, (method, path)
                    assert (await r.json())["code"] == "forbidden"
            # a token without the scope (a viewer) may not book; no token at all: 401
            body["phone"] = phone(2)
            status, refused = await post(http, f"{base}/bookings", body, viewer)
            assert (status, refused["code"]) == (403, "forbidden")
            status, refused = await post(http, f"{base}/bookings", body)
            assert (status, refused["code"]) == (401, "not_logged_in")
            # the API cancels by code alone
            status, _ = await post(http, f"{base}/bookings/{booked['code']}/cancel", {}, booking)
            assert status == 200
        assert d.runtime.state.bookings == {}


async def test_the_public_page_books_without_login_and_never_keeps_clear_identities(
    tmp_path: Path,
) -> None:
    db = tmp_path / "hall.db"
    async with booking_daemon(db) as d:
        slot, later = d.tomorrow_slot(0), d.tomorrow_slot(3)
        public = f"{d.url}/api/v1/public/halls/{HALL}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{d.url}/public/book.html") as r:
                assert r.status == 200 and "线上预约" in await r.text()
            async with http.get(f"{d.url}/api/v1/public/booking/halls") as r:
                assert await r.json() == [{"id": HALL, "name": "预约测试大厅"}]
            body = {
                "service": "A",
                "slot_start_ms": slot.start_ms,
                "name": "欧阳娜娜",
                "phone": "13912345678",
            }
            status, booked = await post(http, f"{public}/bookings", body)
            assert status == 200
            assert (booked["name"], booked["phone"]) == ("欧***", "139****5678")
            assert booked["qr_svg"].startswith('<svg xmlns="http://www.w3.org/2000/svg"')
            code = booked["code"]
            # the same phone, same service and day: one active booking
            status, again = await post(
                http, f"{public}/bookings", body | {"slot_start_ms": later.start_ms}
            )
            assert (status, again["code"]) == (409, "booking_limit_reached")
            # a change needs the booking's own phone
            move = {"slot_start_ms": later.start_ms, "phone": "13900000000"}
            status, refused = await post(http, f"{public}/bookings/{code}/reschedule", move)
            assert (status, refused["code"]) == (409, "unknown_appointment")
            status, refused = await post(http, f"{public}/bookings/{code}/cancel", {})
            assert (status, refused["code"]) == (400, "bad_booking")
            move["phone"] = "13912345678"
            status, moved = await post(http, f"{public}/bookings/{code}/reschedule", move)
            assert status == 200 and moved["slot_start_ms"] == later.start_ms
            status, _ = await post(
                http, f"{public}/bookings/{code}/cancel", {"phone": "13912345678"}
            )
            assert status == 200
        assert d.runtime.state.slot_taken == {}
    raw = await asyncio.to_thread(
        lambda: b"".join(p.read_bytes() for p in tmp_path.glob("hall.db*"))  # the WAL too
    )
    assert b"13912345678" not in raw and "欧阳娜娜".encode() not in raw
    [booked_event] = [e for e in await logged_events(db) if isinstance(e, ev.AppointmentBooked)]
    assert booked_event.phone_sealed.startswith("v1:") and booked_event.channel.value == "page"


async def test_the_public_page_is_rate_limited_per_address(tmp_path: Path) -> None:
    async with booking_daemon(tmp_path / "hall.db", per_ip=3) as d:
        slot = d.tomorrow_slot()
        url = f"{d.url}/api/v1/public/halls/{HALL}/bookings"
        async with aiohttp.ClientSession() as http:
            statuses = []
            for n in range(4):
                body = {
                    "service": "A",
                    "slot_start_ms": slot.start_ms,
                    "name": "王五",
                    "phone": phone(n),
                }
                status, answer = await post(http, url, body)
                statuses.append((status, answer.get("code")))
        assert [s for s, _ in statuses[:3]] == [200, 200, 200]
        assert statuses[3] == (429, "rate_limited")
        assert d.runtime.state.slot_taken[("A", slot.start_ms)] == 3


async def test_bad_booking_input_changes_nothing(tmp_path: Path) -> None:
    async with booking_daemon(tmp_path / "hall.db") as d:
        slot = d.tomorrow_slot()
        url = f"{d.url}/api/v1/public/halls/{HALL}/bookings"
        good = {"service": "A", "slot_start_ms": slot.start_ms, "name": "赵六", "phone": phone(7)}
        seq = d.runtime.state.seq
        cases: list[tuple[dict[str, Any], int, str]] = [
            (good | {"phone": "12345"}, 400, "bad_booking"),
            (good | {"name": " "}, 400, "bad_booking"),
            (good | {"name": "长" * 33}, 400, "bad_booking"),
            (good | {"extra": 1}, 400, "bad_booking"),
            ({"service": "A"}, 400, "bad_booking"),
            (good | {"slot_start_ms": "soon"}, 400, "bad_booking"),
            (good | {"slot_start_ms": slot.start_ms + 60_000}, 409, "slot_not_offered"),
            (good | {"service": "Z"}, 409, "unknown_service"),
        ]
        async with aiohttp.ClientSession() as http:
            for body, status, code in cases:
                got, answer = await post(http, url, body)
                assert (got, answer["code"]) == (status, code), body
                assert answer["message"]
            async with http.post(
                url, data=b"\xff\xfe", headers={"Content-Type": "application/json"}
            ) as r:
                assert r.status == 400
            async with http.get(f"{d.url}/api/v1/public/halls/nowhere/booking") as r:
                assert r.status == 404
        assert d.runtime.state.seq == seq and d.runtime.state.bookings == {}


async def test_the_openapi_document_describes_every_booking_route(tmp_path: Path) -> None:
    async with booking_daemon(tmp_path / "hall.db") as d:
        async with aiohttp.ClientSession() as http, http.get(f"{d.url}/api/v1/openapi.json") as r:
            doc = await r.json()
        documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
        routes = [
            (
                route.method,
                re.sub(r"\{(\w+):[^}]*\}", r"{\1}", info.get("path") or info["formatter"]),
            )
            for route in d.daemon.app.router.routes()
            if route.resource is not None and route.method != "HEAD"
            for info in [route.resource.get_info()]
            if "path" in info or "formatter" in info
        ]
        booking = [(m, p) for m, p in routes if "book" in p and p.startswith("/api/v1/")]
        assert len(booking) == 12
        assert [r for r in booking if r not in documented] == []
        schemas = doc["components"]["schemas"]
        assert {"book_appointment", "cancel_appointment", "reschedule_appointment"} <= {
            s["properties"]["type"]["enum"][0]
            for s in schemas.values()
            if "type" in s.get("properties", {}) and "enum" in s["properties"]["type"]
        }
        assert doc["paths"]["/api/v1/public/halls/{hall}/bookings"]["post"]["security"] == []
