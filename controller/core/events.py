"""Events: facts the engine has decided. The durable log is a sequence of these.

Each accepted command yields one *record*: a short list of events, encoded together as one
MessagePack array, appended to the log as one unit. Events are self-describing maps (tag field
``e``) so an auditor can read a log without our code; times are epoch milliseconds.
"""

from __future__ import annotations

import enum

import msgspec

from controller.config.model import PriorityClass
from controller.core.commands import (
    BookingChannel,
    ContactPurpose,
    Evidence,
    PadSignature,
    RaterKind,
    RatingChannel,
    RatingLevel,
    VerificationOutcome,
)


class Event(msgspec.Struct, frozen=True, tag_field="e", kw_only=True, gc=False):
    """``gc=False``: events hold only scalars and tuples, so they can never be part of a
    reference cycle; untracked, a replay of millions of them costs the collector nothing."""

    at: int


class TicketIssued(Event, frozen=True, tag="ticket_issued"):
    ticket: int
    number: str
    seq: int  # the daily sequence the number shows
    service: str
    day: str  # the service's business day, ISO date
    priority: PriorityClass | None = None
    appointment_id: str | None = None
    slot_start_ms: int | None = None
    slot_end_ms: int | None = None


class AppointmentRegistered(Event, frozen=True, tag="appointment_registered"):
    appointment_id: str
    service: str
    slot_start_ms: int
    slot_end_ms: int


class AppointmentBooked(Event, frozen=True, tag="appointment_booked"):
    """One place of a slot taken; name and phone sealed, ``phone_key`` their keyed hash."""

    code: str
    service: str
    slot_start_ms: int
    slot_end_ms: int
    day: str  # the slot's local date, ISO
    phone_key: str
    name_sealed: str = ""
    phone_sealed: str = ""
    channel: BookingChannel = BookingChannel.API


class AppointmentCancelled(Event, frozen=True, tag="appointment_cancelled"):
    code: str


class AppointmentRescheduled(Event, frozen=True, tag="appointment_rescheduled"):
    code: str
    slot_start_ms: int
    slot_end_ms: int
    day: str


class AppointmentMissed(Event, frozen=True, tag="appointment_missed"):
    """爽约: recorded at the daily close for a booking whose slot passed unused."""

    code: str
    phone_key: str


class BookingBlocked(Event, frozen=True, tag="booking_blocked"):
    """The 爽约 rule: this phone may not book online until ``until`` (epoch ms)."""

    phone_key: str
    until: int
    no_shows: int


class StaffLoggedIn(Event, frozen=True, tag="staff_logged_in"):
    window: int
    staff: str


class StaffLoggedOut(Event, frozen=True, tag="staff_logged_out"):
    window: int
    staff: str


class TicketCalled(Event, frozen=True, tag="ticket_called"):
    ticket: int
    number: str
    window: int
    directed: bool = False  # 指呼: called by number, not by policy


class TicketRecalled(Event, frozen=True, tag="ticket_recalled"):
    ticket: int
    number: str
    window: int
    count: int


class ServiceStarted(Event, frozen=True, tag="service_started"):
    """``implicit``: the clerk pressed finish without start; the service counts from the call."""

    ticket: int
    window: int
    implicit: bool = False


class ServiceFinished(Event, frozen=True, tag="service_finished"):
    ticket: int
    window: int
    staff: str
    service_ms: int  # suspended time excluded


class TicketNoShow(Event, frozen=True, tag="ticket_no_show"):
    ticket: int
    window: int


class ServiceSuspended(Event, frozen=True, tag="service_suspended"):
    ticket: int
    window: int


class ServiceCalledBack(Event, frozen=True, tag="service_called_back"):
    ticket: int
    number: str
    window: int


class TicketTransferred(Event, frozen=True, tag="ticket_transferred"):
    ticket: int
    from_window: int | None
    to_service: str
    to_window: int | None = None


class TicketCancelled(Event, frozen=True, tag="ticket_cancelled"):
    ticket: int
    reason: str = ""


class TicketExpired(Event, frozen=True, tag="ticket_expired"):
    ticket: int


class WindowPaused(Event, frozen=True, tag="window_paused"):
    window: int
    reason: str = ""


class PauseRequested(Event, frozen=True, tag="pause_requested"):
    """A busy window will pause when its current ticket leaves it (finished, 过号, ...)."""

    window: int
    reason: str = ""


class PauseWithdrawn(Event, frozen=True, tag="pause_withdrawn"):
    """A requested pause was called off (resume) before it took effect."""

    window: int


class WindowResumed(Event, frozen=True, tag="window_resumed"):
    window: int


class WindowServicesChanged(Event, frozen=True, tag="window_services_changed"):
    window: int
    services: tuple[tuple[str, int], ...]


class ServiceRated(Event, frozen=True, tag="service_rated"):
    ticket: int
    window: int
    staff: str
    service: str
    level: RatingLevel
    channel: RatingChannel
    reasons: tuple[str, ...] = ()
    text: str = ""
    rating_id: str = ""
    follow_up: bool = False  # 追评 (through the ticket's QR code), not the pad's first rating
    case_number: str = ""  # 办件编号: the business system's, or generated (records.py)
    rater_sealed: str = ""  # encrypted identity (controller.haochaping.privacy); "" anonymous
    rater_kind: RaterKind | None = None
    evidence: Evidence | None = None  # None: recorded before evidence was kept
    signature: PadSignature | None = None  # the pad's counter, key id and MAC (evidence SIGNED)


