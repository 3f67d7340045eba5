"""Console reads and actions beyond commands: devices, alerts, tickets, ratings, figures, the
notice and reprints. Hall commands themselves go through ``api.post_command``."""

from __future__ import annotations

import csv
import io
from typing import Any, Final

import msgspec
from aiohttp import web

from controller.console.alerts import Alert, AlertKind, DeviceFacts, OverdueCase, hall_alerts
from controller.console.history import day_tickets
from controller.console.stats import figures_of, figures_rows
from controller.console.svg import bar_chart
from controller.core.commands import RatingLevel
from controller.core.lifecycle import (
    RECTIFY_PENDING_CASE_STATES,
    CaseState,
    EvaluationState,
    TicketState,
)
from controller.core.queries import hall_view
from controller.core.state import Case, CaseStep, ContactAccess, HallState
from controller.daemon.runtime import HallRuntime
from controller.http.api import error, json_response
from controller.http.bodies import BadBody, read_body
from controller.http.context import AUDIT_ACTION, AUDIT_DETAIL, CONSOLE, ConsoleContext

MAX_NOTICE_CHARS: Final = 200
MAX_LIST: Final = 1000


class DeviceView(msgspec.Struct, frozen=True):
    id: str
    kind: str
    link: str
    window: int | None
    online: bool
    since_ms: int
    last_message_ms: int
    firmware: str
    model: str
    errors: int
    last_error: str
    failed_commands: int
    printer: str


class TicketView(msgspec.Struct, frozen=True):
    id: int
    number: str
    service: str
    state: TicketState
    window: int | None
    issued_at: int
    priority: str | None


class RatingView(msgspec.Struct, frozen=True):
    ticket: int
    number: str
    service: str
    window: int | None
    staff: str | None
    staff_name: str | None
    level: RatingLevel
    label: str
    bad: bool
    at: int | None
    day: str


class CaseView(msgspec.Struct, frozen=True):
    id: int
    ticket: int
    number: str
    window: int
    staff: str
    staff_name: str | None
    service: str
    level: RatingLevel
    label: str
    state: CaseState
    opened_at: int
    contact_due: int
    rectify_due: int
    contact_overdue: bool
    rectify_overdue: bool
    deadlines_estimated: bool  # no official holiday data for a year the deadlines cross
    closed_at: int | None
    steps: list[CaseStep]
    department: str = ""
    has_contact: bool = False  # the rater left a contact: 回访 (followup duty) may open it
    unseals: list[ContactAccess] = msgspec.field(default_factory=list)  # each opening


class NoticeBody(msgspec.Struct, frozen=True):
    text: str


class ReprintBody(msgspec.Struct, frozen=True):
    kiosk: str


class Ok(msgspec.Struct, frozen=True):
    ok: bool = True


def runtime_of(request: web.Request) -> HallRuntime | web.Response:
    hall_id = request.match_info["hall"]
    runtime = request.app[CONSOLE].halls.get(hall_id)
    if runtime is None:
        return error(404, "unknown_hall", f"no hall {hall_id!r}", hall=hall_id)
    return runtime


_NOTHING: Final = ("", "", 0, "", 0, "")


def device_views(ctx: ConsoleContext, runtime: HallRuntime) -> list[DeviceView]:
    hub = ctx.hub_of(runtime.hall_id)
    if hub is None:
        return [
            DeviceView(
                d.id, d.kind.value, d.link.value, d.window, False, 0, 0, "", "", 0, "", 0, ""
            )
            for d in runtime.engine.config.devices
        ]
    return [
        DeviceView(
            s.device,
            s.kind,
            s.link,
            s.window,
            s.online,
            s.since_ms,
            s.last_message_ms,
            s.firmware,
            s.model,
            s.errors,
            s.last_error,
            s.failed_commands,
            s.printer,
        )
        for s in hub.availability.devices.values()
    ]


def overdue_cases(state: HallState, now: int) -> list[OverdueCase]:
    """Open 差评 cases whose 回访 or 整改 deadline has passed."""
    found = []
    for case in state.open_cases.values():
        if _contact_overdue(case, now):
            found.append(OverdueCase(f"#{case.id}", "回访", case.contact_due))
        if _rectify_overdue(case, now):
            found.append(OverdueCase(f"#{case.id}", "整改", case.rectify_due))
    return found


