"""The OpenAPI 3.1 document at ``/api/v1/openapi.json``.

Paths are written here by hand (they are few and their wording matters); every body schema is
generated from the msgspec structs the handlers actually decode and encode
(``msgspec.json.schema_components``), so the document cannot drift from the wire types.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
from aiohttp import web

from controller.auth.model import ActionAudited
from controller.console.alerts import Alert
from controller.console.stats import Figures
from controller.core import commands as cmd
from controller.core.lifecycle import CaseState
from controller.core.queries import HallView
from controller.haochaping.callback import CallReply
from controller.haochaping.privacy import Contact
from controller.http import haochaping_api as hcp
from controller.http.api import CommandReply, ErrorReply, Health
from controller.http.booking_api import (
    BookBody,
    BookingView,
    Cancelled,
    ChangeBody,
    HallBooking,
    RescheduleBody,
    SlotView,
)
from controller.http.hall_api import (
    CaseView,
    DeviceView,
    NoticeBody,
    Ok,
    RatingView,
    ReprintBody,
    TicketView,
)
from controller.http.live import CallNotice, LivePicture
from controller.http.session_api import (
    DutiesBody,
    LoginBody,
    NewTokenBody,
    NewTokenReply,
    NewUserBody,
    PasswordBody,
    RoleBody,
    SessionView,
    TokenView,
    UserView,
)

REF: Final = "#/components/schemas/{name}"

IDEMPOTENCY_KEY: Final = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    "description": (
        "Makes a retry safe: a command sent again with the same key (per hall and account, "
        "kept 24 h) is not executed twice; the answer is the first one, same status and body, "
        "with the header Idempotent-Replayed: true. The key is recorded in the same "
        "transaction as the command, so it survives a crash. The same key with another "
        "command: 422 idempotency_key_reused; while the first request is still running: 409 "
        "idempotency_key_in_use; a malformed key: 400 bad_idempotency_key. Only executed "
        "commands are remembered: a refusal (409) or 503 changed nothing and may be retried."
    ),
}


class HallSummary(msgspec.Struct, frozen=True):
    id: str
    name: str
    timezone: str  # the hall's IANA zone: the console shows times in it


_TYPES: Final[dict[str, Any]] = {
    "Command": cmd.AnyCommand,
    "CommandReply": CommandReply,
    "Error": ErrorReply,
    "Health": Health,
    "HallView": HallView,
    "HallList": list[HallSummary],
    "Devices": list[DeviceView],
    "Alerts": list[Alert],
    "Tickets": list[TicketView],
    "Ratings": list[RatingView],
    "Cases": list[CaseView],
    "Case": CaseView,
    "Figures": Figures,
    "Notice": NoticeBody,
    "Reprint": ReprintBody,
    "Ok": Ok,
    "Login": LoginBody,
    "Session": SessionView,
    "NewUser": NewUserBody,
    "Password": PasswordBody,
    "RoleChange": RoleBody,
    "Users": list[UserView],
    "User": UserView,
    "NewToken": NewTokenBody,
    "NewTokenReply": NewTokenReply,
    "Tokens": list[TokenView],
    "Audit": list[ActionAudited],
    "LivePicture": LivePicture,
    "CallNotice": CallNotice,
    "Duties": DutiesBody,
    "FollowUp": hcp.FollowUpBody,
    "FollowUpPage": hcp.FollowUpPage,
    "HcpStatus": hcp.StatusView,
    "HcpRatings": list[hcp.RatingView],
    "HcpCases": list[hcp.CaseView],
    "CaseStep": hcp.StepBody,
    "CaseNumber": hcp.CaseNumberBody,
    "Contact": Contact,
    "CallReply": CallReply,
    "HallBooking": HallBooking,
    "Slots": list[SlotView],
    "Book": BookBody,
    "Booking": BookingView,
    "BookingChange": ChangeBody,
    "Reschedule": RescheduleBody,
    "Cancelled": Cancelled,
}


HEALTHZ: Final = {
    "get": {
        "summary": "Liveness and whether the event log can be written",
        "security": [],
        "responses": {
            "200": {
                "description": "the log is writable",
                "content": {"application/json": {"schema": {"$ref": REF.format(name="Health")}}},
            },
            "503": {
                "description": "the log cannot be written (disk full, read-only, I/O error): "
                "commands are refused until it can; the daemon resumes by itself",
                "content": {"application/json": {"schema": {"$ref": REF.format(name="Health")}}},
            },
        },
    }
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(name=name)}


def _json(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(name)}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "malformed request",
        401: "not logged in",
        403: "wrong role or CSRF token",
        404: "unknown hall or item",
        409: "refused",
        413: "body too large",
        415: "body not application/json",
        422: "Idempotency-Key reused for a different command (idempotency_key_reused)",
        429: "throttled",
        502: "the telephony platform did not take the call (call_failed)",
        503: "hall unavailable: its log cannot be written (hall_unavailable, store_unavailable)",
    }
    return {str(c): {"description": text[c], "content": _json("Error")} for c in codes}


def _query(name: str, schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": text}


def _op(
    summary: str,
    reply: str | None,
    *,
    body: str | None = None,
    params: list[dict[str, Any]] | None = None,
    errors: tuple[int, ...] = (401, 404),
    media: str = "application/json",
    public: bool = False,
) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {
            "description": "OK",
            "content": {media: {"schema": _ref(reply) if reply else {"type": "string"}}},
        }
    }
    if body:  # every body is read through controller.http.bodies: size limit, JSON type
        errors = (*errors, 400, 413, *((415,) if body != "Command" else ()))
    responses.update(_errors(*sorted(set(errors))))
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if params:
        op["parameters"] = params
    if body:
        op["requestBody"] = {"required": True, "content": _json(body)}
    if public:
        op["security"] = []
    return op


def build_document(hall_ids: list[str]) -> dict[str, Any]:
    """``hall_ids``: the halls this daemon serves, listed as the path parameter's values."""
    hall_schema: dict[str, Any] = {"type": "string"}
    if hall_ids:
        hall_schema["enum"] = sorted(hall_ids)
    hall_param = {"name": "hall", "in": "path", "required": True, "schema": hall_schema}
    _, components = msgspec.json.schema_components(list(_TYPES.values()), ref_template=REF)
    schemas = dict(components)
    for name, kind in _TYPES.items():
        schema, extra = msgspec.json.schema_components([kind], ref_template=REF)
        schemas.update(extra)
        if name not in schemas:
            schemas[name] = schema[0]
    day = _query("day", {"type": "string", "format": "date"}, "business day (default newest)")
    hall_paths: dict[str, Any] = {
        "/api/v1/halls": {"get": _op("Halls served by this daemon", "HallList", errors=(401,))},
        "/api/v1/halls/{hall}": {
            "parameters": [hall_param],
            "get": _op("Windows, queues and totals", "HallView"),
        },
        "/api/v1/halls/{hall}/commands": {
            "parameters": [hall_param],
            "post": _op(
                "Submit a command (200 means durable)",
                "CommandReply",
                body="Command",
                params=[IDEMPOTENCY_KEY],
                errors=(400, 401, 403, 404, 409, 413, 422, 503),
            ),
        },
        "/api/v1/halls/{hall}/devices": {
            "parameters": [hall_param],
            "get": _op(
                "Devices with availability, firmware and errors",
                "Devices",
                params=[_query("offline", {"type": "boolean"}, "only offline devices")],
            ),
        },
        "/api/v1/halls/{hall}/alerts": {
            "parameters": [hall_param],
            "get": _op("Device offline, printer, long wait, overdue case alerts", "Alerts"),
        },
        "/api/v1/halls/{hall}/tickets": {
            "parameters": [hall_param],
            "get": _op(
                "Tickets in one state, oldest first",
                "Tickets",
                params=[
                    _query(
                        "state",
                        {
                            "type": "string",
                            "enum": [
                                "waiting",
                                "called",
                                "serving",
                                "suspended",
                                "done",
                                "no_show",
                                "cancelled",
                                "expired",
                            ],
                        },
                        "ticket state (default waiting)",
                    ),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "rows"),
                    _query("q", {"type": "string", "maxLength": 20}, "part of the number (A02)"),
                ],
                errors=(400, 401, 404),
            ),
        },
        "/api/v1/halls/{hall}/tickets/{ticket}/reprint": {
            "parameters": [
                hall_param,
                {"name": "ticket", "in": "path", "required": True, "schema": {"type": "integer"}},
            ],
            "post": _op(
                "Print a ticket again at a kiosk",
                "Ok",
                body="Reprint",
                errors=(400, 401, 403, 404, 409),
            ),
        },
        "/api/v1/halls/{hall}/notice": {
            "parameters": [hall_param],
            "post": _op(
                "Show a notice on LED strips, hall screens and kiosks (empty: the default)",
                "Ok",
                body="Notice",
                errors=(400, 401, 403, 404, 409),
            ),
        },
        "/api/v1/halls/{hall}/ratings": {
            "parameters": [hall_param],
            "get": _op(
                "Ratings, newest first: of tickets the live hall holds (about the last "
                "follow_up_days days), or of one day (day=, a closed day read from the log)",
                "Ratings",
                params=[
                    _query(
                        "level",
                        {"type": "string", "enum": [lv.value for lv in cmd.RatingLevel]},
                        "level",
                    ),
                    _query("window", {"type": "integer"}, "window number"),
                    _query("staff", {"type": "string"}, "staff 工号"),
                    _query("service", {"type": "string"}, "service id"),
                    _query("bad", {"type": "boolean"}, "差评 only"),
                    day,
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "rows"),
                ],
                errors=(400, 401, 404),
            ),
        },
        "/api/v1/halls/{hall}/cases": {
            "parameters": [hall_param],
            "get": _op(
                "差评 cases, newest first (open, all, overdue, or one state)",
                "Cases",
                params=[
                    _query(
                        "state",
                        {
                            "type": "string",
                            "enum": ["open", "all", "overdue", *[s.value for s in CaseState]],
                        },
                        "filter (default open)",
                    ),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "rows"),
                ],
                errors=(400, 401, 404),
            ),
        },
        "/api/v1/halls/{hall}/cases/{case}": {
            "parameters": [
                hall_param,
                {"name": "case", "in": "path", "required": True, "schema": {"type": "integer"}},
            ],
            "get": _op("One 差评 case with its steps and deadlines", "Case"),
        },
        "/api/v1/halls/{hall}/figures": {
            "parameters": [hall_param],
            "get": _op("Figures of a day", "Figures", params=[day]),
        },
        "/api/v1/halls/{hall}/figures/{chart}.svg": {
            "parameters": [
                hall_param,
                {
                    "name": "chart",
                    "in": "path",
                    "required": True,
                    "schema": {
                        "type": "string",
                        "enum": [
                            "arrivals",
                            "waits",
                            "satisfaction-window",
                            "satisfaction-staff",
                            "satisfaction-service",
                            "coverage-window",
                        ],
                    },
                },
            ],
            "get": _op("A chart of the day (SVG)", None, params=[day], media="image/svg+xml"),
        },
        "/api/v1/halls/{hall}/figures.csv": {
            "parameters": [hall_param],
            "get": _op("The day's figures as CSV", None, params=[day], media="text/csv"),
        },
        "/api/v1/halls/{hall}/figures.xlsx": {
            "parameters": [hall_param],
            "get": _op(
                "The day's figures as XLSX",
                None,
                params=[day],
                media="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ),
        },
        "/api/v1/halls/{hall}/live": {
            "parameters": [hall_param],
            "get": _op(
                "Server-Sent Events: `picture` (LivePicture) on every change, `call` (CallNotice)",
                None,
                params=[_query("devices", {"type": "boolean"}, "include every device")],
                media="text/event-stream",
            ),
        },
        "/api/v1/halls/{hall}/voice.wav": {
            "parameters": [hall_param],
            "get": _op(
                "The announcement of a call (espeak-ng Mandarin)",
                None,
                params=[
                    {
                        "name": "number",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[A-Z]{1,3}[0-9]{1,5}$"},
                    },
                    {
                        "name": "window",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "integer"},
                    },
                    _query("recall", {"type": "boolean"}, "重呼"),
                ],
                media="audio/wav",
                errors=(400, 401, 404, 409),
            ),
        },
    }
    hall_paths.update(_haochaping_paths(hall_param))
    hall_paths["/api/v1/halls/{hall}/staff/{staff_id}/photo"] = {
        "parameters": [hall_param, _path("staff_id")],
        "get": _op(
            "亮牌: the clerk's photo (JPEG, PNG, GIF or WebP, by its bytes; a photo configured "
            "as a URL redirects there). No login. 404 unknown_staff or no_photo",
            None,
            media="image/*",
            errors=(404,),
            public=True,
        ),
    }
    access_paths: dict[str, Any] = {
        "/api/v1/session": {
            "post": _op(
                "Log in; sets the session cookie; answers the CSRF token",
                "Session",
                body="Login",
                errors=(400, 401, 429, 503),
                public=True,
            ),
            "get": _op("Who is logged in, and the CSRF token", "Session", errors=(401,)),
            "delete": _op("Log out", "Ok", errors=(401, 403, 503)),
        },
        "/api/v1/users": {
            "get": _op("Accounts (admin)", "Users", errors=(401, 403)),
            "post": _op("Add an account (admin)", "User", body="NewUser", errors=(400, 401, 403)),
        },
        "/api/v1/users/{user}/disable": {
            "parameters": [_path("user")],
            "post": _op("Disable an account (admin)", "Ok", errors=(401, 403, 404)),
        },
        "/api/v1/users/{user}/password": {
            "parameters": [_path("user")],
            "post": _op("Set a password (admin)", "Ok", body="Password", errors=(400, 401, 403)),
        },
        "/api/v1/users/{user}/role": {
            "parameters": [_path("user")],
            "post": _op("Change a role (admin)", "Ok", body="RoleChange", errors=(400, 401, 403)),
        },
        "/api/v1/users/{user}/duties": {
            "parameters": [_path("user")],
            "post": _op(
                "Grant 好差评 duties (admin): reviewer, followup, department (with its "
                "departments, or *), and the 工号 of the clerk the account belongs to",
                "User",
                body="Duties",
                errors=(400, 401, 403, 404),
            ),
        },
        "/api/v1/tokens": {
            "get": _op("API tokens (admin)", "Tokens", errors=(401, 403)),
            "post": _op(
                "Issue an API token (admin; shown once)",
                "NewTokenReply",
                body="NewToken",
                errors=(400, 401, 403, 404),
            ),
        },
        "/api/v1/tokens/{token_id}": {
            "parameters": [_path("token_id")],
            "delete": _op("Revoke an API token (admin)", "Ok", errors=(401, 403, 404)),
        },
        "/api/v1/audit": {
            "get": _op(
                "The audit trail, newest first (admin)",
                "Audit",
                params=[_query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "n")],
                errors=(400, 401, 403),
            )
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "hallctl API",
            "version": "1",
            "description": "Service-hall control: commands, live hall, devices, 好差评 figures. "
            "Errors are JSON {code, message, detail}: code English and stable, message Chinese. "
            "State changes with a session cookie need the "
            "X-CSRF-Token header; machine clients send Authorization: Bearer <token>.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"session": []}],
        "paths": {
            **hall_paths,
            **access_paths,
            **booking_paths(hall_param),
            "/healthz": HEALTHZ,
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "hallctl_session"},
            },
        },
    }


