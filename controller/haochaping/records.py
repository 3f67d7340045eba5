"""Rating and case records after the national data elements, read from a hall's log.

A record is what leaves the hall (the provincial platform, the 12345 hotline, exports, the
console): a rating, a 差评 case step, or a 办件 record (one finished service: ticket, acceptance,
finish, window, staff, times; the "叫号-受理-评价" chain reported beside the rating), the event as
logged, completed with names and codes from the configuration (事项编码, department code,
region code, staff name). Its ``record_id`` is ``<hall>-<seq>-<index>``, the event's position in
the log, so it is stable: re-sending a record after a restart sends the same id and the platform
can drop the duplicate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Final, TypedDict

import msgspec

from controller.config.model import HallConfig
from controller.core import events as ev
from controller.core.case_numbers import generated_case_number
from controller.core.commands import (
    Evidence,
    RaterKind,
    RatingChannel,
    RatingLevel,
    VerificationOutcome,
)
from controller.store.base import EventStore

CASE_EVENTS: Final = (
    ev.CaseOpened,
    ev.CaseContacted,
    ev.CaseVerified,
    ev.CaseReviewed,
    ev.CaseRectified,
    ev.CaseClosed,
    ev.CaseEscalated,
)
_CASE_STEPS: Final[dict[type, str]] = {
    ev.CaseOpened: "opened",
    ev.CaseContacted: "contacted",
    ev.CaseVerified: "verified",
    ev.CaseReviewed: "reviewed",
    ev.CaseRectified: "rectified",
    ev.CaseClosed: "closed",
    ev.CaseEscalated: "escalated",
}


class _Where(TypedDict):
    """The fields the 办件 and the rating records share: where and by whom."""

    item_code: str
    item_name: str
    department_code: str
    department_name: str
    region_code: str
    window: int
    window_name: str
    staff_id: str
    staff_name: str


class RatingRecord(msgspec.Struct, frozen=True, kw_only=True):
    record_id: str
    hall: str
    ticket: int
    case_number: str  # 办件编号
    item_code: str  # 事项编码
    item_name: str
    department_code: str  # 统一社会信用代码
    department_name: str
    region_code: str
    window: int
    window_name: str
    staff_id: str  # 工号
    staff_name: str
    channel: RatingChannel
    level: RatingLevel
    reasons: tuple[str, ...]
    reason_codes: tuple[str, ...]
    text: str
    rated_at: int  # epoch ms
    follow_up: bool
    rater_kind: RaterKind | None
    anonymous: bool  # no identity given (the sealed identity never leaves the hall)
    # How the rating's origin is proven (signed, unsigned, legacy_serial, qr_token, staff;
    # None: logged before evidence was kept) and, for a signed pad rating, the evidence itself:
    # anyone holding the pad's key can recompute the MAC (firmware_protocols.rating_mac).
    evidence: Evidence | None = None
    device: str = ""
    key_id: str = ""
    counter: int | None = None
    mac: str = ""  # hex


class CaseRecord(msgspec.Struct, frozen=True, kw_only=True):
    record_id: str
    hall: str
    case_id: str
    step: str  # opened, contacted, verified, reviewed, rectified, closed, escalated
    at: int
    by: str = ""
    note: str = ""
    department_code: str = ""
    rating_record_id: str = ""  # on "opened": the 差评 this case is about
    contact_due: int | None = None
    rectify_due: int | None = None
    reached: bool | None = None
    outcome: VerificationOutcome | None = None
    appeal_granted: bool | None = None
    overdue_step: str = ""  # on "escalated": contact or rectify
    due: int | None = None
    # on "opened": what the 差评 was about (for the 12345 hand-over)
    level: RatingLevel | None = None
    window: int | None = None
    staff_id: str = ""
    item_name: str = ""
    reasons: tuple[str, ...] = ()
    text: str = ""


class ServiceRecord(msgspec.Struct, frozen=True, kw_only=True):
    """办件 record: one finished service, from the ticket to the finish (times epoch ms)."""

    record_id: str
    hall: str
    ticket: int
    number: str  # the ticket's number as called (A012)
    case_number: str  # 办件编号 (the business system's, or generated as for ratings)
    item_code: str
    item_name: str
    department_code: str
    department_name: str
    region_code: str
    window: int
    window_name: str
    staff_id: str
    staff_name: str
    issued_at: int  # 取号
    called_at: int | None  # 叫号 (first call)
    accepted_at: int  # 受理 (service started; the call when the start was implicit)
    finished_at: int  # 办结
    service_ms: int  # suspended time excluded

    @property
    def wait_ms(self) -> int | None:
        return None if self.called_at is None else self.called_at - self.issued_at


AnyRecord = RatingRecord | CaseRecord | ServiceRecord


def record_time(record: AnyRecord) -> int:
    """When the record's fact happened (for the outbox's "oldest unsent")."""
    if isinstance(record, RatingRecord):
        return record.rated_at
    if isinstance(record, ServiceRecord):
        return record.finished_at
    return record.at


class _Ticket(msgspec.Struct):
    issued_at: int
    number: str
    day: str
    service: str
    called_at: int | None = None
    accepted_at: int | None = None
    case_number: str = ""


_TICKET_GONE: Final = (ev.TicketExpired, ev.TicketCancelled, ev.TicketNoShow)


def record_id(hall: str, seq: int, index: int) -> str:
    return f"{hall}-{seq}-{index}"


def case_id(hall: str, case: int) -> str:
    return f"{hall}-C{case}"


class RecordMaker:
    """Turns one log record's events into outgoing records, with the hall's names and codes."""

    def __init__(self, config: HallConfig) -> None:
        self.config = config
        self.hall = config.hall.id
        self._services = {s.id: s for s in config.services}
        self._staff = {s.id: s.name for s in config.staff}
        self._reason_codes = {r.id: r.code for r in config.evaluation.reasons}
        self._case_departments: dict[int, str] = {}
        self._tickets: dict[int, _Ticket] = {}  # open tickets, for their 办件 record

    def records(self, seq: int, events: list[ev.AnyEvent]) -> Iterator[AnyRecord]:
        for index, event in enumerate(events):
            if isinstance(event, ev.ServiceRated):
                yield self.rating(seq, index, event)
            elif isinstance(event, CASE_EVENTS):
                yield self.case_step(seq, index, event, events)
            elif isinstance(event, ev.ServiceFinished):
                record = self.service(seq, index, event)
                if record is not None:
                    yield record
            else:
                self._ticket_step(event)

    def observe(self, events: list[ev.AnyEvent]) -> None:
        """Learn what later records need (open tickets, case departments) without making any."""
        for e in events:
            if isinstance(e, ev.CaseOpened):
                department = next(
                    (d for d in self.config.departments if d.id == e.department), None
                )
                self._case_departments[e.case] = department.code if department else ""
            elif isinstance(e, ev.ServiceFinished):
                self._tickets.pop(e.ticket, None)
            else:
                self._ticket_step(e)

    def _ticket_step(self, e: ev.AnyEvent) -> None:
        if isinstance(e, ev.TicketIssued):
            self._tickets[e.ticket] = _Ticket(e.at, e.number, e.day, e.service)
            return
        if isinstance(e, _TICKET_GONE):
            self._tickets.pop(e.ticket, None)
            return
        if not isinstance(
            e, ev.TicketCalled | ev.ServiceStarted | ev.TicketTransferred | ev.CaseNumberSet
        ):
            return
        ticket = self._tickets.get(e.ticket)
        if ticket is None:
            return
        if isinstance(e, ev.TicketCalled):
            ticket.called_at = ticket.called_at or e.at
            ticket.number = e.number
        elif isinstance(e, ev.ServiceStarted):
            start = ticket.called_at if e.implicit and ticket.called_at else e.at
            ticket.accepted_at = ticket.accepted_at or start  # implicit: counted from the call
        elif isinstance(e, ev.TicketTransferred):
            ticket.service = e.to_service
        else:
            ticket.case_number = e.case_number

    def service(self, seq: int, index: int, e: ev.ServiceFinished) -> ServiceRecord | None:
        """The 办件 record of a finish; None for a ticket issued before what was read."""
        ticket = self._tickets.pop(e.ticket, None)
        if ticket is None:
            return None
        config = self.config
        return ServiceRecord(
            record_id=record_id(self.hall, seq, index),
            hall=self.hall,
            ticket=e.ticket,
            number=ticket.number,
            case_number=ticket.case_number
            or generated_case_number(config.hall.region_code, self.hall, ticket.day, e.ticket),
            **self._where(ticket.service, e.window, e.staff),
            issued_at=ticket.issued_at,
            called_at=ticket.called_at,
            accepted_at=ticket.accepted_at or ticket.called_at or e.at,
            finished_at=e.at,
            service_ms=e.service_ms,
        )

    def rating(self, seq: int, index: int, e: ev.ServiceRated) -> RatingRecord:
        return RatingRecord(
            record_id=record_id(self.hall, seq, index),
            hall=self.hall,
            ticket=e.ticket,
            case_number=e.case_number,
            **self._where(e.service, e.window, e.staff),
            channel=e.channel,
            level=e.level,
            reasons=e.reasons,
            reason_codes=tuple(self._reason_codes.get(r, "") or r for r in e.reasons),
            text=e.text,
            rated_at=e.at,
            follow_up=e.follow_up,
            rater_kind=e.rater_kind,
            anonymous=not e.rater_sealed,
            evidence=e.evidence,
            device=e.signature.device if e.signature else "",
            key_id=e.signature.key_id if e.signature else "",
            counter=e.signature.counter if e.signature else None,
            mac=e.signature.mac if e.signature else "",
        )

    def _where(self, service_id: str, window_number: int, staff: str) -> _Where:
        """Where and by whom a service was done, as the 办件 and rating records both name it:
        事项, department (the window's, else its free-text department), region, window, staff."""
        config = self.config
        service = self._services.get(service_id)
        department = config.department_of(window_number)
        window = config.window(window_number)
        return _Where(
            item_code=service.item_code if service else "",
            item_name=service.name if service else service_id,
            department_code=department.code if department else "",
            department_name=department.name
            if department
            else (window.department if window else ""),
            region_code=config.hall.region_code,
            window=window_number,
            window_name=window.name if window else f"{window_number}号窗口",
            staff_id=staff,
            staff_name=self._staff.get(staff, ""),
        )

    def case_step(
        self, seq: int, index: int, e: ev.AnyEvent, events: list[ev.AnyEvent]
    ) -> CaseRecord:
        rid = record_id(self.hall, seq, index)
        step = _CASE_STEPS[type(e)]
        if isinstance(e, ev.CaseOpened):
            department = next((d for d in self.config.departments if d.id == e.department), None)
            code = department.code if department else ""
            self._case_departments[e.case] = code
            rating = events[index - 1] if index > 0 else None
            rated = isinstance(rating, ev.ServiceRated)
            service = self._services.get(e.service)
            return CaseRecord(
                record_id=rid,
                hall=self.hall,
                case_id=case_id(self.hall, e.case),
                step=step,
                at=e.at,
                department_code=code,
                rating_record_id=record_id(self.hall, seq, index - 1) if rated else "",
                contact_due=e.contact_due,
                rectify_due=e.rectify_due,
                level=e.level,
                window=e.window,
                staff_id=e.staff,
                item_name=service.name if service else e.service,
                reasons=rating.reasons if isinstance(rating, ev.ServiceRated) else (),
                text=rating.text if isinstance(rating, ev.ServiceRated) else "",
            )
        assert isinstance(
            e,
            ev.CaseContacted
            | ev.CaseVerified
            | ev.CaseReviewed
            | ev.CaseRectified
            | ev.CaseClosed
            | ev.CaseEscalated,
        )
        base = CaseRecord(
            record_id=rid,
            hall=self.hall,
            case_id=case_id(self.hall, e.case),
            step=step,
            at=e.at,
            department_code=self._case_departments.get(e.case, ""),
        )
        if isinstance(e, ev.CaseEscalated):
            return msgspec.structs.replace(base, by="hallctl", overdue_step=e.step.value, due=e.due)
        return msgspec.structs.replace(
            base,
            by=e.by,
            note=e.note,
            reached=e.reached if isinstance(e, ev.CaseContacted) else None,
            outcome=e.outcome if isinstance(e, ev.CaseVerified) else None,
            appeal_granted=e.granted if isinstance(e, ev.CaseReviewed) else None,
        )


async def read_log(
    store: EventStore, hall: str, after: int = 0
) -> AsyncIterator[tuple[int, list[ev.AnyEvent]]]:
    """Every record of the hall after ``after``, decoded: (seq, events)."""
    async for chunk in store.read(hall, after):
        for stored in chunk:
            yield stored.seq, ev.decode_record(stored.payload)