def _contact_overdue(case: Case, now: int) -> bool:
    return case.state is CaseState.AWAITING_CONTACT and case.contact_due < now


def _rectify_overdue(case: Case, now: int) -> bool:
    return case.state in RECTIFY_PENDING_CASE_STATES and case.rectify_due < now


def case_view(state: HallState, case: Case, now: int) -> CaseView:
    staff = {s.id: s.name for s in state.config.staff}
    ticket = state.tickets.get(case.ticket)
    return CaseView(
        id=case.id,
        ticket=case.ticket,
        number=case.number or (ticket.number if ticket is not None else ""),
        window=case.window,
        staff=case.staff,
        staff_name=staff.get(case.staff),
        service=case.service,
        level=case.level,
        label=case.level.label,
        state=case.state,
        opened_at=case.opened_at,
        contact_due=case.contact_due,
        rectify_due=case.rectify_due,
        contact_overdue=_contact_overdue(case, now),
        rectify_overdue=_rectify_overdue(case, now),
        deadlines_estimated=case.deadlines_estimated,
        closed_at=case.closed_at,
        steps=list(case.steps),
        department=case.department,
        has_contact=bool(case.rater_sealed),
        unseals=list(case.unseals),
    )


def current_alerts(ctx: ConsoleContext, runtime: HallRuntime) -> list[Alert]:
    now = runtime.now()
    facts = [
        DeviceFacts(d.id, d.kind, d.window, d.online, d.since_ms, d.printer)
        for d in device_views(ctx, runtime)
    ]
    overdue = overdue_cases(runtime.state, now)
    health = ctx.health
    store_problem = (
        Alert(AlertKind.STORE_UNWRITABLE, "store", health.text, health.since_ms)
        if health.failing
        else None
    )
    return hall_alerts(
        hall_view(runtime.state, now),
        facts if ctx.hub_of(runtime.hall_id) is not None else [],
        now_ms=now,
        wait_alert_minutes=ctx.wait_alert_minutes,
        overdue=overdue,
        calendar=runtime.engine.calendar_coverage(now),
        store_problem=store_problem,
        link_problem=_link_problem(ctx, runtime.hall_id),
    )


def _link_problem(ctx: ConsoleContext, hall_id: str) -> Alert | None:
    """The broker refusing this hall's controller login (``devices.mqtt.link.LoginRefused``)."""
    refusal = getattr(getattr(ctx.hub_of(hall_id), "link", None), "refusal", None)
    if refusal is None:
        return None
    return Alert(AlertKind.MQTT_LOGIN_REFUSED, "mqtt", refusal.text, refusal.since_ms)


async def get_devices(request: web.Request) -> web.Response:
    runtime = runtime_of(request)
    if isinstance(runtime, web.Response):
        return runtime
    views = device_views(request.app[CONSOLE], runtime)
    if request.query.get("offline") in ("1", "true"):
        views = [v for v in views if not v.online]
    return json_response(views)


async def get_alerts(request: web.Request) -> web.Response:
    runtime = runtime_of(request)
    if isinstance(runtime, web.Response):
        return runtime
    return json_response(current_alerts(request.app[CONSOLE], runtime))


def _limit(request: web.Request) -> int:
    try:
        return max(1, min(MAX_LIST, int(request.query.get("limit", "200"))))
    except ValueError:
        return 200


async def get_tickets(request: web.Request) -> web.Response:
    runtime = runtime_of(request)
    if isinstance(runtime, web.Response):
        return runtime
    wanted = request.query.get("state", "waiting")
    try:
        state = TicketState(wanted)
    except ValueError:
        return error(
            400, "bad_request", f"unknown ticket state {wanted!r}", problem="未知的号票状态"
        )
    search = request.query.get("q", "").strip().upper()
    tickets = [
        t
        for t in runtime.state.tickets.values()
        if t.state is state and (not search or search in t.number)
    ]
    tickets.sort(key=lambda t: t.arrival_at)
    return json_response(
        [
            TicketView(
                t.id,
                t.number,
                t.service,
                t.state,
                t.window,
                t.issued_at,
                t.priority.value if t.priority else None,
            )
            for t in tickets[: _limit(request)]
        ]
    )


