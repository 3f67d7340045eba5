"""The figures supervisors ask for, computed from the log alone (so anyone can recompute them).

Theory of operation: ``StatsFolder`` reads a hall's events in log order and keeps, per ticket,
when it was issued and first called and, per finished service, where, by whom, how long; then
the ratings and 差评 cases that belong to each service. It keeps the figures incrementally: each
finished service is added at once to the buckets of its local day (one per hall, department,
window, staff, service, day and hour of day), and a later rating, strike or case step adjusts
those same buckets. ``report`` then only merges the day buckets of a date range (≤ 366 days),
whatever the number of services, and computes per group:

* served: services finished; rated: those with at least one rating standing; coverage =
  rated / served (评价覆盖率);
* ratings (pad and 追评 records), satisfaction = (非常满意 + 满意 + 基本满意) / ratings, 差评;
  a rating struck on appeal (申诉复核) counts nowhere;
* cases (差评 cases), 回访 rate = contacted / cases, 整改 rate = rectified / cases that needed
  rectification (upheld, or appeal refused), on-time rate = cases never escalated / cases;
* waiting time (first call − issue) and service time (finish − start, suspended time excluded,
  as the engine recorded it) at p50 and p90, in seconds.

Services are grouped by when they finished (local time); their ratings and cases follow them,
whenever those happened, so coverage compares like with like. A folder is kept live in the
daemon (``controller.haochaping.live_stats``) so a request folds nothing.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
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
    DEPARTMENT = "department"
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


class ServedFacts(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One finished service as the folder keeps it (and a snapshot stores it)."""

    ticket: int
    done_at: int
    window: int
    staff: str
    service: str
    wait_ms: int | None
    service_ms: int


class _ServedState(msgspec.Struct, frozen=True, array_like=True):
    facts: ServedFacts
    ratings: list[tuple[bool, bool]]  # (follow_up, is_bad)
    struck: list[bool]
    counted: tuple[int, int, int, int]


class _BucketState(msgspec.Struct, frozen=True, array_like=True):
    day: str
    dimension: Dimension
    key: str
    counts: tuple[int, int, int, int, int]  # served, rated, ratings, good, bad
    waits: list[int]
    services: list[int]


class _CaseState(msgspec.Struct, frozen=True, array_like=True):
    case: int
    ticket: int
    follow_up: bool
    contacted: bool
    needs_rectify: bool
    rectified: bool
    escalated: bool


class StatsSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """What a folder knows after log record ``seq``, for a configuration (``config_key``)."""

    seq: int
    config_key: str
    issued: dict[int, int]
    service: dict[int, str]
    first_called: dict[int, int]
    served: list[_ServedState]
    buckets: list[_BucketState]
    cases: list[_CaseState]


def config_key(config: HallConfig) -> str:
    """Identifies a configuration whatever file it came from (buckets depend on it)."""
    return hashlib.sha256(repr(dataclasses.replace(config, source="")).encode()).hexdigest()


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

    def merge(self, other: _Bucket) -> None:
        self.served += other.served
        self.rated += other.rated
        self.ratings += other.ratings
        self.good += other.good
        self.bad += other.bad
        self.cases.extend(other.cases)
        self.waits.extend(other.waits)
        self.services.extend(other.services)


@dataclass(slots=True)
class _Served:
    facts: ServedFacts
    buckets: list[_Bucket]  # the buckets this service counts in (its day's)
    ratings: dict[bool, bool] = field(default_factory=dict)  # follow_up -> is_bad
    struck: set[bool] = field(default_factory=set)
    counted: tuple[int, int, int, int] = (0, 0, 0, 0)  # rated, ratings, good, bad

    def recount(self) -> None:
        """Move this service's rating counts in its buckets to what its ratings are now."""
        standing = [bad for f, bad in self.ratings.items() if f not in self.struck]
        bad = sum(standing)
        now = (int(bool(standing)), len(standing), len(standing) - bad, bad)
        delta = [n - o for n, o in zip(now, self.counted, strict=True)]
        if any(delta):
            for b in self.buckets:
                b.rated += delta[0]
                b.ratings += delta[1]
                b.good += delta[2]
                b.bad += delta[3]
        self.counted = now


_SLOT_MS = 900_000  # every UTC offset in use is a multiple of 15 minutes