def _haochaping_paths(hall_param: dict[str, Any]) -> dict[str, Any]:
    base = "/api/v1/halls/{hall}/haochaping"
    case = {"name": "case", "in": "path", "required": True, "schema": {"type": "integer"}}
    ticket = {"name": "ticket", "in": "path", "required": True, "schema": {"type": "integer"}}
    step = {
        "name": "step",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": ["contact", "verify", "review", "rectify", "close"]},
    }
    token = {"name": "t", "in": "query", "required": True, "schema": {"type": "string"}}
    days = [
        _query("from", {"type": "string", "format": "date"}, "first day (default today)"),
        _query("to", {"type": "string", "format": "date"}, "last day (default from)"),
    ]
    return {
        "/hcp/{hall}/{ticket}": {
            "parameters": [hall_param, ticket],
            "get": _op(
                "追评 page data behind the ticket's QR code (the token is the credential)",
                "FollowUpPage",
                params=[token],
                errors=(403, 404),
                public=True,
            ),
            "post": _op(
                "追评: the citizen's one follow-up rating (channel qr_code)",
                "CommandReply",
                body="FollowUp",
                errors=(403, 404, 409, 503),
                public=True,
            ),
        },
        base: {
            "parameters": [hall_param],
            "get": _op("Reporting outboxes, 追评 counts, open and overdue cases", "HcpStatus"),
        },
        f"{base}/ratings": {
            "parameters": [hall_param],
            "get": _op(
                "Rating records of a date range, the rater masked",
                "HcpRatings",
                params=days,
                errors=(400, 401, 404),
            ),
        },
        f"{base}/cases": {
            "parameters": [hall_param],
            "get": _op(
                "差评 cases (has_contact: a contact is sealed; never the contact itself)",
                "HcpCases",
                params=[_query("open", {"type": "boolean"}, "open cases only")],
            ),
        },
        f"{base}/cases/{{case}}/{{step}}": {
            "parameters": [hall_param, case, step],
            "post": _op(
                "A case step, recorded under the authenticated account (body by: kept in the "
                "note). contact: duty followup; verify, rectify, close: duty department over "
                "the case's department; review: duty reviewer, neither the rated clerk nor the "
                "appeal's filer (403 forbidden, conflict_of_interest)",
                "CommandReply",
                body="CaseStep",
                errors=(401, 403, 404, 409, 503),
            ),
        },
        f"{base}/contacts/{{case}}": {
            "parameters": [hall_param, case],
            "post": _op(
                "回访: open the rater's contact (duty followup, not the rated clerk). The "
                "opening is recorded in the log (contact_unsealed: who, when, which case) "
                "before the contact is answered; 409 no_contact when the rater left none",
                "Contact",
                errors=(401, 403, 404, 409, 503),
            ),
        },
        f"{base}/contacts/{{case}}/call": {
            "parameters": [hall_param, case],
            "post": _op(
                "回访 masked call-through: the phone goes to [evaluation] call_webhook, never "
                "to the clerk (duty followup; recorded as contact_unsealed, purpose call). "
                "409 call_not_configured, no_contact, no_phone; 502 call_failed",
                "CallReply",
                errors=(401, 403, 404, 409, 502, 503),
            ),
        },
        f"{base}/tickets/{{ticket}}/case-number": {
            "parameters": [hall_param, ticket],
            "post": _op(
                "办件编号 of a ticket, from the business system (operator)",
                "CommandReply",
                body="CaseNumber",
                errors=(401, 403, 404, 409, 503),
            ),
        },
        f"{base}/statistics": {
            "parameters": [hall_param],
            "get": _op(
                "好差评 statistics of a date range (JSON, or format=csv|xlsx)",
                None,
                params=[
                    *days,
                    _query("format", {"type": "string", "enum": ["json", "csv", "xlsx"]}, "fmt"),
                ],
                errors=(400, 401, 404),
            ),
        },
    }