async def get_ratings(request: web.Request) -> web.Response:
    runtime = runtime_of(request)
    if isinstance(runtime, web.Response):
        return runtime
    q = request.query
    config = runtime.engine.config
    staff_names = {s.id: s.name for s in config.staff}
    try:
        level = RatingLevel(q["level"]) if q.get("level") else None
        window = int(q["window"]) if q.get("window") else None
    except ValueError:
        return error(
            400,
            "bad_request",
            "level must be a rating level and window a number",
            problem="评价等级或窗口号有误",
        )
    bad_only = q.get("bad") in ("1", "true")
    rows = []
    day = q.get("day")
    state = runtime.state
    source = await day_tickets(config, state, runtime.store, day) if day else state.tickets.values()
    for t in source:
        if t.evaluation is not EvaluationState.RATED or t.rating is None:
            continue
        if (level and t.rating is not level) or (window is not None and t.window != window):
            continue
        if (q.get("staff") and t.staff != q["staff"]) or (
            q.get("service") and t.service != q["service"]
        ):
            continue
        if (bad_only and not t.rating.is_bad) or (q.get("day") and t.day != q["day"]):
            continue
        rows.append(
            RatingView(
                t.id,
                t.number,
                t.service,
                t.window,
                t.staff,
                staff_names.get(t.staff or ""),
                t.rating,
                t.rating.label,
                t.rating.is_bad,
                t.done_at,
                t.day,
            )
        )
    rows.sort(key=lambda r: r.at or 0, reverse=True)
    return json_response(rows[: _limit(request)])


async def get_cases(request: web.Request) -> web.Response:
    runtime = runtime_of(request)
    if isinstance(runtime, web.Response):
        return runtime
    which = request.query.get("state", "open")
    state = runtime.state
    now = runtime.now()
    if which == "open":
        cases = list(state.open_cases.values())
    elif which == "all":
        cases = list(state.cases.values())
    elif which == "overdue":
        cases = [
            c
            for c in state.open_cases.values()
            if _contact_overdue(c, now) or _rectify_overdue(c, now)
        ]
    else:
        try:
            wanted = CaseState(which)
        except ValueError:
            return error(
                400, "bad_request", f"unknown case filter {which!r}", problem="未知的案件筛选条件"
            )
        cases = [c for c in state.cases.values() if c.state is wanted]
    cases.sort(key=lambda c: c.opened_at, reverse=True)
    return json_response([case_view(state, c, now) for c in cases[: _limit(request)]])


async def get_case(request: web.Request) -> web.Response:
    runtime = runtime_of(request)
    if isinstance(runtime, web.Response):
        return runtime
    case = runtime.state.cases.get(int(request.match_info["case"]))
    if case is None:
        wanted = request.match_info["case"]
        return error(404, "unknown_case", f"no case {wanted}", case=wanted)
    return json_response(case_view(runtime.state, case, runtime.now()))


async def post_notice(request: web.Request) -> web.Response:
    runtime = runtime_of(request)
    if isinstance(runtime, web.Response):
        return runtime
    request[AUDIT_ACTION] = "notice"
    try:
        body = await read_body(request, NoticeBody)
    except BadBody as bad:
        return bad.response
    text = " ".join(body.text.split())
    request[AUDIT_DETAIL] = text
    if len(text) > MAX_NOTICE_CHARS:
        return error(
            400,
            "bad_request",
            f"a notice has at most {MAX_NOTICE_CHARS} characters",
            problem=f"通知最多 {MAX_NOTICE_CHARS} 个字",
        )
    hub = request.app[CONSOLE].hub_of(runtime.hall_id)
    if hub is None:
        return error(409, "no_devices", "this hall has no networked displays")
    hub.set_notice(text)
    return json_response(Ok())


async def post_reprint(request: web.Request) -> web.Response:
    runtime = runtime_of(request)
    if isinstance(runtime, web.Response):
        return runtime
    request[AUDIT_ACTION] = "reprint"
    try:
        ticket_id = int(request.match_info["ticket"])
        body = await read_body(request, ReprintBody)
    except ValueError:
        return error(400, "bad_request", "ticket must be a number", problem="号票须为数字")
    except BadBody as bad:
        return bad.response
    request[AUDIT_DETAIL] = f"ticket {ticket_id} at {body.kiosk}"
    hub = request.app[CONSOLE].hub_of(runtime.hall_id)
    if hub is None:
        return error(409, "no_devices", "this hall has no networked kiosks")
    from devices.hub import Refused

    try:
        hub.reprint(ticket_id, body.kiosk)
    except Refused as exc:
        return error(409, exc.code, exc.text, kiosk=body.kiosk)
    return json_response(Ok())


