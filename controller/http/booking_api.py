"""Online bookings over HTTP: the citizens' page (no login) and the city's API (``booking`` token).

Two mounts of the same handlers:

- ``/api/v1/public/halls/{hall}/...`` for ``/public/book.html``: anyone may book; a change
  (cancel, reschedule) must name the booking's phone; every booking or change counts against
  the address's ``public_per_ip_per_minute`` (429 ``rate_limited``).
- ``/api/v1/halls/{hall}/...`` for the city's 政务服务网 or app: an API token with the
  ``booking`` scope (or an operator); cancel and reschedule by code alone.

This edge is the only place a clear name or phone number exists: it seals both (AES-GCM, the
rater's identity key, ``controller.haochaping.privacy``), derives the phone's keyed hash for the
per-phone limit and the 爽约 rule, draws the random booking code, and hands the engine a
``BookAppointment``. Capacity is the engine's to check: one writer per hall, so any number of
concurrent requests is decided one after the other and a slot is never oversold.
"""

from __future__ import annotations

import asyncio
import io
import re
import secrets
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Final

import msgspec
import segno
from aiohttp import web

from controller.core import commands as cmd
from controller.core import events as ev
from controller.core.booking import clock_text
from controller.core.lifecycle import Rejected, RejectReason
from controller.core.ports import HallUnavailable
from controller.core.state import Booking
from controller.daemon.runtime import HallRuntime
from controller.haochaping.keys import load_or_create_keys, secrets_path
from controller.haochaping.privacy import keyed_digest, mask, seal, unseal
from controller.http.bodies import BadBody, read_body
from controller.http.rate_limit import RateLimiter
from controller.http.replies import error, json_response

if TYPE_CHECKING:
    from controller.daemon.process import Daemon, Extension

PUBLIC_DIR: Final = Path(__file__).resolve().parent / "public"
CODE_ALPHABET: Final = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read aloud, typed
CODE_LENGTH: Final = 8
PHONE: Final = re.compile(r"1[3-9][0-9]{9}")
MAX_NAME: Final = 32


class BookBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    service: str
    slot_start_ms: int
    name: str
    phone: str


class ChangeBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    phone: str = ""  # required on the public page; the API may leave it out


class RescheduleBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    slot_start_ms: int
    phone: str = ""


class BookingView(msgspec.Struct, frozen=True):
    """A booking as shown: the name and phone masked (张*, 138****5678), never in clear."""

    code: str
    hall: str
    hall_name: str
    service: str
    service_name: str
    date: str
    start: str
    end: str
    slot_start_ms: int
    slot_end_ms: int
    name: str
    phone: str
    qr_svg: str  # the code as a QR code (SVG): the kiosk's scanner reads it
    check_in_from: str  # "HH:MM": the kiosk takes the code from then (appointment_early_minutes)


class Cancelled(msgspec.Struct, frozen=True):
    code: str
    cancelled: bool


class SlotView(msgspec.Struct, frozen=True):
    start_ms: int
    end_ms: int
    start: str
    end: str
    left: int  # places left (0: full)
    bookable: bool  # False once past the cut-off


class ServiceView(msgspec.Struct, frozen=True):
    id: str
    name: str
    days: list[str]


class HallBooking(msgspec.Struct, frozen=True):
    hall: str
    name: str
    services: list[ServiceView]


@dataclass
class BookingDesk:
    """The halls, their identity keys, and the public page's per-address limiter."""

    halls: dict[str, HallRuntime]
    keys: dict[str, bytes]  # hall id -> AES-256-GCM key (the rater-identity key)
    limiter: RateLimiter = field(default_factory=RateLimiter)

    def phone_key(self, hall: str, phone: str) -> str:
        return keyed_digest(phone, self.keys[hall], purpose=b"hallctl booking phone")


DESK: Final = web.AppKey("booking_desk", BookingDesk)
_NO_BOOKING: Final = Booking(
    code="", service="", slot_start_ms=0, slot_end_ms=0, day="", phone_key=""
)


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def qr_svg(code: str) -> str:
    """A standalone SVG document (with its namespace: the page shows it as an image)."""
    out = io.BytesIO()
    segno.make_qr(code, error="m").save(  # a full QR code: scanners often lack Micro QR
        out,
        kind="svg",
        xmldecl=False,
        nl=False,
        border=2,
        omitsize=True,  # a viewBox: it scales
    )
    return out.getvalue().decode("ascii")


# -- handlers ----------------------------------------------------------------------------------


def _hall(request: web.Request) -> tuple[BookingDesk, HallRuntime]:
    desk = request.app[DESK]
    runtime = desk.halls.get(request.match_info["hall"])
    if runtime is None:
        raise web.HTTPNotFound(
            text='{"code":"unknown_hall","message":"没有这个大厅"}', content_type="application/json"
        )
    return desk, runtime


def _public(request: web.Request) -> bool:
    return request.path.startswith("/api/v1/public/")


