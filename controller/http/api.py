"""The HTTP API (aiohttp): commands in, hall views out, errors as JSON with a code.

Every state change goes through ``POST /api/v1/halls/{hall}/commands`` with a command as JSON
(``{"type": "call_next", "window": 3}``); a 200 answer means the command's events are durable.
Refusals are 409 with the engine's reason as ``code``; malformed bodies 400; an unknown hall
404; a hall whose log cannot be written 503. Nothing about a request that fails changes state.
"""

from __future__ import annotations

from typing import Final

import msgspec
from aiohttp import web

from controller import commands as cmd
from controller import events as ev
from controller.http.context import AUDIT_ACTION, AUDIT_DETAIL
from controller.lifecycle import Rejected
from controller.queries import hall_view
from controller.runtime import HallRuntime, HallUnavailable

MAX_BODY_BYTES: Final = 64 * 1024
HALLS: Final = web.AppKey("halls", dict[str, HallRuntime])

_command_decoder = msgspec.json.Decoder(cmd.AnyCommand)
_json = msgspec.json.Encoder()


class CommandReply(msgspec.Struct, frozen=True):
    seq: int
    events: list[ev.AnyEvent]


class ErrorReply(msgspec.Struct, frozen=True):
    code: str
    message: str


def json_response(body: object, status: int = 200) -> web.Response:
    return web.Response(body=_json.encode(body), status=status, content_type="application/json")


def error(status: int, code: str, message: str) -> web.Response:
    return json_response(ErrorReply(code=code, message=message), status)


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
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return error(413, "too_large", f"a command is at most {MAX_BODY_BYTES} bytes")
    body = await request.content.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return error(413, "too_large", f"a command is at most {MAX_BODY_BYTES} bytes")
    try:
        command = _command_decoder.decode(body)
    except msgspec.DecodeError as exc:
        return error(400, "bad_command", str(exc))
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