async def get_figures(request: web.Request) -> web.Response:
    runtime = runtime_of(request)
    if isinstance(runtime, web.Response):
        return runtime
    return json_response(
        await figures_of(runtime.state, runtime.store, request.query.get("day") or None)
    )


_CHARTS: Final[dict[str, tuple[str, str]]] = {
    "arrivals": ("各时段取号人数", ""),
    "waits": ("各时段平均等候(分钟)", "分"),
    "satisfaction-window": ("各窗口满意率", ""),
    "satisfaction-staff": ("各工作人员满意率", ""),
    "satisfaction-service": ("各事项满意率", ""),
    "coverage-window": ("各窗口评价覆盖率", ""),
}


async def get_chart(request: web.Request) -> web.Response:
    runtime = runtime_of(request)
    if isinstance(runtime, web.Response):
        return runtime
    name = request.match_info["chart"]
    if name not in _CHARTS:
        return error(404, "unknown_chart", f"charts: {', '.join(_CHARTS)}")
    figures = await figures_of(runtime.state, runtime.store, request.query.get("day") or None)
    title, unit = _CHARTS[name]
    title = f"{title} · {figures.day or '-'}"
    labels: list[str]
    values: list[float | None]
    percent = name.startswith(("satisfaction", "coverage"))
    if name == "arrivals":
        labels = [f"{h.hour}时" for h in figures.hours]
        values = [float(h.arrivals) for h in figures.hours]
    elif name == "waits":
        labels = [f"{h.hour}时" for h in figures.hours]
        values = [h.mean_wait_minutes for h in figures.hours]
    else:
        groups = {
            "satisfaction-window": figures.by_window,
            "satisfaction-staff": figures.by_staff,
            "satisfaction-service": figures.by_service,
            "coverage-window": figures.by_window,
        }[name]
        labels = [g.label for g in groups]
        values = [g.coverage if name.startswith("coverage") else g.satisfaction for g in groups]
    svg = bar_chart(title, labels, values, unit=unit, percent=percent)
    return web.Response(text=svg, content_type="image/svg+xml", charset="utf-8")


async def get_figures_table(request: web.Request) -> web.Response:
    runtime = runtime_of(request)
    if isinstance(runtime, web.Response):
        return runtime
    figures = await figures_of(runtime.state, runtime.store, request.query.get("day") or None)
    rows = figures_rows(figures)
    name = f"{runtime.hall_id}-{figures.day or 'empty'}"
    if request.match_info["fmt"] == "csv":
        out = io.StringIO()
        csv.writer(out).writerows(["" if c is None else c for c in row] for row in rows)
        return web.Response(
            body=("\ufeff" + out.getvalue()).encode("utf-8"),  # BOM: Excel reads it as UTF-8
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return web.Response(
        body=_xlsx(rows),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
    )


def _xlsx(rows: list[list[Any]]) -> bytes:
    from openpyxl import Workbook  # type: ignore[import-untyped]

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "统计"
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def add_hall_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/halls/{hall}/devices", get_devices)
    app.router.add_get("/api/v1/halls/{hall}/alerts", get_alerts)
    app.router.add_get("/api/v1/halls/{hall}/tickets", get_tickets)
    app.router.add_post(r"/api/v1/halls/{hall}/tickets/{ticket:\d+}/reprint", post_reprint)
    app.router.add_get("/api/v1/halls/{hall}/ratings", get_ratings)
    app.router.add_post("/api/v1/halls/{hall}/notice", post_notice)
    app.router.add_get("/api/v1/halls/{hall}/cases", get_cases)
    app.router.add_get(r"/api/v1/halls/{hall}/cases/{case:\d{1,12}}", get_case)
    app.router.add_get("/api/v1/halls/{hall}/figures", get_figures)
    app.router.add_get("/api/v1/halls/{hall}/figures/{chart}.svg", get_chart)
    app.router.add_get(r"/api/v1/halls/{hall}/figures.{fmt:csv|xlsx}", get_figures_table)
