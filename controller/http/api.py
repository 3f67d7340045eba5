"""The HTTP API (aiohttp): commands in, hall views out, errors as JSON with a code.

Every state change goes through ``POST /api/v1/halls/{hall}/commands`` with a command as JSON
(``{"type": "call_next", "window": 3}``); a 200 answer means the command's events are durable.
Who may send which command is ``controller.auth.permissions`` (403 ``forbidden`` or
``conflict_of_interest``; case steps are recorded under the authenticated account). A bare
daemon without the console (tests, replay) has no accounts and checks nothing.
Refusals are 409 with the engine's reason as ``code``; malformed bodies 400 (``bad_command``),
oversized ones 413 (both read by ``controller.http.bodies``); an unknown hall 404; a hall
whose log cannot be written 503. Nothing about a request that fails changes state.
An ``Idempotency-Key`` header makes a retry safe (``controller.http.idempotency``). ``/healthz``
answers 503 with the reason while the log cannot be written or the MQTT broker refuses a hall's
controller login.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
from aiohttp import web

from controller.auth import permissions
from controller.core import commands as cmd
from controller.core import events as ev
from controller.core.lifecycle import Rejected
from controller.core.ports import HallUnavailable
from controller.core.queries import hall_view
from controller.daemon.runtime import HallRuntime
from controller.daemon.store_supervisor import StoreHealth
from controller.http import idempotency as idem
from controller.http import messages
from controller.http.bodies import BadBody, decode, read_raw
from controller.http.context import AUDIT_ACTION, AUDIT_DETAIL, PRINCIPAL, STORE_HEALTH
from controller.http.replies import ErrorReply as ErrorReply
from controller.http.replies import error as error
from controller.http.replies import json_response as json_response
from controller.http.staff_photos import add_photo_route

MAX_BODY_BYTES: Final = 64 * 1024
HALLS: Final = web.AppKey("halls", dict[str, HallRuntime])
KEYED: Final = web.AppKey("keyed_commands", idem.IdempotentCommands)
HUBS: Final = web.AppKey("device_hubs", dict[str, Any])

_command_decoder = msgspec.json.Decoder(cmd.AnyCommand)


class CommandReply(msgspec.Struct, frozen=True):
    seq: int
    events: list[ev.AnyEvent]


class StoreProblem(msgspec.Struct, frozen=True):
    """Why the log cannot be written (``fault``: disk_full, read_only, io_error, store_error;
    on PostgreSQL also unreachable, fenced)."""

    fault: str
    reason: str
    since_ms: int


class MqttProblem(msgspec.Struct, frozen=True):
    """The broker refuses a hall's controller login (``reason``: bad_credentials,
    not_authorized, banned; ``code``: the CONNACK code)."""

    hall: str
    reason: str
    code: int
    since_ms: int


class Health(msgspec.Struct, frozen=True):
    ok: bool
    message: str = ""
    store: StoreProblem | None = None
    mqtt: list[MqttProblem] | None = None


def mqtt_problems(hubs: dict[str, Any]) -> list[tuple[str, Any]]:
    """(hall, ``devices.mqtt.link.LoginRefused``) for every hall whose login is refused."""
    found = []
    for hall_id, hub in sorted(hubs.items()):
        refusal = getattr(getattr(hub, "link", None), "refusal", None)
        if refusal is not None:
            found.append((hall_id, refusal))
    return found


def _hall(request: web.Request) -> HallRuntime | web.Response:
    """The hall named in the path, or the 404 answer to send."""
    hall_id = request.match_info["hall"]
    runtime = request.app[HALLS].get(hall_id)
    if runtime is None:
        return error(404, "unknown_hall", f"no hall {hall_id!r}", hall=hall_id)
    return runtime


def _as_staff(command: cmd.AnyCommand) -> cmd.AnyCommand:
    """A rating entered through the API is the staff's word, never a pad's signed evidence:
    whatever the body claims, it is recorded as such (and advances no pad's counter)."""
    if isinstance(command, cmd.Rate):
        return msgspec.structs.replace(command, evidence=cmd.Evidence.STAFF, signature=None)
    if isinstance(command, cmd.MissEvaluation):
        return msgspec.structs.replace(command, signature=None)
    return command


async def post_command(request: web.Request) -> web.Response:
    runtime = _hall(request)
    if isinstance(runtime, web.Response):
        return runtime
    try:
        body = await read_raw(request, MAX_BODY_BYTES, media_type=None)
        command = decode(body, _command_decoder, code="bad_command")
    except BadBody as bad:
        return bad.response
    command = _as_staff(command)
    request[AUDIT_ACTION] = f"command:{permissions.tag_of(command)}"
    request[AUDIT_DETAIL] = body[:300].decode("utf-8", "replace")
    principal = request.get(PRINCIPAL)
    if principal is not None:
        case_id = permissions.case_id_of(command)
        case = runtime.state.cases.get(case_id) if case_id is not None else None
        try:
            command = permissions.authorize(principal, command, case)
        except permissions.Refused as refused:
            return error(403, refused.code, refused.message)
    header = request.headers.get(idem.HEADER)
    try:
        if header is None:
            receipt = await runtime.submit(command)
            return json_response(CommandReply(seq=receipt.seq, events=receipt.events))
        return await _keyed(request, runtime, command, header)
    except Rejected as exc:
        facts = messages.command_facts(command) | exc.facts
        return error(409, exc.reason.value, exc.detail, **facts)
    except HallUnavailable as exc:
        return error(503, "hall_unavailable", exc.text)


async def _keyed(
    request: web.Request, runtime: HallRuntime, command: cmd.AnyCommand, header: str
) -> web.Response:
    try:
        key = idem.parse_key(header)
    except idem.BadKey as exc:
        return error(400, "bad_idempotency_key", str(exc))
    principal = request.get(PRINCIPAL)
    try:
        answer = await request.app[KEYED].submit(
            runtime, command, principal=principal.user if principal else "", key=key
        )
    except idem.KeyReused as exc:
        return error(422, "idempotency_key_reused", str(exc))
    except idem.KeyInUse as exc:
        return error(409, "idempotency_key_in_use", str(exc))
    response = json_response(CommandReply(seq=answer.seq, events=answer.events))
    if answer.replayed:
        response.headers[idem.REPLAYED_HEADER] = "true"
    return response


async def get_hall(request: web.Request) -> web.Response:
    runtime = _hall(request)
    if isinstance(runtime, web.Response):
        return runtime
    return json_response(hall_view(runtime.state, runtime.now()))


async def list_halls(request: web.Request) -> web.Response:
    halls = request.app[HALLS]
    return json_response(
        [
            {"id": h, "name": r.engine.config.hall.name, "timezone": r.engine.config.hall.timezone}
            for h, r in sorted(halls.items())
        ]
    )


async def healthz(request: web.Request) -> web.Response:
    """200 while the log is writable and the broker takes every hall's login; 503 with the
    reasons otherwise."""
    health = request.app.get(STORE_HEALTH)
    refused = mqtt_problems(request.app.get(HUBS, {}))
    store_failing = health is not None and health.failing
    if not store_failing and not refused:
        return json_response(Health(ok=True))
    problem = None
    messages = []
    if health is not None and store_failing:
        fault = health.fault.value if health.fault else "store_error"
        problem = StoreProblem(fault=fault, reason=health.reason, since_ms=health.since_ms)
        messages.append(health.text)
    mqtt = [MqttProblem(hall, r.reason, r.code, r.since_ms) for hall, r in refused] or None
    messages += [f"{hall}: {r.text}" for hall, r in refused]
    return json_response(
        Health(ok=False, message="；".join(messages), store=problem, mqtt=mqtt), 503
    )


def add_api_routes(
    app: web.Application,
    halls: dict[str, HallRuntime],
    health: StoreHealth | None = None,
    hubs: dict[str, Any] | None = None,
) -> None:
    """``hubs``: hall id -> device hub, whose MQTT link's refused login ``/healthz`` reports."""
    app[HALLS] = halls
    if hubs is not None:
        app[HUBS] = hubs
    app[KEYED] = idem.IdempotentCommands()
    if health is not None:
        app[STORE_HEALTH] = health
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/v1/halls", list_halls)
    app.router.add_get("/api/v1/halls/{hall}", get_hall)
    app.router.add_post("/api/v1/halls/{hall}/commands", post_command)
    add_photo_route(app, halls)