class CaseNumberSet(Event, frozen=True, tag="case_number_set"):
    ticket: int
    case_number: str


class CaseDeadline(enum.Enum):
    CONTACT = "contact"  # 回访
    RECTIFY = "rectify"  # 整改


class CaseOpened(Event, frozen=True, tag="case_opened"):
    """A 差评 case, opened in the same record as the bad rating; deadlines fixed here."""

    case: int
    ticket: int
    window: int
    staff: str
    service: str
    department: str  # the department's id ("" when the window names none)
    level: RatingLevel
    follow_up: bool
    contact_due: int
    rectify_due: int
    # True when a deadline counted days of a year without official holiday data (Mon-Fri used)
    deadlines_estimated: bool = False


class CaseContacted(Event, frozen=True, tag="case_contacted"):
    case: int
    by: str
    reached: bool
    note: str = ""


class CaseVerified(Event, frozen=True, tag="case_verified"):
    case: int
    by: str
    outcome: VerificationOutcome
    note: str = ""


class CaseReviewed(Event, frozen=True, tag="case_reviewed"):
    case: int
    by: str
    granted: bool
    note: str = ""


class CaseRectified(Event, frozen=True, tag="case_rectified"):
    case: int
    by: str
    note: str


class CaseClosed(Event, frozen=True, tag="case_closed"):
    case: int
    by: str
    note: str


class ContactUnsealed(Event, frozen=True, tag="contact_unsealed"):
    """A case's sealed contact was opened for 回访: by whom and why (the audit of every unseal)."""

    case: int
    by: str
    purpose: ContactPurpose = ContactPurpose.VIEW


class CaseHandedOver(Event, frozen=True, tag="case_handed_over"):
    """A destination (the 12345 hotline) took the case over under its reference (工单号)."""

    case: int
    to: str
    reference: str


class CaseEscalated(Event, frozen=True, tag="case_escalated"):
    """A deadline passed with its step undone (recorded once per case and deadline)."""

    case: int
    step: CaseDeadline
    due: int


class EvaluationMissed(Event, frozen=True, tag="evaluation_missed"):
    ticket: int
    signature: PadSignature | None = None  # the pad's signed rating_timeout; None: by time


class DayClosed(Event, frozen=True, tag="day_closed"):
    """The close of business day ``day`` (the hall's local date of its closing instant).

    ``early``: an administrator closed the day before its closing time. Older logs have no
    ``day``; the fold derives it from ``at`` (they never closed early)."""

    expired: int
    carried_over: int
    day: str = ""
    early: bool = False


class HallConfigured(Event, frozen=True, tag="hall_configured"):
    """The configuration in force from here on (recorded at start-up when it changed)."""

    text: str
    digest: str


class RequestAnswered(Event, frozen=True, tag="request_answered"):
    """The record it ends was caused by request ``rid`` of MQTT device ``device`` and answered
    by reply command ``reply`` (with ``number``; for a kiosk, ``ticket`` was printed by command
    ``printed``). A re-send of that rid within ten minutes, even after a restart, gets the same
    answer and changes nothing (docs/protocol/mqtt.md 6.2; ``controller.core.answers``)."""

    device: str
    rid: int
    reply: int
    number: str | None = None
    ticket: int | None = None
    printed: int | None = None


AnyEvent = (
    TicketIssued
    | AppointmentRegistered
    | AppointmentBooked
    | AppointmentCancelled
    | AppointmentRescheduled
    | AppointmentMissed
    | BookingBlocked
    | StaffLoggedIn
    | StaffLoggedOut
    | TicketCalled
    | TicketRecalled
    | ServiceStarted
    | ServiceFinished
    | TicketNoShow
    | ServiceSuspended
    | ServiceCalledBack
    | TicketTransferred
    | TicketCancelled
    | TicketExpired
    | WindowPaused
    | PauseRequested
    | PauseWithdrawn
    | WindowResumed
    | WindowServicesChanged
    | ServiceRated
    | CaseNumberSet
    | CaseOpened
    | CaseContacted
    | CaseVerified
    | CaseReviewed
    | CaseRectified
    | CaseClosed
    | ContactUnsealed
    | CaseHandedOver
    | CaseEscalated
    | EvaluationMissed
    | DayClosed
    | HallConfigured
    | RequestAnswered
)

_encoder = msgspec.msgpack.Encoder()
_record_decoder = msgspec.msgpack.Decoder(list[AnyEvent])
RECORD_DECODER = _record_decoder  # for replay's inlined loop
_json_encoder = msgspec.json.Encoder()


def encode_record(events: list[AnyEvent]) -> bytes:
    """One command's events as one log record."""
    return _encoder.encode(events)


def decode_record(payload: bytes) -> list[AnyEvent]:
    return _record_decoder.decode(payload)


def event_to_json(event: AnyEvent) -> bytes:
    return _json_encoder.encode(event)
