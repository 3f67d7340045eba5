"""HTTP routes of 好差评: the public 追评 endpoint behind the ticket's QR code, and the staff's
ratings, cases, case steps, statistics and reporting status.

Public (no login; the token is the credential): ``GET/POST /hcp/{hall}/{ticket}?t=<token>``.
Staff (behind the console's access rules like every ``/api`` route), under
``/api/v1/halls/{hall}/haochaping``:

* ``GET`` (the prefix itself): outboxes (lag, failures), 追评 counts, open and overdue cases;
* ``GET  .../ratings?from=YYYY-MM-DD&to=YYYY-MM-DD`` rating records, the rater masked (张*);
* ``GET  .../cases[?open=1]`` and ``POST .../cases/{case}/{step}`` with step ``contact``,
  ``verify``, ``review``, ``rectify`` or ``close``: each step needs its duty
  (``controller.auth.permissions``) and is recorded under the authenticated account;
* ``POST .../contacts/{case}`` (回访: the rater's contact, opened for an account with the
  followup duty, each opening an event in the log first) and ``POST .../contacts/{case}/call``
  (masked call-through: the phone goes to ``[evaluation] call_webhook``, never to the clerk);
* ``POST .../tickets/{ticket}/case-number`` (办件编号 from the business system);
* ``GET  .../statistics?from=&to=[&format=csv|xlsx]``.

Every refusal is JSON ``{code, message}`` with the engine's reason; nothing refused changes state.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import aiohttp
import msgspec
from aiohttp import web

from controller.auth import permissions
from controller.core import commands as cmd
from controller.core import events as ev
from controller.core.lifecycle import FollowUpState, Rejected, RejectReason
from controller.core.ports import HallUnavailable
from controller.core.state import Case
from controller.haochaping.callback import CALL_TIMEOUT_S, call_reply, call_request
from controller.haochaping.export import to_csv, to_xlsx
from controller.haochaping.followup import token_is_valid
from controller.haochaping.outbox import Send, aiohttp_sender
from controller.haochaping.privacy import (
    MAX_IDENTITY,
    Contact,
    PrivacyError,
    mask,
    seal,
    split_contact,
    unseal,
)
from controller.haochaping.records import RatingRecord, RecordMaker, read_log
from controller.haochaping.service import HallHaochaping, Haochaping
from controller.http.api import error, json_response
from controller.http.bodies import BadBody, read_body
from controller.http.context import AUDIT_ACTION, AUDIT_DETAIL, PRINCIPAL

SERVICE: Final = web.AppKey("haochaping", Haochaping)
CALL_SENDER: Final[web.AppKey[Send]] = web.AppKey("haochaping_call_sender")
"""Tests may set the ``Send`` of the call-through; otherwise one aiohttp session per call."""
MAX_BODY: Final = 8 * 1024


class FollowUpBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    t: str
    level: Any  # checked by hand, so a wrong level gets its own reason (bad_level)
    reasons: tuple[str, ...] = ()
    text: str = ""
    rater: str = ""  # name or phone, optional; sealed at once
    rater_kind: cmd.RaterKind | None = None


class FollowUpPage(msgspec.Struct, frozen=True):
    hall: str
    hall_name: str
    ticket: int
    number: str
    service: str
    window: int | None
    state: FollowUpState
    levels: list[dict[str, str]]
    reasons: list[dict[str, str]]


class RatingView(msgspec.Struct, frozen=True):
    record: RatingRecord
    rater: str  # masked, "" when anonymous


class CaseView(msgspec.Struct, frozen=True):
    case: Case  # its rater_sealed blanked: views never carry the contact, even sealed
    overdue_contact: bool
    overdue_rectify: bool
    has_contact: bool = False  # the rater left a contact (回访 may open it)


class StepBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``by``: who did it, in words, kept in the note; the step itself is recorded under the
    authenticated account (a bare daemon without accounts records these words instead)."""

    by: str = ""
    note: str = ""
    reached: bool = True
    outcome: cmd.VerificationOutcome | None = None
    granted: bool | None = None


class CaseNumberBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    case_number: str