def _limited(request: web.Request, desk: BookingDesk, runtime: HallRuntime) -> web.Response | None:
    """The public page's per-address limit on bookings and changes."""
    if not _public(request):
        return None
    per_minute = runtime.engine.config.appointments.public_per_ip_per_minute
    if desk.limiter.allow(request.remote or "-", per_minute, runtime.now()):
        return None
    return error(429, "rate_limited", "操作过于频繁，请一分钟后再试")


def _booked(events: list[ev.AnyEvent], before: Booking) -> Booking:
    """The booking as the accepted command left it, from its own events (the live state may
    already have moved on by the time this request resumes)."""
    for event in events:
        if isinstance(event, ev.AppointmentBooked):
            return Booking(
                code=event.code,
                service=event.service,
                slot_start_ms=event.slot_start_ms,
                slot_end_ms=event.slot_end_ms,
                day=event.day,
                phone_key=event.phone_key,
                name_sealed=event.name_sealed,
                phone_sealed=event.phone_sealed,
                booked_at=event.at,
            )
        if isinstance(event, ev.AppointmentRescheduled):
            return msgspec.structs.replace(
                before,
                slot_start_ms=event.slot_start_ms,
                slot_end_ms=event.slot_end_ms,
                day=event.day,
            )
    return before


async def _view(runtime: HallRuntime, booking: Booking, desk: BookingDesk) -> BookingView:
    """The booking as answered. Drawing the QR code costs ~3 ms of pure Python: it runs in a
    thread so the hall's event loop (calls, kiosks) is never held up by it."""
    svg = await asyncio.to_thread(qr_svg, booking.code)
    config = runtime.engine.config
    service = config.service(booking.service)
    tz = runtime.engine.slots.tz
    key = desk.keys[runtime.hall_id]
    return BookingView(
        code=booking.code,
        hall=runtime.hall_id,
        hall_name=config.hall.name,
        service=booking.service,
        service_name=service.name if service else booking.service,
        date=booking.day,
        start=clock_text(booking.slot_start_ms, tz),
        end=clock_text(booking.slot_end_ms, tz),
        slot_start_ms=booking.slot_start_ms,
        slot_end_ms=booking.slot_end_ms,
        name=mask(unseal(booking.name_sealed, key)) if booking.name_sealed else "",
        phone=mask(unseal(booking.phone_sealed, key)) if booking.phone_sealed else "",
        qr_svg=svg,
        check_in_from=clock_text(booking.slot_start_ms - runtime.engine.early_ms, tz),
    )


def _refused(exc: Rejected | HallUnavailable) -> web.Response:
    if isinstance(exc, HallUnavailable):
        return error(503, "hall_unavailable", exc.text)
    return error(409, exc.reason.value, exc.detail)


async def booking_halls(request: web.Request) -> web.Response:
    """The halls that take online bookings (the page's first choice)."""
    halls = request.app[DESK].halls
    return json_response(
        [
            {"id": hall_id, "name": runtime.engine.config.hall.name}
            for hall_id, runtime in sorted(halls.items())
            if runtime.engine.config.appointments.enabled
        ]
    )


async def hall_booking(request: web.Request) -> web.Response:
    """The hall's bookable services and, for each, the days a citizen may choose."""
    _, runtime = _hall(request)
    config = runtime.engine.config
    plan = runtime.engine.slots
    now = runtime.now()
    services = [
        ServiceView(s.id, s.name, [d.isoformat() for d in plan.open_days(s.id, now)])
        for s in config.services
        if config.appointments.rules_for(s.id) is not None
    ]
    return json_response(HallBooking(runtime.hall_id, config.hall.name, services))


async def slots(request: web.Request) -> web.Response:
    _, runtime = _hall(request)
    service = request.query.get("service", "")
    plan = runtime.engine.slots
    if runtime.engine.config.appointments.rules_for(service) is None:
        return error(404, "booking_closed", "该事项暂不提供线上预约")
    try:
        day = date.fromisoformat(request.query.get("date", ""))
    except ValueError:
        return error(400, "bad_request", "date 须为 YYYY-MM-DD")
    now = runtime.now()
    capacity = plan.rules(service).capacity
    taken = runtime.state.slot_taken
    tz = plan.tz
    open_days = plan.open_days(service, now)
    offered = plan.day_slots(service, day) if day in open_days else []
    return json_response(
        [
            SlotView(
                s.start_ms,
                s.end_ms,
                clock_text(s.start_ms, tz),
                clock_text(s.end_ms, tz),
                max(0, capacity - taken.get((service, s.start_ms), 0)),
                plan.bookable(service, s, now),
            )
            for s in offered
        ]
    )


def _check_identity(name: str, phone: str) -> str | None:
    if not name.strip() or len(name) > MAX_NAME:
        return f"请填写姓名（1 至 {MAX_NAME} 个字）"
    if not PHONE.fullmatch(phone):
        return "请填写 11 位手机号码"
    return None


