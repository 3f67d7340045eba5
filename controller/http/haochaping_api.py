"""HTTP routes of 好差评: the public 追评 endpoint behind the ticket's QR code, and the staff's
ratings, cases, case steps, statistics and reporting status.

Public (no login; the token is the credential): ``GET/POST /hcp/{hall}/{ticket}?t=<token>``.
Staff (behind the console's access rules like every ``/api`` route), under
``/api/v1/halls/{hall}/haochaping``:

* ``GET`` (the prefix itself): outboxes (lag, failures), 追评 counts, open and overdue cases;
* ``GET  .../ratings?from=YYYY-MM-DD&to=YYYY-MM-DD`` rating records, the rater masked (张*);
* ``GET  .../cases[?open=1]`` and ``POST .../cases/{case}/{step}`` with step ``contact``,
  ``verify``, ``review``, ``rectify`` or ``close``;
* ``POST .../tickets/{ticket}/case-number`` (办件编号 from the business system);
* ``GET  .../statistics?from=&to=[&format=csv|xlsx]``.

Every refusal is JSON ``{code, message}`` with the engine's reason; nothing refused changes state.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import msgspec
from aiohttp import web

from controller.core import commands as cmd
from controller.core import events as ev
from controller.core.lifecycle import FollowUpState, Rejected, RejectReason
from controller.core.ports import HallUnavailable
from controller.core.state import Case
from controller.haochaping.export import to_csv, to_xlsx
from controller.haochaping.followup import token_is_valid
from controller.haochaping.privacy import MAX_IDENTITY, PrivacyError, mask, seal, unseal
from controller.haochaping.records import RatingRecord, RecordMaker, read_log
from controller.haochaping.service import HallHaochaping, Haochaping
from controller.http.api import error, json_response
from controller.http.bodies import BadBody, read_body

SERVICE: Final = web.AppKey("haochaping", Haochaping)
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
    case: Case
    overdue_contact: bool
    overdue_rectify: bool


class StepBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    by: str
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
                case=c,
                overdue_contact=c.contact_escalated
                or (c.contacted_at is None and now >= c.contact_due),
                overdue_rectify=c.rectify_escalated,
            )
            for c in sorted(cases.values(), key=lambda c: c.id)
        ]
    )


_STEPS: Final = ("contact", "verify", "review", "rectify", "close")


def _step_command(step: str, case: int, body: StepBody) -> cmd.AnyCommand:
    if step == "contact":
        return cmd.ContactCase(case=case, by=body.by, reached=body.reached, note=body.note)
    if step == "verify":
        if body.outcome is None:
            raise _BadRequest("bad_request", "verify needs an outcome")
        return cmd.VerifyCase(case=case, by=body.by, outcome=body.outcome, note=body.note)
    if step == "review":
        if body.granted is None:
            raise _BadRequest("bad_request", "review needs granted: true or false")
        return cmd.ReviewCase(case=case, by=body.by, granted=body.granted, note=body.note)
    if step == "rectify":
        return cmd.RectifyCase(case=case, by=body.by, note=body.note)
    return cmd.CloseCase(case=case, by=body.by, note=body.note)


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
    try:
        command = _step_command(step, int(case_text), await _body(request, StepBody))
    except BadBody as bad:
        return bad.response
    except _BadRequest as exc:
        return error(400, exc.code, exc.message)
    return await _submit(hall, command)


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
    app.router.add_post(f"{base}/tickets/{{ticket}}/case-number", post_case_number)
    app.router.add_get(f"{base}/statistics", get_statistics)
