"""The figures supervisors ask for, computed from the log alone (so anyone can recompute them).

Theory of operation: ``StatsFolder`` reads a hall's events in log order and keeps, per ticket,
when it was issued and first called and, per finished service, where, by whom, how long; then
the ratings and 差评 cases that belong to each service. ``report`` groups the services finished
in a date range by hall, window, staff, service, day and hour of day (each its own table) and
computes per group:

* served: services finished; rated: those with at least one rating standing; coverage =
  rated / served (评价覆盖率);
* ratings (pad and 追评 records), satisfaction = (非常满意 + 满意 + 基本满意) / ratings, 差评;
  a rating struck on appeal (申诉复核) counts nowhere;
* cases (差评 cases), 回访 rate = contacted / cases, 整改 rate = rectified / cases that needed
  rectification (upheld, or appeal refused), on-time rate = cases never escalated / cases;
* waiting time (first call − issue) and service time (finish − start, suspended time excluded,
  as the engine recorded it) at p50 and p90, in seconds.

Services are grouped by when they finished (local time); their ratings and cases follow them,
whenever those happened, so coverage compares like with like.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec

from controller.config.model import HallConfig
from controller.core import events as ev
from controller.core.commands import VerificationOutcome


class Dimension(enum.Enum):
    HALL = "hall"
    WINDOW = "window"
    STAFF = "staff"
    SERVICE = "service"
    DAY = "day"
    HOUR = "hour"  # hour of day, over the whole range


class StatsRow(msgspec.Struct, frozen=True, kw_only=True):
    dimension: Dimension
    key: str
    label: str
    served: int
    rated: int
    coverage: float | None
    ratings: int
    satisfaction: float | None
    bad_ratings: int
    cases: int
    contact_rate: float | None
    rectify_rate: float | None
    on_time_rate: float | None
    wait_p50_s: float | None
    wait_p90_s: float | None
    service_p50_s: float | None
    service_p90_s: float | None


class StatsReport(msgspec.Struct, frozen=True, kw_only=True):
    hall: str
    name: str
    from_day: str
    to_day: str
    rows: list[StatsRow]


@dataclass(slots=True)
class _Case:
    contacted: bool = False
    needs_rectify: bool = False
    rectified: bool = False
    escalated: bool = False


@dataclass(slots=True)
class _Served:
    ticket: int
    window: int
    staff: str
    service: str
    done_at: int
    wait_ms: int | None
    service_ms: int
    ratings: dict[bool, bool] = field(default_factory=dict)  # follow_up -> is_bad
    struck: set[bool] = field(default_factory=set)
    cases: list[_Case] = field(default_factory=list)


@dataclass(slots=True)
class _Bucket:
    served: int = 0
    rated: int = 0
    ratings: int = 0
    good: int = 0
    bad: int = 0
    cases: list[_Case] = field(default_factory=list)
    waits: list[int] = field(default_factory=list)
    services: list[int] = field(default_factory=list)


class StatsFolder:
    """Folds a hall's events into what ``report`` needs."""

    def __init__(self) -> None:
        self._issued: dict[int, int] = {}
        self._service: dict[int, str] = {}  # current service of each ticket (after transfers)
        self._first_called: dict[int, int] = {}
        self._served: dict[int, _Served] = {}
        self._case_of: dict[int, tuple[_Served, bool, _Case]] = {}

    def apply(self, events: Iterable[ev.AnyEvent]) -> None:
        for e in events:
            if isinstance(e, ev.TicketIssued):
                self._issued[e.ticket] = e.at
                self._service[e.ticket] = e.service
            elif isinstance(e, ev.TicketTransferred):
                self._service[e.ticket] = e.to_service
            elif isinstance(e, ev.TicketCalled):
                self._first_called.setdefault(e.ticket, e.at)
            elif isinstance(e, ev.ServiceFinished):
                self._finished(e)
            elif isinstance(e, ev.ServiceRated):
                served = self._served.get(e.ticket)
                if served is not None:
                    served.ratings[e.follow_up] = e.level.is_bad
            elif isinstance(e, ev.CaseOpened):
                served = self._served.get(e.ticket)
                if served is not None:
                    case = _Case()
                    served.cases.append(case)
                    self._case_of[e.case] = (served, e.follow_up, case)
            elif isinstance(e, ev.CaseContacted | ev.CaseVerified | ev.CaseReviewed):
                self._case_step(e)
            elif isinstance(e, ev.CaseRectified | ev.CaseEscalated):
                found = self._case_of.get(e.case)
                if found is not None:
                    if isinstance(e, ev.CaseRectified):
                        found[2].rectified = True
                    else:
                        found[2].escalated = True

    def _finished(self, e: ev.ServiceFinished) -> None:
        issued = self._issued.get(e.ticket)
        called = self._first_called.get(e.ticket)
        wait = called - issued if issued is not None and called is not None else None
        self._served[e.ticket] = _Served(
            ticket=e.ticket,
            window=e.window,
            staff=e.staff,
            service=self._service.get(e.ticket, ""),
            done_at=e.at,
            wait_ms=wait,
            service_ms=e.service_ms,
        )

    def _case_step(self, e: ev.CaseContacted | ev.CaseVerified | ev.CaseReviewed) -> None:
        found = self._case_of.get(e.case)
        if found is None:
            return
        served, follow_up, case = found
        if isinstance(e, ev.CaseContacted):
            case.contacted = True
        elif isinstance(e, ev.CaseVerified):
            case.needs_rectify = e.outcome is VerificationOutcome.UPHELD
        elif e.granted:
            served.struck.add(follow_up)
        else:
            case.needs_rectify = True

    def report(self, config: HallConfig, from_day: date, to_day: date) -> StatsReport:
        tz = ZoneInfo(config.hall.timezone)
        start = _midnight(from_day, tz)
        end = _midnight(to_day + timedelta(days=1), tz)
        labels = _labels(config)
        buckets: dict[tuple[Dimension, str], _Bucket] = {}
        for served in self._served.values():
            if not start <= served.done_at < end:
                continue
            local = datetime.fromtimestamp(served.done_at / 1000, tz)
            keys = (
                (Dimension.HALL, config.hall.id),
                (Dimension.WINDOW, str(served.window)),
                (Dimension.STAFF, served.staff),
                (Dimension.SERVICE, served.service),
                (Dimension.DAY, local.date().isoformat()),
                (Dimension.HOUR, f"{local.hour:02d}"),
            )
            for key in keys:
                _add(buckets.setdefault(key, _Bucket()), served)
        rows = [
            _row(dimension, key, labels.get((dimension, key), key), bucket)
            for (dimension, key), bucket in sorted(
                buckets.items(), key=lambda item: (_ORDER[item[0][0]], _sort_key(item[0][1]))
            )
        ]
        return StatsReport(
            hall=config.hall.id,
            name=config.hall.name,
            from_day=from_day.isoformat(),
            to_day=to_day.isoformat(),
            rows=rows,
        )


