"""Read-only views of a hall's state: what the console, kiosks and screens show.

Pure functions of the state and ``now``; nothing here changes anything. Structs, not dicts, so
the HTTP layer encodes them straight to JSON with their types checked.
"""

from __future__ import annotations

import math

import msgspec

from controller.core.lifecycle import TicketState, WindowState
from controller.core.schedule import latest_closing_ms
from controller.core.state import HallState, Totals

DAY_MS = 86_400_000


class WindowView(msgspec.Struct, frozen=True):
    number: int
    name: str
    state: WindowState
    staff: str | None
    staff_name: str | None
    ticket: str | None
    since_ms: int
    services: list[str]
    suspended: list[str]
    staff_photo: bool = False  # 亮牌: the clerk has a photo (GET .../staff/{staff}/photo)
    pause_pending: bool = False  # pauses when its current ticket leaves
    pause_reason: str = ""


class ServiceView(msgspec.Struct, frozen=True):
    id: str
    name: str
    prefix: str
    waiting: int
    longest_wait_ms: int
    estimated_wait_minutes: int
    open_windows: int
    # The estimate runs past today's closing time: a figure of hours means nothing to a
    # citizen then; screens say so instead of showing it.
    beyond_closing: bool = False


class HallView(msgspec.Struct, frozen=True):
    hall: str
    name: str
    seq: int
    clock_ms: int
    windows: list[WindowView]
    services: list[ServiceView]
    totals: Totals
    coverage: float | None  # rated / finished services (评价覆盖率)


def open_windows_for(state: HallState, service_id: str) -> int:
    """Windows staffed and not paused that serve the service (kept by the fold)."""
    return state.open_windows.get(service_id, 0)


def estimated_wait_minutes(state: HallState, service_id: str, people_ahead: int) -> int:
    """People ahead x expected minutes / open windows (one window if none is open yet)."""
    service = state.config.service(service_id)
    minutes = service.expected_minutes if service is not None else 10.0
    windows = max(1, open_windows_for(state, service_id))
    return math.ceil(people_ahead * minutes / windows)


def hall_view(state: HallState, now: int) -> HallView:
    config = state.config
    staff_names = {s.id: s.name for s in config.staff}
    with_photo = {s.id for s in config.staff if s.photo}
    names = {w.number: w.name for w in config.windows}
    longest: dict[str, int] = {}
    for ticket in state.tickets.values():
        if ticket.state is TicketState.WAITING:
            waited = now - ticket.arrival_at
            if waited > longest.get(ticket.service, -1):
                longest[ticket.service] = waited
    windows = [
        WindowView(
            number=w.number,
            name=names.get(w.number, f"{w.number}号窗口"),
            state=w.state,
            staff=w.staff,
            staff_name=staff_names.get(w.staff) if w.staff else None,
            ticket=state.tickets[w.ticket].number if w.ticket is not None else None,
            since_ms=w.since,
            services=[s for s, _ in w.services],
            suspended=[state.tickets[t].number for t in w.suspended],
            staff_photo=w.staff in with_photo,
            pause_pending=w.pause_pending,
            pause_reason=w.pause_reason,
        )
        for w in sorted(state.windows.values(), key=lambda w: w.number)
    ]
    until_closing = (latest_closing_ms(config.hall, now) + DAY_MS - now) // 60_000
    services = []
    for s in config.services:
        estimate = estimated_wait_minutes(state, s.id, state.waiting_by_service.get(s.id, 0))
        services.append(
            ServiceView(
                id=s.id,
                name=s.name,
                prefix=s.prefix,
                waiting=state.waiting_by_service.get(s.id, 0),
                longest_wait_ms=max(0, longest.get(s.id, 0)),
                estimated_wait_minutes=estimate,
                open_windows=open_windows_for(state, s.id),
                beyond_closing=estimate > until_closing,
            )
        )
    totals = state.totals
    return HallView(
        hall=config.hall.id,
        name=config.hall.name,
        seq=state.seq,
        clock_ms=state.clock_ms,
        windows=windows,
        services=services,
        totals=totals,
        coverage=(totals.rated / totals.finished) if totals.finished else None,
    )
