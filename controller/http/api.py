"""The HTTP API (aiohttp): commands in, hall views out, errors as JSON with a code.

Every state change goes through ``POST /api/v1/halls/{hall}/commands`` with a command as JSON
(``{"type": "call_next", "window": 3}``); a 200 answer means the command's events are durable.
Refusals are 409 with the engine's reason as ``code``; malformed bodies 400 (``bad_command``),
oversized ones 413 (both read by ``controller.http.bodies``); an unknown hall 404; a hall
whose log cannot be written 503. Nothing about a request that fails changes state.
"""

from __future__ import annotations

from typing import Final

import msgspec
from aiohttp import web

from controller import commands as cmd
from controller import events as ev
from controller.http.bodies import BadBody, decode, read_raw
from controller.http.context import AUDIT_ACTION, AUDIT_DETAIL
from controller.http.replies import ErrorReply as ErrorReply
from controller.http.replies import error as error
from controller.http.replies import json_response as json_response
from controller.lifecycle import Rejected
from controller.queries import hall_view
from controller.runtime import HallRuntime, HallUnavailable

MAX_BODY_BYTES: Final = 64 * 1024
HALLS: Final = web.AppKey("halls", dict[str, HallRuntime])

_command_decoder = msgspec.json.Decoder(cmd.AnyCommand)


class CommandReply(msgspec.Struct, frozen=True):
    seq: int
    events: list[ev.AnyEvent]


def _hall(request: web.Request) -> HallRuntime | web.Response:
    """The hall named in the path, or the 404 answer to send."""
    hall_id = request.match_info["hall"]
    runtime = request.app[HALLS].get(hall_id)
    if runtime is None:
        return error(404, "unknown_hall", f"no hall {hall_id!r}")
    return runtime


async def post_command(request: web.Request) -> web.Response:
    runtime = _hall(request)
    if isinstance(runtime, web.Response):
        return runtime
    try:
        body = await read_raw(request, MAX_BODY_BYTES, media_type=None)
        command = decode(body, _command_decoder, code="bad_command")
    except BadBody as bad:
        return bad.response
    request[AUDIT_ACTION] = f"command:{type(command).__struct_config__.tag}"
    request[AUDIT_DETAIL] = body[:300].decode("utf-8", "replace")
    try:
        receipt = await runtime.submit(command)
    except Rejected as exc:
        return error(409, exc.reason.value, exc.detail)
    except HallUnavailable as exc:
        return error(503, "hall_unavailable", str(exc))
    return json_response(CommandReply(seq=receipt.seq, events=receipt.events))


async def get_hall(request: web.Request) -> web.Response:
    runtime = _hall(request)
    if isinstance(runtime, web.Response):
        return runtime
    return json_response(hall_view(runtime.state, runtime.now()))


async def list_halls(request: web.Request) -> web.Response:
    halls = request.app[HALLS]
    return json_response(
        [{"id": h, "name": r.engine.config.hall.name} for h, r in sorted(halls.items())]
    )


async def healthz(request: web.Request) -> web.Response:
    return json_response({"ok": True})


def add_api_routes(app: web.Application, halls: dict[str, HallRuntime]) -> None:
    app[HALLS] = halls
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/v1/halls", list_halls)
    app.router.add_get("/api/v1/halls/{hall}", get_hall)
    app.router.add_post("/api/v1/halls/{hall}/commands", post_command)
