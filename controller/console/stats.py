"""Figures of one business day: arrivals and waits by hour, satisfaction and coverage by window,
staff and service. Pure functions of a day's tickets (the live state's while the day is open,
the log's once it closed: controller/console/history.py), definitions in the domain reference:
waiting = called − issued; coverage = rated / finished; satisfaction = (非常满意 + 满意 +
基本满意) / rated)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec

from controller.console.history import day_tickets
from controller.core.lifecycle import EvaluationState
from controller.core.state import HallState, Ticket
from controller.store.base import EventStore


class HourFigure(msgspec.Struct, frozen=True):
    hour: int
    arrivals: int
    mean_wait_minutes: float | None


class GroupFigure(msgspec.Struct, frozen=True):
    key: str
    label: str
    finished: int
    rated: int
    satisfied: int
    bad: int
    satisfaction: float | None
    coverage: float | None


class Figures(msgspec.Struct, frozen=True):
    hall: str
    day: str | None
    days: list[str]
    hours: list[HourFigure]
    by_window: list[GroupFigure]
    by_staff: list[GroupFigure]
    by_service: list[GroupFigure]
    overall: GroupFigure


def days_of(state: HallState) -> list[str]:
    """Every business day with tickets, archived days included."""
    return sorted(state.ticket_days)


def _group(
    tickets: Iterable[Ticket], key: Callable[[Ticket], str | None], labels: dict[str, str]
) -> list[GroupFigure]:
    buckets: dict[str, list[Ticket]] = {}
    for ticket in tickets:
        k = key(ticket)
        if k is not None:
            buckets.setdefault(k, []).append(ticket)
    return [
        _figure(k, labels.get(k, k), group)
        for k, group in sorted(buckets.items(), key=lambda kv: _natural(kv[0]))
    ]


def _natural(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (1 << 30, key)


def _figure(key: str, label: str, tickets: list[Ticket]) -> GroupFigure:
    finished = sum(1 for t in tickets if t.done_at is not None)
    rated = [t for t in tickets if t.evaluation is EvaluationState.RATED and t.rating is not None]
    bad = sum(1 for t in rated if t.rating is not None and t.rating.is_bad)
    satisfied = len(rated) - bad
    return GroupFigure(
        key=key,
        label=label,
        finished=finished,
        rated=len(rated),
        satisfied=satisfied,
        bad=bad,
        satisfaction=round(satisfied / len(rated), 4) if rated else None,
        coverage=round(len(rated) / finished, 4) if finished else None,
    )


async def figures_of(state: HallState, store: EventStore, day: str | None = None) -> Figures:
    """Figures for ``day`` (default: the newest day with tickets), a closed day's from the log."""
    if day is None:
        day = max(state.ticket_days, default=None)
    if day is None:
        return day_figures(state, None, [])
    return day_figures(state, day, await day_tickets(state.config, state, store, day))


def day_figures(
    state: HallState, day: str | None = None, day_tickets: Iterable[Ticket] | None = None
) -> Figures:
    """Figures for ``day`` (ISO date; default: the newest day with tickets) from its tickets
    (default: those the live state holds)."""
    config = state.config
    days = days_of(state)
    if day is None and days:
        day = days[-1]
    tz = ZoneInfo(config.hall.timezone)
    source = state.tickets.values() if day_tickets is None else day_tickets
    tickets = [t for t in source if t.day == day]
    arrivals = [0] * 24
    waits: list[list[int]] = [[] for _ in range(24)]
    for ticket in tickets:
        hour = datetime.fromtimestamp(ticket.issued_at / 1000, tz).hour
        arrivals[hour] += 1
        if ticket.first_called_at is not None:
            waits[hour].append(ticket.first_called_at - ticket.issued_at)
    used = [h for h in range(24) if arrivals[h]] or [9]
    first, last = min(min(used), 8), max(max(used), 17)
    hours = [
        HourFigure(
            hour=h,
            arrivals=arrivals[h],
            mean_wait_minutes=round(sum(waits[h]) / len(waits[h]) / 60_000, 1)
            if waits[h]
            else None,
        )
        for h in range(first, last + 1)
    ]
    window_names = {str(w.number): w.name for w in config.windows}
    staff_names = {s.id: f"{s.name}({s.id})" for s in config.staff}
    service_names = {s.id: s.name for s in config.services}
    return Figures(
        hall=config.hall.id,
        day=day,
        days=days,
        hours=hours,
        by_window=_group(
            tickets, lambda t: str(t.window) if t.window is not None else None, window_names
        ),
        by_staff=_group(tickets, lambda t: t.staff, staff_names),
        by_service=_group(tickets, lambda t: t.service, service_names),
        overall=_figure("all", "全部", tickets),
    )


Cell = str | int | float | None


def figures_rows(figures: Figures) -> list[list[Cell]]:
    """One table for CSV/XLSX: a header, then hours, then each grouping."""
    rows: list[list[Cell]] = [
        ["类别", "项目", "取号", "平均等候(分)", "办结", "评价", "满意", "差评", "满意率", "覆盖率"]
    ]
    for h in figures.hours:
        hour_row: list[Cell] = ["时段", f"{h.hour:02d}:00", h.arrivals, h.mean_wait_minutes]
        rows.append(hour_row + [None] * 6)
    for name, groups in (
        ("窗口", figures.by_window),
        ("人员", figures.by_staff),
        ("事项", figures.by_service),
        ("合计", [figures.overall]),
    ):
        for g in groups:
            row: list[Cell] = [name, g.label, None, None, g.finished, g.rated, g.satisfied]
            rows.append([*row, g.bad, g.satisfaction, g.coverage])
    return rows
