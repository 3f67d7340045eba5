"""A hall's state as a fold over its events.

``HallState.apply`` is the only code that changes state, and it only ever runs on events, so a
replay of the log rebuilds exactly the state the live engine had. It trusts its input: events
were validated by the engine when they were decided. Next-state lookups go through the
transition tables in ``controller.core.lifecycle`` so the fold and the engine agree by construction.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec

from controller.config.model import HallConfig, PriorityClass
from controller.core import events as ev
from controller.core.answers import AnsweredRequests
from controller.core.commands import (
    ContactPurpose,
    PadSignature,
    RatingLevel,
    VerificationOutcome,
)
from controller.core.lifecycle import (
    CASE_TRANSITIONS,
    EVALUATION_TRANSITIONS,
    FOLLOW_UP_TRANSITIONS,
    RECTIFY_PENDING_CASE_STATES,
    TICKET_NEXT,
    WINDOW_NEXT,
    CaseOp,
    CaseState,
    EvaluationOp,
    EvaluationState,
    FollowUpOp,
    FollowUpState,
    TicketOp,
    TicketState,
    WindowOp,
    WindowState,
)
from controller.core.queues import QueueIndex
from controller.core.schedule import latest_closing_ms, local_day

WORKING_WINDOW = frozenset({WindowState.IDLE, WindowState.CALLING, WindowState.SERVING})


class Ticket(msgspec.Struct, kw_only=True, gc=False):
    """One ticket and what happened to it so far (mutable: owned by the fold).

    ``gc=False``: scalars only, no cycles possible; a hall holds hundreds of thousands."""

    id: int
    number: str
    seq: int
    service: str
    day: str
    issued_at: int
    arrival_at: int  # kept across transfers: waiting order is by first arrival
    state: TicketState = TicketState.WAITING
    priority: PriorityClass | None = None
    appointment_id: str | None = None
    slot_start_ms: int | None = None
    slot_end_ms: int | None = None
    target_window: int | None = None
    window: int | None = None
    staff: str | None = None
    first_called_at: int | None = None
    called_at: int | None = None
    started_at: int | None = None
    done_at: int | None = None
    closed_at: int | None = None
    recalls: int = 0
    suspended_ms: int = 0
    suspended_since: int | None = None
    transfers: int = 0
    evaluation: EvaluationState = EvaluationState.NONE
    rating: RatingLevel | None = None
    rating_id: str = ""  # the pad's id of the rating, so a re-sent rating is recognised
    queue_gen: int = 0
    case_number: str = ""  # 办件编号 named by the business system
    follow_up: FollowUpState = FollowUpState.NONE


NO_DEADLINE = 2**62


class CaseStep(msgspec.Struct, frozen=True, gc=False):
    """One step of a 差评 case: what, when, who, and their note."""

    op: CaseOp
    at: int
    by: str
    note: str = ""


class ContactAccess(msgspec.Struct, frozen=True, gc=False):
    """One opening of a case's sealed contact (回访): when, by which account, why."""

    at: int
    by: str
    purpose: ContactPurpose


class Case(msgspec.Struct, kw_only=True):
    """A 差评 case (mutable: owned by the fold). Its steps are also events in the log."""

    id: int
    ticket: int
    window: int
    staff: str
    service: str
    department: str
    level: RatingLevel
    follow_up: bool
    opened_at: int
    contact_due: int
    rectify_due: int
    number: str = ""  # the ticket's number, kept here: the ticket itself may be archived
    state: CaseState = CaseState.AWAITING_CONTACT
    contacted_at: int | None = None
    reached: bool | None = None
    outcome: VerificationOutcome | None = None
    appeal_granted: bool | None = None
    rectified_at: int | None = None
    closed_at: int | None = None
    contact_escalated: bool = False
    rectify_escalated: bool = False
    deadlines_estimated: bool = False  # counted on Mon-Fri: no official calendar for a year
    hand_overs: dict[str, str] = msgspec.field(default_factory=dict)  # destination -> 工单号
    steps: list[CaseStep] = msgspec.field(default_factory=list)
    # The rater's contact, sealed (privacy.seal) as the rating carried it; "" when anonymous.
    # Views never show it; only the 回访 route opens it, after recording ContactUnsealed.
    rater_sealed: str = ""
    unseals: list[ContactAccess] = msgspec.field(default_factory=list)

    @property
    def filed_by(self) -> str | None:
        """Who sent the case for review (申诉): the account of its latest appeal step."""
        for step in reversed(self.steps):
            if step.op is CaseOp.APPEAL:
                return step.by
        return None

    def next_due(self) -> int:
        """The earliest deadline still able to pass unescalated (NO_DEADLINE if none)."""
        due = NO_DEADLINE
        if self.state is CaseState.AWAITING_CONTACT and not self.contact_escalated:
            due = self.contact_due
        if self.state in RECTIFY_PENDING_CASE_STATES and not self.rectify_escalated:
            due = min(due, self.rectify_due)
        return due