class StatsFolder:
    """Folds a hall's events into per-day buckets that ``report`` merges."""

    def __init__(self, config: HallConfig) -> None:
        self.config = config
        self._tz = ZoneInfo(config.hall.timezone)
        self._departments = {
            w.number: (d.id if (d := config.department_of(w.number)) else w.department)
            for w in config.windows
        }
        self._issued: dict[int, int] = {}
        self._service: dict[int, str] = {}  # current service of each ticket (after transfers)
        self._first_called: dict[int, int] = {}
        self._served: dict[int, _Served] = {}
        self._case_of: dict[int, tuple[_Served, bool, _Case]] = {}
        self._days: dict[str, dict[tuple[Dimension, str], _Bucket]] = {}
        self._slots: dict[int, tuple[str, str]] = {}  # 15-minute slot -> (local day, hour)
        self._combos: dict[tuple[int, int, str, str], list[_Bucket]] = {}

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
                    served.recount()
            elif isinstance(e, ev.CaseOpened):
                served = self._served.get(e.ticket)
                if served is not None:
                    case = _Case()
                    for bucket in served.buckets:
                        bucket.cases.append(case)
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

    def _local(self, ms: int) -> tuple[str, str]:
        slot = ms // _SLOT_MS
        found = self._slots.get(slot)
        if found is None:
            local = datetime.fromtimestamp(slot * _SLOT_MS / 1000, self._tz)
            found = self._slots[slot] = (local.date().isoformat(), f"{local.hour:02d}")
        return found

    def _finished(self, e: ev.ServiceFinished) -> None:
        if e.ticket in self._served:  # finished again: the first service stays counted
            return
        issued = self._issued.pop(e.ticket, None)
        called = self._first_called.pop(e.ticket, None)
        wait = called - issued if issued is not None and called is not None else None
        service = self._service.pop(e.ticket, "")
        self._add(ServedFacts(e.ticket, e.at, e.window, e.staff, service, wait, e.service_ms))

    def _add(self, facts: ServedFacts) -> _Served:
        combo = (facts.done_at // _SLOT_MS, facts.window, facts.staff, facts.service)
        buckets = self._combos.get(combo)
        if buckets is None:  # services of one quarter hour, window, staff, item share buckets
            buckets = self._combos[combo] = self._buckets_of(facts)
        served = _Served(facts=facts, buckets=buckets)
        for bucket in served.buckets:
            bucket.served += 1
            if facts.wait_ms is not None:
                bucket.waits.append(facts.wait_ms)
            bucket.services.append(facts.service_ms)
        self._served[facts.ticket] = served
        return served

    def _buckets_of(self, facts: ServedFacts) -> list[_Bucket]:
        day, hour = self._local(facts.done_at)
        keys = [
            (Dimension.HALL, self.config.hall.id),
            (Dimension.WINDOW, str(facts.window)),
            (Dimension.STAFF, facts.staff),
            (Dimension.SERVICE, facts.service),
            (Dimension.DAY, day),
            (Dimension.HOUR, hour),
        ]
        department = self._departments.get(facts.window)
        if department:
            keys.append((Dimension.DEPARTMENT, department))
        buckets = self._days.setdefault(day, {})
        return [buckets.setdefault(k, _Bucket()) for k in keys]

    def snapshot(self, seq: int) -> StatsSnapshot:
        """Everything needed to go on folding after log record ``seq``."""
        return StatsSnapshot(
            seq=seq,
            config_key=config_key(self.config),
            issued=self._issued,
            service=self._service,
            first_called=self._first_called,
            served=[
                _ServedState(s.facts, list(s.ratings.items()), sorted(s.struck), s.counted)
                for s in self._served.values()
            ],
            buckets=[
                _BucketState(
                    day,
                    dimension,
                    key,
                    (b.served, b.rated, b.ratings, b.good, b.bad),
                    b.waits,
                    b.services,
                )
                for day, buckets in self._days.items()
                for (dimension, key), b in buckets.items()
            ],
            cases=[
                _CaseState(
                    case=n,
                    ticket=served.facts.ticket,
                    follow_up=follow_up,
                    contacted=c.contacted,
                    needs_rectify=c.needs_rectify,
                    rectified=c.rectified,
                    escalated=c.escalated,
                )
                for n, (served, follow_up, c) in self._case_of.items()
            ],
        )

    @classmethod
    def restore(cls, config: HallConfig, snapshot: StatsSnapshot) -> StatsFolder:
        """The folder a snapshot describes; raises ``ValueError`` for another configuration."""
        if snapshot.config_key != config_key(config):
            raise ValueError("the statistics snapshot was made under another configuration")
        folder = cls(config)
        folder._issued = dict(snapshot.issued)
        folder._service = dict(snapshot.service)
        folder._first_called = dict(snapshot.first_called)
        for b in snapshot.buckets:  # the figures as they were; services only point at them
            served_n, rated, ratings, good, bad = b.counts
            bucket = _Bucket(served_n, rated, ratings, good, bad, [], b.waits, b.services)
            folder._days.setdefault(b.day, {})[(b.dimension, b.key)] = bucket
        combos = folder._combos
        for state in snapshot.served:
            facts = state.facts
            combo = (facts.done_at // _SLOT_MS, facts.window, facts.staff, facts.service)
            buckets = combos.get(combo)
            if buckets is None:
                buckets = combos[combo] = folder._buckets_of(facts)
            folder._served[facts.ticket] = _Served(
                facts, buckets, dict(state.ratings), set(state.struck), state.counted
            )
        for c in snapshot.cases:
            served = folder._served[c.ticket]
            case = _Case(c.contacted, c.needs_rectify, c.rectified, c.escalated)
            for bucket in served.buckets:
                bucket.cases.append(case)
            folder._case_of[c.case] = (served, c.follow_up, case)
        return folder

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
            served.recount()
        else:
            case.needs_rectify = True

    def report(self, from_day: date, to_day: date) -> StatsReport:
        """Figures of the services finished from ``from_day`` to ``to_day`` (local dates)."""
        config = self.config
        labels = _labels(config)
        merged: dict[tuple[Dimension, str], _Bucket] = {}
        day = from_day
        while day <= to_day:
            for key, bucket in self._days.get(day.isoformat(), {}).items():
                merged.setdefault(key, _Bucket()).merge(bucket)
            day += timedelta(days=1)
        rows = [
            _row(dimension, key, labels.get((dimension, key), key), bucket)
            for (dimension, key), bucket in sorted(
                merged.items(), key=lambda item: (_ORDER[item[0][0]], _sort_key(item[0][1]))
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


def _labels(config: HallConfig) -> dict[tuple[Dimension, str], str]:
    labels: dict[tuple[Dimension, str], str] = {(Dimension.HALL, config.hall.id): config.hall.name}
    labels.update({(Dimension.DEPARTMENT, d.id): d.name for d in config.departments})
    labels.update({(Dimension.WINDOW, str(w.number)): w.name for w in config.windows})
    labels.update({(Dimension.STAFF, s.id): s.name for s in config.staff})
    labels.update({(Dimension.SERVICE, s.id): s.name for s in config.services})
    return labels


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
