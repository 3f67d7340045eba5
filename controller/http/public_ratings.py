"""评价信息公开 over HTTP, no login: the JSON and a mobile-first page for citizens.

* ``GET /api/v1/public/halls``: the halls' ids and names;
* ``GET /api/v1/public/halls/{hall}/ratings?period=day|month|year`` (default ``month``):
  ``disclosure.PublicRatings``, cached a few seconds (``Cache-Control`` says how long);
* ``GET /public/ratings.html?hall=…`` and its script: the page (Chinese, 390 px wide first).

Both are public (``access.PUBLIC_PREFIXES``): they show counts and rates only.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo

import msgspec
from aiohttp import web

from controller.haochaping.disclosure import CACHE_SECONDS, Period, public_ratings
from controller.haochaping.service import Haochaping
from controller.http.replies import error, json_response

PUBLIC: Final = web.AppKey("public_ratings", Haochaping)
PAGE_DIR: Final = Path(__file__).resolve().parent / "public"
_PERIODS: Final = ", ".join(p.value for p in Period)


class PublicHall(msgspec.Struct, frozen=True):
    id: str
    name: str


async def get_public_halls(request: web.Request) -> web.Response:
    halls = request.app[PUBLIC].halls.values()
    return json_response([PublicHall(h.runtime.hall_id, h.config.hall.name) for h in halls])


async def get_public_ratings(request: web.Request) -> web.Response:
    service = request.app[PUBLIC]
    hall_id = request.match_info["hall"]
    hall = service.halls.get(hall_id)
    if hall is None:
        return error(404, "unknown_hall", f"no hall {hall_id!r}")
    try:
        period = Period(request.query.get("period", "month"))
    except ValueError:
        return error(400, "bad_request", f"period is one of {_PERIODS}")
    body = service.disclosure.get(hall_id, period)
    if body is None:
        config = hall.config
        now = hall.runtime.now()
        today = datetime.fromtimestamp(now / 1000, ZoneInfo(config.hall.timezone)).date()
        report = await hall.stats.report(period.first_day(today), today)
        body = msgspec.json.encode(public_ratings(config, report, period, now))
        service.disclosure.put(hall_id, period, body)
    return web.Response(
        body=body,
        content_type="application/json",
        headers={"Cache-Control": f"public, max-age={int(CACHE_SECONDS)}"},
    )


def _file(name: str, content_type: str) -> web.RouteDef:
    path = PAGE_DIR / name

    async def serve(request: web.Request) -> web.Response:
        return web.Response(
            body=path.read_bytes(),
            content_type=content_type,
            charset="utf-8",
            headers={"Cache-Control": "public, max-age=300"},
        )

    return web.get(f"/public/{name}", serve)


def add_public_ratings_routes(app: web.Application, service: Haochaping) -> None:
    app[PUBLIC] = service
    app.router.add_get("/api/v1/public/halls", get_public_halls)
    app.router.add_get("/api/v1/public/halls/{hall}/ratings", get_public_ratings)
    app.router.add_routes(
        [
            _file("ratings.html", "text/html"),
            _file("ratings.js", "application/javascript"),
            _file("ratings.css", "text/css"),
        ]
    )