class WindowRuntime(msgspec.Struct, kw_only=True):
    number: int
    services: tuple[tuple[str, int], ...]
    state: WindowState = WindowState.LOGGED_OUT
    staff: str | None = None
    ticket: int | None = None
    since: int = 0
    suspended: list[int] = msgspec.field(default_factory=list)
    last_finished: int | None = None  # the service the window's evaluator pad may invite
    pause_pending: bool = False  # pause when the current ticket leaves (PauseRequested)
    pause_reason: str = ""  # of the pause in force or requested


class Booking(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """An active online booking (线上预约): not yet checked in, cancelled or missed."""

    code: str
    service: str
    slot_start_ms: int
    slot_end_ms: int
    day: str
    phone_key: str
    name_sealed: str = ""
    phone_sealed: str = ""
    booked_at: int = 0


class NumberCounter(msgspec.Struct, kw_only=True, gc=False):
    day: str
    next_seq: int


class Totals(msgspec.Struct, kw_only=True):
    """Running counts since the log began (live coverage: rated / finished)."""

    issued: int = 0
    called: int = 0
    finished: int = 0
    no_show: int = 0
    cancelled: int = 0
    expired: int = 0
    rated: int = 0
    not_evaluated: int = 0
    bad_ratings: int = 0
    follow_ups: int = 0
    cases_opened: int = 0
    cases_closed: int = 0
    escalations: int = 0
    ratings_struck: int = 0  # appeals granted (申诉复核): mistaken or malicious 差评


PAD_COUNTER_WINDOW = 64
"""How far below a pad's highest signed counter a message may still arrive (held ones)."""


class Snapshot(msgspec.Struct, kw_only=True):
    """The serialisable part of the state (queues are rebuilt from tickets)."""

    seq: int
    tickets: list[Ticket]
    windows: list[WindowRuntime]
    counters: dict[str, NumberCounter]
    appointments_used: list[str]
    appointments: dict[str, tuple[str, int, int]] = msgspec.field(default_factory=dict)
    pending_evaluations: list[tuple[int, int]]
    totals: Totals
    next_ticket_id: int
    clock_ms: int
    config_digest: str = ""
    last_day_closed_ms: int = 0
    opened_ms: int = 0
    cases: list[Case] = msgspec.field(default_factory=list)
    next_case_id: int = 1
    last_closed_day: str = ""
    ticket_days: list[str] = msgspec.field(default_factory=list)
    answers: list[ev.RequestAnswered] = msgspec.field(default_factory=list)
    bookings: list[Booking] = msgspec.field(default_factory=list)
    # places taken per slot, checked-in ones included: (service, slot start ms, count)
    slot_taken: list[tuple[str, int, int]] = msgspec.field(default_factory=list)
    no_shows: dict[str, list[int]] = msgspec.field(default_factory=dict)
    booking_blocks: dict[str, int] = msgspec.field(default_factory=dict)
    pad_counters: list[tuple[str, str, list[int]]] = msgspec.field(default_factory=list)


class HallState:
    """Everything the engine needs to decide, rebuilt by folding events."""

    def __init__(self, config: HallConfig) -> None:
        self.config = config
        self.tickets: dict[int, Ticket] = {}
        self.open_numbers: dict[str, int] = {}
        self.windows: dict[int, WindowRuntime] = {
            w.number: WindowRuntime(
                number=w.number, services=tuple((s.service_id, s.weight) for s in w.services)
            )
            for w in config.windows
        }
        self.staff_window: dict[str, int] = {}
        # Windows staffed and not paused, per service they serve (for waiting estimates).
        self.open_windows: dict[str, int] = {}
        # Lookups for views (the configuration's tuples are for validation, not for speed).
        self.staff_by_id = {s.id: s for s in config.staff}
        self.window_names = {w.number: w.name for w in config.windows}
        self.counters: dict[str, NumberCounter] = {}
        self.appointments_used: set[str] = set()
        # Bookings not yet checked in: code -> (service, slot start, slot end).
        self.appointments: dict[str, tuple[str, int, int]] = {}
        # Online bookings: active ones by code; places taken per (service, slot start); the
        # active codes per (phone key, service, day); 爽约 times and blocks per phone key.
        self.bookings: dict[str, Booking] = {}
        self.slot_taken: dict[tuple[str, int], int] = {}
        self.phone_bookings: dict[tuple[str, str, str], list[str]] = {}
        self.no_shows: dict[str, list[int]] = {}
        self.booking_blocks: dict[str, int] = {}
        self.waiting_by_service: dict[str, int] = {s.id: 0 for s in config.services}
        self.queues = QueueIndex()
        # (deadline ms, ticket id), in deadline order because finishes arrive in time order.
        self.pending_evaluations: deque[tuple[int, int]] = deque()
        self.totals = Totals()
        self.next_ticket_id = 1
        self.clock_ms = 0  # time of the last event applied
        self.seq = 0  # log position of the last record applied
        self.config_digest = ""
        self.last_day_closed_ms = 0  # when the last close happened
        self.last_closed_day = ""  # which business day it closed (ISO date)
        self.opened_ms = 0  # when the log began (its first configuration)
        self.ticket_days: set[str] = set()  # business days with tickets (archived ones too)
        # Told of each ticket the daily close archives (a history fold collects a day's).
        self.on_archive: Callable[[Ticket], None] | None = None
        self.cases: dict[int, Case] = {}
        self.open_cases: dict[int, Case] = {}
        self.next_case_id = 1
        self.next_case_due = NO_DEADLINE  # earliest unescalated deadline of an open case
        self.answers = AnsweredRequests()  # device requests of the last 10 minutes
        self._last_rating: tuple[int, str] = (0, "")  # (ticket, sealed rater) of the last rating
        # Signed counters recorded per (pad, key id), the last PAD_COUNTER_WINDOW: see
        # ``counter_fresh``.
        self.pad_counters: dict[tuple[str, str], list[int]] = {}
        self.evaluation_window_ms = int(
            (config.evaluation.window_seconds + config.evaluation.late_delivery_seconds) * 1000
        )
        self.follow_up_ms = config.evaluation.follow_up_days * 86_400_000
        self._handlers: dict[type[Any], Callable[[Any], None]] = {
            ev.TicketIssued: self._issued,
            ev.AppointmentRegistered: self._appointment,
            ev.AppointmentBooked: self._booked,
            ev.AppointmentCancelled: self._booking_cancelled,
            ev.AppointmentRescheduled: self._rescheduled,
            ev.AppointmentMissed: self._booking_missed,
            ev.BookingBlocked: self._booking_blocked,
            ev.StaffLoggedIn: self._logged_in,
            ev.StaffLoggedOut: self._logged_out,
            ev.TicketCalled: self._called,
            ev.TicketRecalled: self._recalled,
            ev.ServiceStarted: self._started,
            ev.ServiceFinished: self._finished,
            ev.TicketNoShow: self._no_show,
            ev.ServiceSuspended: self._suspended,
            ev.ServiceCalledBack: self._called_back,
            ev.TicketTransferred: self._transferred,
            ev.TicketCancelled: self._cancelled,
            ev.TicketExpired: self._expired,
            ev.WindowPaused: self._paused,
            ev.WindowResumed: self._resumed,
            ev.PauseRequested: self._pause_requested,
            ev.PauseWithdrawn: self._pause_withdrawn,
            ev.WindowServicesChanged: self._services_changed,
            ev.ServiceRated: self._rated,
            ev.CaseNumberSet: self._case_number_set,
            ev.CaseOpened: self._case_opened,
            ev.CaseContacted: self._case_contacted,
            ev.CaseVerified: self._case_verified,
            ev.CaseReviewed: self._case_reviewed,
            ev.CaseRectified: self._case_rectified,
            ev.CaseClosed: self._case_closed,
            ev.CaseHandedOver: self._case_handed_over,
            ev.CaseEscalated: self._case_escalated,
            ev.ContactUnsealed: self._contact_unsealed,
            ev.EvaluationMissed: self._missed,
            ev.DayClosed: self._day_closed,
            ev.HallConfigured: self._configured,
            ev.RequestAnswered: self.answers.add,
        }

    # -- folding -------------------------------------------------------------------------

    @property
    def handlers(self) -> dict[type[Any], Callable[[Any], None]]:
        """Event type -> fold step (replay calls them directly)."""
        return self._handlers

    def apply(self, event: ev.AnyEvent) -> None:
        self._handlers[type(event)](event)
        self.clock_ms = event.at

    def apply_all(self, events: list[ev.AnyEvent]) -> None:
        handlers = self._handlers
        for event in events:
            handlers[type(event)](event)
        if events:
            self.clock_ms = events[-1].at

    def _ticket_to(self, ticket: Ticket, op: TicketOp) -> None:
        old = ticket.state
        ticket.state = new = TICKET_NEXT[op][old]
        if old is TicketState.WAITING and new is not TicketState.WAITING:
            self.waiting_by_service[ticket.service] -= 1

    def _window_to(self, window: WindowRuntime, op: WindowOp, at: int) -> None:
        old_state = window.state
        new_state = WINDOW_NEXT[op][old_state]
        if new_state is not old_state:
            window.since = at
            was_open, is_open = old_state in WORKING_WINDOW, new_state in WORKING_WINDOW
            if was_open != is_open:
                self._count_open(window, 1 if is_open else -1)
        window.state = new_state

    def _count_open(self, window: WindowRuntime, delta: int) -> None:
        open_windows = self.open_windows
        for service, _ in window.services:
            open_windows[service] = open_windows.get(service, 0) + delta

    def _close(self, ticket: Ticket, at: int) -> None:
        ticket.closed_at = at
        if self.open_numbers.get(ticket.number) == ticket.id:
            del self.open_numbers[ticket.number]

    def _enqueue(self, ticket: Ticket) -> None:
        self.waiting_by_service[ticket.service] = self.waiting_by_service.get(ticket.service, 0) + 1
        self.queues.enqueue(ticket)

    def _issued(self, e: ev.TicketIssued) -> None:
        ticket = Ticket(
            id=e.ticket,
            number=e.number,
            seq=e.seq,
            service=e.service,
            day=e.day,
            issued_at=e.at,
            arrival_at=e.at,
            priority=e.priority,
            appointment_id=e.appointment_id,
            slot_start_ms=e.slot_start_ms,
            slot_end_ms=e.slot_end_ms,
        )
        self.tickets[e.ticket] = ticket
        self.open_numbers[e.number] = e.ticket
        self.ticket_days.add(e.day)
        counter = self.counters.get(e.service)
        if counter is not None and counter.day == e.day:
            counter.next_seq = e.seq + 1
        else:
            self.counters[e.service] = NumberCounter(day=e.day, next_seq=e.seq + 1)
        if e.appointment_id is not None:
            self.appointments_used.add(e.appointment_id)
            self.appointments.pop(e.appointment_id, None)
            booking = self.bookings.get(e.appointment_id)
            if booking is not None:  # checked in: the place stays used, the booking ends
                self._end_booking(booking, free_place=False)
        self.next_ticket_id = e.ticket + 1
        self.totals.issued += 1
        self._enqueue(ticket)

    def _logged_in(self, e: ev.StaffLoggedIn) -> None:
        window = self._win(e.window)
        self._window_to(window, WindowOp.LOGIN, e.at)
        window.staff = e.staff
        self.staff_window[e.staff] = e.window

    def _logged_out(self, e: ev.StaffLoggedOut) -> None:
        window = self._win(e.window)
        self._window_to(window, WindowOp.LOGOUT, e.at)
        window.staff = None
        window.pause_pending, window.pause_reason = False, ""
        self.staff_window.pop(e.staff, None)

    def _called(self, e: ev.TicketCalled) -> None:
        ticket = self.tickets[e.ticket]
        window = self._win(e.window)
        self._ticket_to(ticket, TicketOp.CALL)
        self._window_to(window, WindowOp.CALL, e.at)
        window.ticket = ticket.id
        ticket.window = e.window
        ticket.staff = window.staff
        ticket.called_at = e.at
        ticket.recalls = 0
        ticket.target_window = None
        if ticket.first_called_at is None:
            ticket.first_called_at = e.at
        self.totals.called += 1

    def _recalled(self, e: ev.TicketRecalled) -> None:
        ticket = self.tickets[e.ticket]
        self._ticket_to(ticket, TicketOp.RECALL)
        self._window_to(self._win(e.window), WindowOp.RECALL, e.at)
        ticket.recalls = e.count

    def _started(self, e: ev.ServiceStarted) -> None:
        ticket = self.tickets[e.ticket]
        self._ticket_to(ticket, TicketOp.START)
        self._window_to(self._win(e.window), WindowOp.START, e.at)
        ticket.started_at = ticket.called_at if e.implicit and ticket.called_at else e.at

    def _finished(self, e: ev.ServiceFinished) -> None:
        ticket = self.tickets[e.ticket]
        window = self._win(e.window)
        self._ticket_to(ticket, TicketOp.FINISH)
        self._window_to(window, WindowOp.FINISH, e.at)
        window.ticket = None
        window.last_finished = ticket.id
        ticket.done_at = e.at
        ticket.staff = e.staff
        ticket.evaluation = EVALUATION_TRANSITIONS[(ticket.evaluation, EvaluationOp.INVITE)]
        ticket.follow_up = FOLLOW_UP_TRANSITIONS[(ticket.follow_up, FollowUpOp.OFFER)]
        self.pending_evaluations.append((e.at + self.evaluation_window_ms, ticket.id))
        self._close(ticket, e.at)
        self.totals.finished += 1

    def _no_show(self, e: ev.TicketNoShow) -> None:
        ticket = self.tickets[e.ticket]
        window = self._win(e.window)
        self._ticket_to(ticket, TicketOp.NO_SHOW)
        self._window_to(window, WindowOp.NO_SHOW, e.at)
        window.ticket = None
        self._close(ticket, e.at)
        self.totals.no_show += 1

    def _suspended(self, e: ev.ServiceSuspended) -> None:
        ticket = self.tickets[e.ticket]
        window = self._win(e.window)
        self._ticket_to(ticket, TicketOp.SUSPEND)
        self._window_to(window, WindowOp.SUSPEND, e.at)
        window.ticket = None
        window.suspended.append(ticket.id)
        ticket.suspended_since = e.at

    def _called_back(self, e: ev.ServiceCalledBack) -> None:
        ticket = self.tickets[e.ticket]
        window = self._win(e.window)
        self._ticket_to(ticket, TicketOp.CALL_BACK)
        self._window_to(window, WindowOp.CALL_BACK, e.at)
        window.ticket = ticket.id
        window.suspended.remove(ticket.id)
        if ticket.suspended_since is not None:
            ticket.suspended_ms += e.at - ticket.suspended_since
        ticket.suspended_since = None

    def _transferred(self, e: ev.TicketTransferred) -> None:
        ticket = self.tickets[e.ticket]
        came_from_window = ticket.state is not TicketState.WAITING
        if not came_from_window:
            self.waiting_by_service[ticket.service] -= 1  # re-counted under the new service
        if came_from_window and e.from_window is not None:
            window = self._win(e.from_window)
            self._window_to(window, WindowOp.TRANSFER, e.at)
            window.ticket = None
        self._ticket_to(ticket, TicketOp.TRANSFER)
        if came_from_window:
            ticket.priority = PriorityClass.TRANSFER
            ticket.window = None
            ticket.started_at = None
            ticket.suspended_ms = 0
        ticket.service = e.to_service
        ticket.target_window = e.to_window
        ticket.transfers += 1
        self._enqueue(ticket)

    def _release_window_of(self, ticket: Ticket, at: int) -> None:
        """A called ticket leaving without service frees its window; a suspended one is
        struck off its window's list."""
        if ticket.window is None:
            return
        window = self._win(ticket.window)
        if ticket.state is TicketState.CALLED and window.ticket == ticket.id:
            self._window_to(window, WindowOp.RELEASE, at)
            window.ticket = None
        elif ticket.state is TicketState.SUSPENDED and ticket.id in window.suspended:
            window.suspended.remove(ticket.id)

    def _cancelled(self, e: ev.TicketCancelled) -> None:
        ticket = self.tickets[e.ticket]
        self._release_window_of(ticket, e.at)
        self._ticket_to(ticket, TicketOp.CANCEL)
        self._close(ticket, e.at)
        self.totals.cancelled += 1

    def _expired(self, e: ev.TicketExpired) -> None:
        ticket = self.tickets[e.ticket]
        self._release_window_of(ticket, e.at)
        self._ticket_to(ticket, TicketOp.EXPIRE)
        self._close(ticket, e.at)
        self.totals.expired += 1

    def _paused(self, e: ev.WindowPaused) -> None:
        window = self._win(e.window)
        self._window_to(window, WindowOp.PAUSE, e.at)
        window.pause_pending, window.pause_reason = False, e.reason

    def _resumed(self, e: ev.WindowResumed) -> None:
        window = self._win(e.window)
        self._window_to(window, WindowOp.RESUME, e.at)
        window.pause_reason = ""

    def _pause_requested(self, e: ev.PauseRequested) -> None:
        window = self._win(e.window)
        window.pause_pending, window.pause_reason = True, e.reason

    def _pause_withdrawn(self, e: ev.PauseWithdrawn) -> None:
        window = self._win(e.window)
        window.pause_pending, window.pause_reason = False, ""

    def _services_changed(self, e: ev.WindowServicesChanged) -> None:
        window = self._win(e.window)
        if window.state in WORKING_WINDOW:
            self._count_open(window, -1)
            window.services = e.services
            self._count_open(window, 1)
        else:
            window.services = e.services

    def _rated(self, e: ev.ServiceRated) -> None:
        self._last_rating = (e.ticket, e.rater_sealed)  # its case, if any, follows in the record
        ticket = self.tickets[e.ticket]
        if e.follow_up:
            ticket.follow_up = FOLLOW_UP_TRANSITIONS[(ticket.follow_up, FollowUpOp.RATE)]
            self.totals.follow_ups += 1
            if e.level.is_bad:
                self.totals.bad_ratings += 1
            return
        ticket.evaluation = EVALUATION_TRANSITIONS[(ticket.evaluation, EvaluationOp.RATE)]
        ticket.rating = e.level
        ticket.rating_id = e.rating_id
        self._counted(e.signature)
        self.totals.rated += 1
        if e.level.is_bad:
            self.totals.bad_ratings += 1
        self._trim_pending_evaluations()

    def _missed(self, e: ev.EvaluationMissed) -> None:
        ticket = self.tickets[e.ticket]
        ticket.evaluation = EVALUATION_TRANSITIONS[(ticket.evaluation, EvaluationOp.MISS)]
        self.totals.not_evaluated += 1
        self._counted(e.signature)
        self._trim_pending_evaluations()

    def _counted(self, signature: PadSignature | None) -> None:
        if signature is None:
            return
        recent = self.pad_counters.setdefault((signature.device, signature.key_id), [])
        bisect.insort(recent, signature.counter)
        floor = recent[-1] - PAD_COUNTER_WINDOW
        while recent[0] <= floor:
            recent.pop(0)

    def pad_counter(self, device: str, key_id: str) -> int:
        """The highest signed counter recorded for this pad and key (0: none yet)."""
        recent = self.pad_counters.get((device, key_id))
        return recent[-1] if recent else 0

    def counter_fresh(self, device: str, key_id: str, counter: int) -> bool:
        """A signed counter is accepted once: above the highest recorded minus the window
        (a rating held through a link loss may arrive after a newer message) and not recorded
        yet. Anything else is a copy of an old message."""
        recent = self.pad_counters.get((device, key_id), [])
        if recent and counter <= recent[-1] - PAD_COUNTER_WINDOW:
            return False
        index = bisect.bisect_left(recent, counter)
        return index == len(recent) or recent[index] != counter

    # -- 差评 cases ---------------------------------------------------------------------------

    def _case_number_set(self, e: ev.CaseNumberSet) -> None:
        self.tickets[e.ticket].case_number = e.case_number

    def _case_opened(self, e: ev.CaseOpened) -> None:
        case = Case(
            id=e.case,
            ticket=e.ticket,
            window=e.window,
            staff=e.staff,
            service=e.service,
            department=e.department,
            level=e.level,
            follow_up=e.follow_up,
            opened_at=e.at,
            contact_due=e.contact_due,
            rectify_due=e.rectify_due,
            deadlines_estimated=e.deadlines_estimated,
            number=self.tickets[e.ticket].number,
            rater_sealed=self._last_rating[1] if self._last_rating[0] == e.ticket else "",
        )
        self.cases[e.case] = self.open_cases[e.case] = case
        self.next_case_id = e.case + 1
        self.totals.cases_opened += 1
        self.next_case_due = min(self.next_case_due, case.next_due())

    def _case_step(self, case_id: int, op: CaseOp, at: int, by: str, note: str) -> Case:
        case = self.cases[case_id]
        case.state = CASE_TRANSITIONS[(case.state, op)]
        case.steps.append(CaseStep(op=op, at=at, by=by, note=note))
        if case.state is CaseState.CLOSED:
            self.open_cases.pop(case_id, None)
            self.totals.cases_closed += 1
        self._refresh_case_due()
        return case

    def _refresh_case_due(self) -> None:
        self.next_case_due = min(
            (c.next_due() for c in self.open_cases.values()), default=NO_DEADLINE
        )

    def _case_contacted(self, e: ev.CaseContacted) -> None:
        case = self._case_step(e.case, CaseOp.CONTACT, e.at, e.by, e.note)
        case.contacted_at = e.at
        case.reached = e.reached

    def _case_verified(self, e: ev.CaseVerified) -> None:
        op = (
            CaseOp.APPEAL
            if e.outcome.is_appeal
            else CaseOp.UPHOLD
            if e.outcome is VerificationOutcome.UPHELD
            else CaseOp.EXPLAIN
        )
        self._case_step(e.case, op, e.at, e.by, e.note).outcome = e.outcome

    def _case_reviewed(self, e: ev.CaseReviewed) -> None:
        op = CaseOp.GRANT_APPEAL if e.granted else CaseOp.REFUSE_APPEAL
        self._case_step(e.case, op, e.at, e.by, e.note).appeal_granted = e.granted
        if e.granted:
            self.totals.ratings_struck += 1

    def _case_rectified(self, e: ev.CaseRectified) -> None:
        self._case_step(e.case, CaseOp.RECTIFY, e.at, e.by, e.note).rectified_at = e.at

    def _case_closed(self, e: ev.CaseClosed) -> None:
        self._case_step(e.case, CaseOp.CLOSE, e.at, e.by, e.note).closed_at = e.at

    def _contact_unsealed(self, e: ev.ContactUnsealed) -> None:
        self.cases[e.case].unseals.append(ContactAccess(at=e.at, by=e.by, purpose=e.purpose))

    def _case_handed_over(self, e: ev.CaseHandedOver) -> None:
        case = self.cases.get(e.case)
        if case is not None:
            case.hand_overs[e.to] = e.reference

    def _case_escalated(self, e: ev.CaseEscalated) -> None:
        case = self._case_step(e.case, CaseOp.ESCALATE, e.at, "hallctl", e.step.value)
        if e.step is ev.CaseDeadline.CONTACT:
            case.contact_escalated = True
        else:
            case.rectify_escalated = True
        self.totals.escalations += 1
        self._refresh_case_due()

    def _trim_pending_evaluations(self) -> None:
        """Drop settled evaluations from the front, so the front is always awaiting."""
        pending = self.pending_evaluations
        tickets = self.tickets
        while pending and tickets[pending[0][1]].evaluation is not EvaluationState.AWAITING:
            pending.popleft()

    def _day_closed(self, e: ev.DayClosed) -> None:
        # Numbering is not reset here: it restarts with each service's business day
        # (``daily_reset``), so a ticket taken after the close never repeats a number of the day.
        self.appointments_used.clear()
        held = {(b.service, b.slot_start_ms) for b in self.bookings.values()}
        for slot in [k for k in self.slot_taken if k[1] < e.at and k not in held]:
            del self.slot_taken[slot]  # started before the close: never bookable again
        for code in [c for c, (_, _, end) in self.appointments.items() if end < e.at]:
            del self.appointments[code]  # a booking whose slot passed unused is void
        self.last_day_closed_ms = e.at
        self.last_closed_day = e.day or closed_day_of(self.config, e.at)
        self._archive(e.at)

    def _archive(self, at: int) -> None:
        """Finished tickets leave the live state at the close (the log keeps them), so it
        stays as large as a few days' traffic however long the hall runs.

        Kept while still referenced: an evaluation still awaited, a 追评 still possible
        (``follow_up_days`` after the finish), an open 差评 case's ticket, a window's last finished
        service (its pad's invitation). Open tickets (waiting, called, serving, suspended,
        carried over) are never archived. The queue heaps are rebuilt to drop dead entries.
        """
        keep = {c.ticket for c in self.open_cases.values()}
        keep.update(w.last_finished for w in self.windows.values() if w.last_finished is not None)
        horizon = at - self.follow_up_ms
        tickets = self.tickets
        archived = [
            t.id
            for t in tickets.values()
            if t.closed_at is not None
            and t.evaluation is not EvaluationState.AWAITING
            and not (
                t.follow_up is FollowUpState.AVAILABLE
                and t.done_at is not None
                and t.done_at >= horizon
            )
            and t.id not in keep
        ]
        hook = self.on_archive
        for ticket_id in archived:
            if hook is not None:
                hook(tickets[ticket_id])
            del tickets[ticket_id]
        self.pending_evaluations = deque(
            (d, t)
            for d, t in self.pending_evaluations
            if tickets[t].evaluation is EvaluationState.AWAITING
        )
        self.queues = QueueIndex()
        for ticket in sorted(tickets.values(), key=lambda t: t.id):
            if ticket.state is TicketState.WAITING:
                self.queues.enqueue(ticket)

    def is_archived(self, ticket_id: int) -> bool:
        """A ticket that existed and left the live state at a daily close (final, unreferenced)."""
        return 0 < ticket_id < self.next_ticket_id and ticket_id not in self.tickets

    def _appointment(self, e: ev.AppointmentRegistered) -> None:
        self.appointments[e.appointment_id] = (e.service, e.slot_start_ms, e.slot_end_ms)

    # -- online bookings -------------------------------------------------------------------

    def _booked(self, e: ev.AppointmentBooked) -> None:
        booking = Booking(
            code=e.code,
            service=e.service,
            slot_start_ms=e.slot_start_ms,
            slot_end_ms=e.slot_end_ms,
            day=e.day,
            phone_key=e.phone_key,
            name_sealed=e.name_sealed,
            phone_sealed=e.phone_sealed,
            booked_at=e.at,
        )
        self._start_booking(booking)

    def _start_booking(self, booking: Booking, *, take_place: bool = True) -> None:
        self.bookings[booking.code] = booking
        if take_place:
            slot = (booking.service, booking.slot_start_ms)
            self.slot_taken[slot] = self.slot_taken.get(slot, 0) + 1
        key = (booking.phone_key, booking.service, booking.day)
        self.phone_bookings.setdefault(key, []).append(booking.code)
        # the kiosk checks in by code through the same table as registered bookings
        self.appointments[booking.code] = (
            booking.service,
            booking.slot_start_ms,
            booking.slot_end_ms,
        )

    def _end_booking(self, booking: Booking, *, free_place: bool) -> None:
        del self.bookings[booking.code]
        self.appointments.pop(booking.code, None)
        if free_place:
            slot = (booking.service, booking.slot_start_ms)
            left = self.slot_taken[slot] - 1
            if left:
                self.slot_taken[slot] = left
            else:
                del self.slot_taken[slot]
        key = (booking.phone_key, booking.service, booking.day)
        codes = self.phone_bookings[key]
        codes.remove(booking.code)
        if not codes:
            del self.phone_bookings[key]

    def _booking_cancelled(self, e: ev.AppointmentCancelled) -> None:
        self._end_booking(self.bookings[e.code], free_place=True)

    def _rescheduled(self, e: ev.AppointmentRescheduled) -> None:
        old = self.bookings[e.code]
        self._end_booking(old, free_place=True)
        self._start_booking(
            msgspec.structs.replace(
                old, slot_start_ms=e.slot_start_ms, slot_end_ms=e.slot_end_ms, day=e.day
            )
        )

    def _booking_missed(self, e: ev.AppointmentMissed) -> None:
        booking = self.bookings[e.code]
        self._end_booking(booking, free_place=False)  # the slot has passed anyway
        horizon = e.at - self.config.appointments.no_show_days * 86_400_000
        times = [t for t in self.no_shows.get(e.phone_key, ()) if t > horizon]
        times.append(e.at)
        self.no_shows[e.phone_key] = times

    def _booking_blocked(self, e: ev.BookingBlocked) -> None:
        self.booking_blocks[e.phone_key] = e.until
        self.no_shows.pop(e.phone_key, None)  # the block served them; counting starts afresh

    def recent_no_shows(self, phone_key: str, now: int) -> int:
        horizon = now - self.config.appointments.no_show_days * 86_400_000
        return sum(1 for t in self.no_shows.get(phone_key, ()) if t > horizon)

    def _configured(self, e: ev.HallConfigured) -> None:
        self.config_digest = e.digest
        if not self.opened_ms:
            self.opened_ms = e.at

    def _win(self, number: int) -> WindowRuntime:
        """A window by number; one no longer configured is kept so its history folds."""
        window = self.windows.get(number)
        if window is None:
            window = self.windows[number] = WindowRuntime(number=number, services=())
        return window

    # -- snapshots -------------------------------------------------------------------------

    def to_snapshot(self, tickets: list[Ticket] | None = None) -> Snapshot:
        """The state as a snapshot (``tickets``: instead of the live tickets, e.g. none)."""
        return Snapshot(
            seq=self.seq,
            tickets=list(self.tickets.values()) if tickets is None else tickets,
            windows=list(self.windows.values()),
            counters=dict(self.counters),
            appointments_used=sorted(self.appointments_used),
            appointments=dict(self.appointments),
            pending_evaluations=list(self.pending_evaluations),
            totals=self.totals,
            next_ticket_id=self.next_ticket_id,
            clock_ms=self.clock_ms,
            config_digest=self.config_digest,
            last_day_closed_ms=self.last_day_closed_ms,
            opened_ms=self.opened_ms,
            cases=list(self.cases.values()),
            next_case_id=self.next_case_id,
            last_closed_day=self.last_closed_day,
            ticket_days=sorted(self.ticket_days),
            answers=self.answers.to_list(),
            bookings=sorted(self.bookings.values(), key=lambda b: b.code),
            slot_taken=sorted((s, t, n) for (s, t), n in self.slot_taken.items()),
            no_shows={k: list(v) for k, v in sorted(self.no_shows.items())},
            booking_blocks=dict(sorted(self.booking_blocks.items())),
            pad_counters=[(d, k, list(n)) for (d, k), n in sorted(self.pad_counters.items())],
        )

    @classmethod
    def from_snapshot(cls, config: HallConfig, snap: Snapshot) -> HallState:
        state = cls(config)
        state.seq = snap.seq
        state.next_ticket_id = snap.next_ticket_id
        state.clock_ms = snap.clock_ms
        state.totals = snap.totals
        state.config_digest = snap.config_digest
        state.last_day_closed_ms = snap.last_day_closed_ms
        state.last_closed_day = snap.last_closed_day or (
            closed_day_of(config, snap.last_day_closed_ms) if snap.last_day_closed_ms else ""
        )
        state.opened_ms = snap.opened_ms
        state.counters = dict(snap.counters)
        state.pad_counters = {(d, k): sorted(n) for d, k, n in snap.pad_counters}
        state.ticket_days = set(snap.ticket_days) | {t.day for t in snap.tickets}
        state.appointments_used = set(snap.appointments_used)
        state.appointments = {k: (s, a, b) for k, (s, a, b) in snap.appointments.items()}
        state.pending_evaluations = deque((d, t) for d, t in snap.pending_evaluations)
        for window in snap.windows:
            state.windows[window.number] = window
            if window.staff is not None:
                state.staff_window[window.staff] = window.number
            if window.state in WORKING_WINDOW:
                state._count_open(window, 1)
        waiting = sorted(
            (t for t in snap.tickets if t.state is TicketState.WAITING), key=lambda t: t.id
        )
        for ticket in snap.tickets:
            state.tickets[ticket.id] = ticket
            if ticket.closed_at is None:
                state.open_numbers[ticket.number] = ticket.id
        for ticket in waiting:
            state._enqueue(ticket)
        state.next_case_id = snap.next_case_id
        for case in snap.cases:
            state.cases[case.id] = case
            if case.state is not CaseState.CLOSED:
                state.open_cases[case.id] = case
        state._refresh_case_due()
        for answer in snap.answers:
            state.answers.add(answer)
        for booking in snap.bookings:
            state._start_booking(booking, take_place=False)
        state.slot_taken = {(s, t): n for s, t, n in snap.slot_taken}
        state.no_shows = {k: list(v) for k, v in snap.no_shows.items()}
        state.booking_blocks = dict(snap.booking_blocks)
        return state

    # -- comparison (replay equivalence) -----------------------------------------------------

    def fingerprint(self) -> bytes:
        """A canonical encoding of the semantic state (queue heaps excluded)."""
        snap = self.to_snapshot()
        tickets = [msgspec.structs.replace(t, queue_gen=0) for t in snap.tickets]
        snap = msgspec.structs.replace(snap, seq=0, tickets=sorted(tickets, key=lambda t: t.id))
        return msgspec.msgpack.encode(snap)


def closed_day_of(config: HallConfig, closed_at: int) -> str:
    """The business day a close at ``closed_at`` settled, for logs written before
    ``DayClosed`` named it (they only closed at or after the closing time)."""
    return local_day(config.hall, latest_closing_ms(config.hall, closed_at))


SNAPSHOT_DECODER = msgspec.msgpack.Decoder(Snapshot)
SNAPSHOT_ENCODER = msgspec.msgpack.Encoder()