async def book(request: web.Request) -> web.Response:
    desk, runtime = _hall(request)
    try:
        body = await read_body(request, BookBody, code="bad_booking")
    except BadBody as bad:
        return bad.response
    problem = _check_identity(body.name, body.phone)
    if problem is not None:
        return error(400, "bad_booking", problem)
    limited = _limited(request, desk, runtime)
    if limited is not None:
        return limited
    key = desk.keys[runtime.hall_id]
    name = body.name.strip()
    channel = cmd.BookingChannel.PAGE if _public(request) else cmd.BookingChannel.API
    phone_key = desk.phone_key(runtime.hall_id, body.phone)
    try:
        for attempt in range(3):  # a drawn code already in use is refused: draw again
            code = new_code()
            command = cmd.BookAppointment(
                code=code,
                service=body.service,
                slot_start_ms=body.slot_start_ms,
                phone_key=phone_key,
                name_sealed=seal(name, key),
                phone_sealed=seal(body.phone, key),
                channel=channel,
            )
            try:
                receipt = await runtime.submit(command)
            except Rejected as exc:
                if exc.reason is not RejectReason.BOOKING_CODE_TAKEN or attempt == 2:
                    raise
                continue
            booking = _booked(receipt.events, _NO_BOOKING)
            return json_response(await _view(runtime, booking, desk))
    except (Rejected, HallUnavailable) as exc:
        return _refused(exc)
    raise AssertionError("unreachable")


def _phone_key(
    request: web.Request, desk: BookingDesk, runtime: HallRuntime, phone: str
) -> str | web.Response | None:
    """The public page must name the booking's phone; the API may leave it out."""
    if not phone:
        if _public(request):
            return error(400, "bad_booking", "请填写预约时的手机号码")
        return None
    if not PHONE.fullmatch(phone):
        return error(400, "bad_booking", "请填写 11 位手机号码")
    return desk.phone_key(runtime.hall_id, phone)


async def cancel(request: web.Request) -> web.Response:
    desk, runtime = _hall(request)
    try:
        body = await read_body(request, ChangeBody, code="bad_booking")
    except BadBody as bad:
        return bad.response
    phone_key = _phone_key(request, desk, runtime, body.phone)
    if isinstance(phone_key, web.Response):
        return phone_key
    limited = _limited(request, desk, runtime)
    if limited is not None:
        return limited
    code = request.match_info["code"].upper()
    try:
        await runtime.submit(cmd.CancelAppointment(code=code, phone_key=phone_key))
    except (Rejected, HallUnavailable) as exc:
        return _refused(exc)
    return json_response(Cancelled(code=code, cancelled=True))


async def reschedule(request: web.Request) -> web.Response:
    desk, runtime = _hall(request)
    try:
        body = await read_body(request, RescheduleBody, code="bad_booking")
    except BadBody as bad:
        return bad.response
    phone_key = _phone_key(request, desk, runtime, body.phone)
    if isinstance(phone_key, web.Response):
        return phone_key
    limited = _limited(request, desk, runtime)
    if limited is not None:
        return limited
    code = request.match_info["code"].upper()
    command = cmd.RescheduleAppointment(
        code=code, slot_start_ms=body.slot_start_ms, phone_key=phone_key
    )
    before = runtime.state.bookings.get(code, _NO_BOOKING)
    try:
        receipt = await runtime.submit(command)
    except (Rejected, HallUnavailable) as exc:
        return _refused(exc)
    return json_response(await _view(runtime, _booked(receipt.events, before), desk))


async def get_booking(request: web.Request) -> web.Response:
    """The API's view of an active booking (masked); the public page has none: its answer
    to the booking is all it shows."""
    desk, runtime = _hall(request)
    booking = runtime.state.bookings.get(request.match_info["code"].upper())
    if booking is None:
        return error(404, "unknown_appointment", "没有找到这个预约（或已签到、已取消）")
    return json_response(await _view(runtime, booking, desk))


async def book_page(request: web.Request) -> web.Response:
    raise web.HTTPFound("/public/book.html")


def add_booking_routes(app: web.Application, desk: BookingDesk) -> None:
    app[DESK] = desk
    app.router.add_get("/api/v1/public/booking/halls", booking_halls)
    for base in ("/api/v1/public/halls/{hall}", "/api/v1/halls/{hall}"):
        app.router.add_get(f"{base}/booking", hall_booking)
        app.router.add_get(f"{base}/booking/slots", slots)
        app.router.add_post(f"{base}/bookings", book)
        app.router.add_post(f"{base}/bookings/{{code}}/cancel", cancel)
        app.router.add_post(f"{base}/bookings/{{code}}/reschedule", reschedule)
    app.router.add_get("/api/v1/halls/{hall}/bookings/{code}", get_booking)
    app.router.add_get("/public/book", book_page)
    app.router.add_static("/public/", PUBLIC_DIR, append_version=False)


def booking_extension(db_path: Path) -> Extension:
    """The daemon extension: each hall's identity key (the 好差评 secrets file) and the routes."""

    async def start(daemon: Daemon, tasks: asyncio.TaskGroup, stop: asyncio.Event) -> None:
        keys = {
            hall_id: load_or_create_keys(
                secrets_path(db_path, runtime.engine.config.evaluation.secrets_file)
            ).identity
            for hall_id, runtime in daemon.halls.items()
        }
        add_booking_routes(daemon.app, BookingDesk(daemon.halls, keys))

    return start