class StatusView(msgspec.Struct, frozen=True):
    outboxes: list[Any]
    follow_ups: Any
    open_cases: int
    overdue_cases: int


def _service(request: web.Request) -> Haochaping:
    return request.app[SERVICE]


def _hall(request: web.Request) -> HallHaochaping | web.Response:
    hall_id = request.match_info["hall"]
    hall = _service(request).halls.get(hall_id)
    if hall is None:
        return error(404, "unknown_hall", f"no hall {hall_id!r}")
    return hall


async def _body(request: web.Request, kind: type[Any]) -> Any:
    return await read_body(request, kind, limit=MAX_BODY, media_type=None)


class _BadRequest(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


async def _submit(hall: HallHaochaping, command: cmd.AnyCommand) -> web.Response:
    try:
        receipt = await hall.runtime.submit(command)
    except Rejected as exc:
        return error(409, exc.reason.value, exc.detail)
    except HallUnavailable as exc:
        return error(503, "hall_unavailable", str(exc))
    return json_response({"seq": receipt.seq, "events": receipt.events})


# -- public: the ticket's QR code --------------------------------------------------------------


def _ticket_id(request: web.Request) -> int | None:
    text = request.match_info["ticket"]
    return int(text) if text.isdigit() and len(text) < 12 else None


async def get_follow_up(request: web.Request) -> web.Response:
    hall = _hall(request)
    if isinstance(hall, web.Response):
        return hall
    ticket_id = _ticket_id(request)
    token = request.query.get("t", "")
    if ticket_id is None or not token_is_valid(
        hall.keys.follow_up, hall.runtime.hall_id, ticket_id, token
    ):
        return error(403, RejectReason.BAD_FOLLOW_UP_TOKEN.value, "this link is not valid")
    ticket = hall.runtime.state.tickets.get(ticket_id)
    if ticket is None:
        return error(404, RejectReason.UNKNOWN_TICKET.value, "no such ticket")
    config = hall.config
    service = config.service(ticket.service)
    return json_response(
        FollowUpPage(
            hall=config.hall.id,
            hall_name=config.hall.name,
            ticket=ticket.id,
            number=ticket.number,
            service=service.name if service else ticket.service,
            window=ticket.window,
            state=ticket.follow_up,
            levels=[{"level": lv.value, "label": lv.label} for lv in cmd.RatingLevel],
            reasons=[{"id": r.id, "text": r.text} for r in config.evaluation.reasons],
        )
    )


async def post_follow_up(request: web.Request) -> web.Response:
    hall = _hall(request)
    if isinstance(hall, web.Response):
        return hall
    refused = _follow_up_refusal(request, hall, await _read_follow_up(request))
    if isinstance(refused, web.Response):
        hall.follow_ups.refuse(_code_of(refused))
        return refused
    response = await _submit(hall, refused)
    if response.status == 200:
        hall.follow_ups.accepted += 1
    else:
        hall.follow_ups.refuse(_code_of(response))
    return response


async def _read_follow_up(request: web.Request) -> FollowUpBody | web.Response:
    try:
        body: FollowUpBody = await _body(request, FollowUpBody)
    except BadBody as bad:
        return bad.response
    return body


def _follow_up_refusal(
    request: web.Request, hall: HallHaochaping, body: FollowUpBody | web.Response
) -> cmd.FollowUpRate | web.Response:
    """The command to submit, or the answer refusing it (token first: a forged link learns
    nothing about the ticket)."""
    if isinstance(body, web.Response):
        return body
    ticket_id = _ticket_id(request)
    if ticket_id is None or not token_is_valid(
        hall.keys.follow_up, hall.runtime.hall_id, ticket_id, body.t
    ):
        return error(403, RejectReason.BAD_FOLLOW_UP_TOKEN.value, "this link is not valid")
    try:
        if not isinstance(body.level, str):
            raise ValueError(body.level)
        level = cmd.RatingLevel(body.level)
    except ValueError:
        levels = ", ".join(lv.value for lv in cmd.RatingLevel)
        return error(400, RejectReason.BAD_LEVEL.value, f"level is one of {levels}")
    if len(body.rater) > MAX_IDENTITY:
        return error(400, "bad_request", f"rater is at most {MAX_IDENTITY} characters")
    sealed = seal(body.rater.strip(), hall.keys.identity) if body.rater.strip() else ""
    return cmd.FollowUpRate(
        ticket=ticket_id,
        level=level,
        reasons=body.reasons,
        text=body.text,
        rater_sealed=sealed,
        rater_kind=body.rater_kind,
    )


def _code_of(response: web.Response) -> str:
    assert isinstance(response.body, bytes)
    code: str = msgspec.json.decode(response.body).get("code", "unknown")
    return code


# -- staff ------------------------------------------------------------------------------------


def _day_range(request: web.Request, tz: ZoneInfo) -> tuple[date, date]:
    today = datetime.now(tz).date()
    try:
        start = date.fromisoformat(request.query.get("from", today.isoformat()))
        end = date.fromisoformat(request.query.get("to", start.isoformat()))
    except ValueError:
        raise _BadRequest("bad_request", "from and to are dates YYYY-MM-DD") from None
    if end < start or (end - start).days > 366:
        raise _BadRequest("bad_request", "to is on or after from, at most 366 days later")
    return start, end


async def get_ratings(request: web.Request) -> web.Response:
    hall = _hall(request)
    if isinstance(hall, web.Response):
        return hall
    tz = ZoneInfo(hall.config.hall.timezone)
    try:
        start, end = _day_range(request, tz)
    except _BadRequest as exc:
        return error(400, exc.code, exc.message)
    low = int(datetime(start.year, start.month, start.day, tzinfo=tz).timestamp() * 1000)
    after = end + timedelta(days=1)
    high = int(datetime(after.year, after.month, after.day, tzinfo=tz).timestamp() * 1000)
    maker = RecordMaker(hall.config)
    views: list[RatingView] = []
    store = _service(request).store
    assert store is not None
    async for seq, events in read_log(store, hall.runtime.hall_id):
        for index, event in enumerate(events):
            if isinstance(event, ev.ServiceRated) and low <= event.at < high:
                record = maker.rating(seq, index, event)
                views.append(RatingView(record=record, rater=_masked(hall, event.rater_sealed)))
    return json_response(views)


def _masked(hall: HallHaochaping, sealed: str) -> str:
    if not sealed:
        return ""
    try:
        return mask(unseal(sealed, hall.keys.identity))
    except PrivacyError:
        return "***"


async def get_cases(request: web.Request) -> web.Response:
    hall = _hall(request)
    if isinstance(hall, web.Response):
        return hall
    state = hall.runtime.state
    only_open = request.query.get("open") in ("1", "true")
    cases = state.open_cases if only_open else state.cases
    now = hall.runtime.now()
    return json_response(
        [
            CaseView(
                case=msgspec.structs.replace(c, rater_sealed=""),
                overdue_contact=c.contact_escalated
                or (c.contacted_at is None and now >= c.contact_due),
                overdue_rectify=c.rectify_escalated,
                has_contact=bool(c.rater_sealed),
            )
            for c in sorted(cases.values(), key=lambda c: c.id)
        ]
    )


_STEPS: Final = ("contact", "verify", "review", "rectify", "close")


def _step_command(step: str, case: int, body: StepBody, by: str) -> cmd.AnyCommand:
    note, words = body.note, body.by.strip()[:64]
    if words and words != by:  # the words are kept in the note; the account is the record
        note = f"{note}（经办人：{words}）" if note else f"经办人：{words}"
    if step == "contact":
        return cmd.ContactCase(case=case, by=by, reached=body.reached, note=note)
    if step == "verify":
        if body.outcome is None:
            raise _BadRequest("bad_request", "verify needs an outcome")
        return cmd.VerifyCase(case=case, by=by, outcome=body.outcome, note=note)
    if step == "review":
        if body.granted is None:
            raise _BadRequest("bad_request", "review needs granted: true or false")
        return cmd.ReviewCase(case=case, by=by, granted=body.granted, note=note)
    if step == "rectify":
        return cmd.RectifyCase(case=case, by=by, note=note)
    return cmd.CloseCase(case=case, by=by, note=note)


def _authorized(
    request: web.Request, hall: HallHaochaping, command: cmd.AnyCommand, *, contact: bool = False
) -> cmd.AnyCommand | web.Response:
    """The command under the caller's account, or the 403 refusing it (``permissions``)."""
    principal = request.get(PRINCIPAL)
    if principal is None:  # a bare daemon without accounts (tests, replay)
        return command
    case_id = permissions.case_id_of(command)
    case = hall.runtime.state.cases.get(case_id) if case_id is not None else None
    try:
        return permissions.authorize(principal, command, case, contact_route=contact)
    except permissions.Refused as refused:
        return error(403, refused.code, refused.message)


async def post_case_step(request: web.Request) -> web.Response:
    hall = _hall(request)
    if isinstance(hall, web.Response):
        return hall
    step = request.match_info["step"]
    case_text = request.match_info["case"]
    if step not in _STEPS:
        return error(404, "unknown_step", f"steps: {', '.join(_STEPS)}")
    if not case_text.isdigit() or len(case_text) > 12:
        return error(409, RejectReason.UNKNOWN_CASE.value, f"no case {case_text!r}")
    principal = request.get(PRINCIPAL)
    try:
        body: StepBody = await _body(request, StepBody)
        by = principal.user if principal is not None else body.by
        command = _step_command(step, int(case_text), body, by)
    except BadBody as bad:
        return bad.response
    except _BadRequest as exc:
        return error(400, exc.code, exc.message)
    request[AUDIT_ACTION] = f"case:{step}"
    request[AUDIT_DETAIL] = f"case {case_text}"
    authorized = _authorized(request, hall, command)
    if isinstance(authorized, web.Response):
        return authorized
    return await _submit(hall, authorized)


# -- 回访: the rater's contact ------------------------------------------------------------------


async def _open_contact(
    request: web.Request, hall: HallHaochaping, purpose: cmd.ContactPurpose
) -> tuple[int, Contact] | web.Response:
    """Record the opening (durable first), then open the sealed contact."""
    case_text = request.match_info["case"]
    if not case_text.isdigit() or len(case_text) > 12:
        return error(409, RejectReason.UNKNOWN_CASE.value, f"no case {case_text!r}")
    case_id = int(case_text)
    request[AUDIT_ACTION] = f"contact:{purpose.value}"
    request[AUDIT_DETAIL] = f"case {case_id}"
    principal = request.get(PRINCIPAL)
    command = cmd.UnsealContact(
        case=case_id, by=principal.user if principal is not None else "-", purpose=purpose
    )
    authorized = _authorized(request, hall, command, contact=True)
    if isinstance(authorized, web.Response):
        return authorized
    response = await _submit(hall, authorized)
    if response.status != 200:
        return response
    sealed = hall.runtime.state.cases[case_id].rater_sealed
    try:
        return case_id, split_contact(unseal(sealed, hall.keys.identity))
    except PrivacyError:
        return error(409, "contact_unreadable", "the contact cannot be opened with this key")


def _no_store(response: web.Response) -> web.Response:
    response.headers["Cache-Control"] = "no-store"
    return response


async def post_contact(request: web.Request) -> web.Response:
    """The contact in clear, for the 回访 clerk to dial; the opening is in the log first."""
    hall = _hall(request)
    if isinstance(hall, web.Response):
        return hall
    opened = await _open_contact(request, hall, cmd.ContactPurpose.VIEW)
    if isinstance(opened, web.Response):
        return opened
    return _no_store(json_response(opened[1]))


async def post_call(request: web.Request) -> web.Response:
    """Masked call-through: the phone goes to the telephony platform, never to the clerk."""
    hall = _hall(request)
    if isinstance(hall, web.Response):
        return hall
    url = hall.config.evaluation.call_webhook
    if not url:
        return error(409, "call_not_configured", "no [evaluation] call_webhook in this hall")
    opened = await _open_contact(request, hall, cmd.ContactPurpose.CALL)
    if isinstance(opened, web.Response):
        return opened
    case_id, contact = opened
    if not contact.phone:
        return error(409, "no_phone", "the contact holds no phone number")
    principal = request.get(PRINCIPAL)
    outgoing = call_request(
        url, hall.runtime.hall_id, case_id, contact.phone, principal.user if principal else "-"
    )
    try:
        status, answer = await _call_sender(request)(outgoing, CALL_TIMEOUT_S)
    except (OSError, TimeoutError, aiohttp.ClientError) as exc:
        return error(502, "call_failed", f"the telephony platform did not answer: {exc}")
    reply = call_reply(hall.runtime.hall_id, case_id, status, answer)
    if not 200 <= status < 300:
        return error(502, "call_failed", f"the telephony platform answered {status}")
    return _no_store(json_response(reply))


def _call_sender(request: web.Request) -> Send:
    if CALL_SENDER in request.app:
        return request.app[CALL_SENDER]

    async def send(outgoing: Any, timeout_s: float) -> tuple[int, bytes]:
        async with aiohttp.ClientSession() as session:
            result: tuple[int, bytes] = await aiohttp_sender(session)(outgoing, timeout_s)
            return result

    return send


async def post_case_number(request: web.Request) -> web.Response:
    hall = _hall(request)
    if isinstance(hall, web.Response):
        return hall
    ticket = _ticket_id(request)
    if ticket is None:
        return error(409, RejectReason.UNKNOWN_TICKET.value, "no such ticket")
    try:
        body: CaseNumberBody = await _body(request, CaseNumberBody)
    except BadBody as bad:
        return bad.response
    return await _submit(hall, cmd.SetCaseNumber(ticket=ticket, case_number=body.case_number))


async def get_statistics(request: web.Request) -> web.Response:
    hall = _hall(request)
    if isinstance(hall, web.Response):
        return hall
    config = hall.config
    try:
        start, end = _day_range(request, ZoneInfo(config.hall.timezone))
    except _BadRequest as exc:
        return error(400, exc.code, exc.message)
    report = await hall.stats.report(start, end)
    fmt = request.query.get("format", "json")
    name = f"{config.hall.id}-{start}-{end}"
    if fmt == "csv":
        return _download(to_csv([report]), "text/csv; charset=utf-8", f"{name}.csv")
    if fmt == "xlsx":
        xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return _download(to_xlsx([report]), xlsx, f"{name}.xlsx")
    if fmt != "json":
        return error(400, "bad_request", "format is json, csv or xlsx")
    return json_response(report)


def _download(data: bytes, content_type: str, filename: str) -> web.Response:
    return web.Response(
        body=data,
        headers={
            "Content-Type": content_type,
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )


async def get_status(request: web.Request) -> web.Response:
    hall = _hall(request)
    if isinstance(hall, web.Response):
        return hall
    state = hall.runtime.state
    return json_response(
        StatusView(
            outboxes=hall.outbox_status(),
            follow_ups=hall.follow_ups,
            open_cases=len(state.open_cases),
            overdue_cases=sum(
                1 for c in state.open_cases.values() if c.contact_escalated or c.rectify_escalated
            ),
        )
    )


def add_haochaping_routes(app: web.Application, service: Haochaping) -> None:
    app[SERVICE] = service
    app.router.add_get("/hcp/{hall}/{ticket}", get_follow_up)
    app.router.add_post("/hcp/{hall}/{ticket}", post_follow_up)
    base = "/api/v1/halls/{hall}/haochaping"  # its own prefix: the console has /ratings, /cases
    app.router.add_get(base, get_status)
    app.router.add_get(f"{base}/ratings", get_ratings)
    app.router.add_get(f"{base}/cases", get_cases)
    app.router.add_post(f"{base}/cases/{{case}}/{{step}}", post_case_step)
    app.router.add_post(f"{base}/contacts/{{case}}", post_contact)
    app.router.add_post(f"{base}/contacts/{{case}}/call", post_call)
    app.router.add_post(f"{base}/tickets/{{ticket}}/case-number", post_case_number)
    app.router.add_get(f"{base}/statistics", get_statistics)
