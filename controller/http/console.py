"""The console as a daemon extension: accounts, access control, console routes, live updates,
voice, metrics and the static pages, installed on the daemon's aiohttp application.

``hallctl run`` and ``hallctl demo`` add ``console_extension()``; a bare ``Daemon`` (tests,
replay) serves only the open command API of ``controller.http.api``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

from aiohttp import web
from argon2 import PasswordHasher

from controller.auth.directory import AccessDirectory, AccessError
from controller.auth.model import Role
from controller.http.access import Handler, access_middleware, route_pattern, security_headers
from controller.http.context import CONSOLE, ConsoleContext
from controller.http.hall_api import add_hall_routes
from controller.http.live import add_live_routes, start_feeds
from controller.http.metrics import METRICS, Metrics, add_metrics_route
from controller.http.openapi import add_openapi_route
from controller.http.session_api import add_session_routes
from controller.http.voice import VoiceSynth, add_voice_routes

if TYPE_CHECKING:
    from controller.daemon.process import Daemon, Extension

log = logging.getLogger("hallctl.console")

STATIC_DIR: Final = Path(__file__).resolve().parents[1] / "console" / "static"
COMMANDS_ROUTE: Final = "/api/v1/halls/{hall}/commands"


@web.middleware
async def command_timer(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method != "POST" or route_pattern(request) != COMMANDS_ROUTE:
        return await handler(request)
    started = time.perf_counter()
    response = await handler(request)
    hall = request.match_info.get("hall", "")
    if hall in request.app[CONSOLE].halls:
        request.app[METRICS].command_seconds.labels(hall).observe(time.perf_counter() - started)
    return response


async def to_console(request: web.Request) -> web.Response:
    raise web.HTTPFound("/console/hall.html")


def install_console(
    app: web.Application, ctx: ConsoleContext, *, voice: VoiceSynth | None = None
) -> None:
    """Add everything but the command API itself (``add_api_routes``) to ``app``."""
    app[CONSOLE] = ctx
    app.middlewares.extend([security_headers, access_middleware, command_timer])
    add_session_routes(app)
    add_hall_routes(app)
    add_live_routes(app)
    add_voice_routes(app, voice)
    add_openapi_route(app, list(ctx.halls))
    add_metrics_route(app, Metrics())
    app.router.add_get("/", to_console)
    app.router.add_static("/console/", STATIC_DIR, append_version=False)
    start_feeds(ctx)
    app.on_startup.append(_restore_notices)


async def _restore_notices(app: web.Application) -> None:
    """The latest notice pushed from the console outlives a restart (it is in the audit)."""
    ctx = app[CONSOLE]
    latest: dict[str, str] = {}
    for entry in ctx.directory.audit_trail:
        if entry.action == "notice" and entry.status == 200:
            latest[entry.hall] = entry.detail
    for hall_id, text in latest.items():
        hub = ctx.hub_of(hall_id)
        if hub is not None and text:
            hub.set_notice(text)


def console_extension(
    *,
    demo_admin: tuple[str, str] | None = None,
    hasher: PasswordHasher | None = None,
    voice: VoiceSynth | None = None,
    console: list[ConsoleContext] | None = None,
) -> Extension:
    """The daemon extension. ``demo_admin``: create this admin if absent (``hallctl demo``).
    ``console``: a list the context is appended to, for callers that want to reach it."""

    async def start(daemon: Daemon, tasks: asyncio.TaskGroup, stop: asyncio.Event) -> None:
        assert daemon.store is not None and daemon.committer is not None
        directory = await AccessDirectory.open(daemon.store, daemon.committer, hasher=hasher)
        if demo_admin is not None and demo_admin[0] not in directory.accounts:
            try:
                await directory.add_user(
                    demo_admin[0], demo_admin[1], Role.ADMIN, display_name="演示管理员", by="demo"
                )
            except AccessError as exc:
                log.warning("demo admin not created: %s", exc)
        ctx = ConsoleContext(
            daemon.halls, directory, daemon.hubs, daemon.committer, health=daemon.health
        )
        install_console(daemon.app, ctx, voice=voice)
        if console is not None:
            console.append(ctx)

    return start