def booking_paths(hall_param: dict[str, Any]) -> dict[str, Any]:
    """线上预约 (docs/appointments.md): the public page's routes (no login, per-address limit,
    a change names the booking's phone) and the same under /api/v1/halls for a token with the
    ``booking`` scope (changes by code alone)."""
    code = _path("code")
    refusals = (
        "409: booking_closed, slot_not_offered, booking_cutoff, slot_full, "
        "booking_limit_reached, booking_blocked, unknown_service, unknown_appointment"
    )
    out: dict[str, Any] = {
        "/api/v1/public/booking/halls": {
            "get": _op("Halls that take online bookings", "HallList", errors=(), public=True)
        }
    }
    for base, public in (("/api/v1/public/halls/{hall}", True), ("/api/v1/halls/{hall}", False)):
        who = "public page" if public else "booking token"
        errors: tuple[int, ...] = (404, 409, 503, 429) if public else (401, 403, 404, 409, 503)
        day = {"type": "string", "format": "date"}
        out[f"{base}/booking"] = {
            "parameters": [hall_param],
            "get": _op(
                f"Bookable services and their open days ({who})",
                "HallBooking",
                errors=(401, 403, 404) if not public else (404,),
                public=public,
            ),
        }
        out[f"{base}/booking/slots"] = {
            "parameters": [hall_param],
            "get": _op(
                f"A day's slots with places left ({who})",
                "Slots",
                params=[
                    _query("service", {"type": "string"}, "service id"),
                    _query("date", day, "the day, YYYY-MM-DD"),
                ],
                errors=(400, 404) if public else (400, 401, 403, 404),
                public=public,
            ),
        }
        out[f"{base}/bookings"] = {
            "parameters": [hall_param],
            "post": _op(
                f"Book a slot: the answer has the code and its QR (SVG) ({who}; {refusals})",
                "Booking",
                body="Book",
                errors=errors,
                public=public,
            ),
        }
        out[f"{base}/bookings/{{code}}/cancel"] = {
            "parameters": [hall_param, code],
            "post": _op(
                f"Cancel a booking: its place is free again ({who})",
                "Cancelled",
                body="BookingChange",
                errors=errors,
                public=public,
            ),
        }
        out[f"{base}/bookings/{{code}}/reschedule"] = {
            "parameters": [hall_param, code],
            "post": _op(
                f"Move a booking to another slot, atomically ({who})",
                "Booking",
                body="Reschedule",
                errors=errors,
                public=public,
            ),
        }
    out["/api/v1/halls/{hall}/bookings/{code}"] = {
        "parameters": [hall_param, code],
        "get": _op("An active booking, masked (booking token)", "Booking", errors=(401, 403, 404)),
    }
    return out


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


DOCUMENT: Final = web.AppKey("openapi", bytes)


async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=request.app[DOCUMENT], content_type="application/json")


def add_openapi_route(app: web.Application, hall_ids: list[str]) -> None:
    app[DOCUMENT] = msgspec.json.encode(build_document(hall_ids))
    app.router.add_get("/api/v1/openapi.json", openapi_json)