_ORDER = {d: i for i, d in enumerate(Dimension)}


def _sort_key(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (1 << 30, key)


def _midnight(day: date, tz: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp() * 1000)


def _labels(config: HallConfig) -> dict[tuple[Dimension, str], str]:
    labels: dict[tuple[Dimension, str], str] = {(Dimension.HALL, config.hall.id): config.hall.name}
    labels.update({(Dimension.WINDOW, str(w.number)): w.name for w in config.windows})
    labels.update({(Dimension.STAFF, s.id): s.name for s in config.staff})
    labels.update({(Dimension.SERVICE, s.id): s.name for s in config.services})
    return labels


def _add(bucket: _Bucket, served: _Served) -> None:
    bucket.served += 1
    standing = {f: bad for f, bad in served.ratings.items() if f not in served.struck}
    if standing:
        bucket.rated += 1
    bucket.ratings += len(standing)
    bucket.bad += sum(standing.values())
    bucket.good += sum(not bad for bad in standing.values())
    bucket.cases.extend(served.cases)
    if served.wait_ms is not None:
        bucket.waits.append(served.wait_ms)
    bucket.services.append(served.service_ms)


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def percentile(values: list[int], p: float) -> float | None:
    """Nearest-rank percentile of milliseconds, in seconds (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p * len(ordered)))
    return ordered[rank - 1] / 1000


def _row(dimension: Dimension, key: str, label: str, b: _Bucket) -> StatsRow:
    cases = b.cases
    needing = [c for c in cases if c.needs_rectify]
    return StatsRow(
        dimension=dimension,
        key=key,
        label=label,
        served=b.served,
        rated=b.rated,
        coverage=_ratio(b.rated, b.served),
        ratings=b.ratings,
        satisfaction=_ratio(b.good, b.ratings),
        bad_ratings=b.bad,
        cases=len(cases),
        contact_rate=_ratio(sum(c.contacted for c in cases), len(cases)),
        rectify_rate=_ratio(sum(c.rectified for c in needing), len(needing)),
        on_time_rate=_ratio(sum(not c.escalated for c in cases), len(cases)),
        wait_p50_s=percentile(b.waits, 0.5),
        wait_p90_s=percentile(b.waits, 0.9),
        service_p50_s=percentile(b.services, 0.5),
        service_p90_s=percentile(b.services, 0.9),
    )
