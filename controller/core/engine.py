"""The hall engine: command + time in, events out. Pure, synchronous, deterministic.

Theory of operation: ``decide`` reads the state, checks the command against the lifecycle
tables and either raises ``Rejected`` (nothing changes) or returns the events that record what
happens. ``handle`` is ``decide`` followed by folding those events into the state; the daemon
calls it on the hot path, appends the events to the durable log, and only then tells devices.
There is no I/O and no clock here: ``now`` (epoch milliseconds) comes with every command, so a
test or a replay reproduces every decision exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from controller.config.model import (
    HallConfig,
    LateArrival,
    LeftoverPolicy,
    PriorityClass,
    Service,
)
from controller.core import commands as cmd
from controller.core import events as ev
from controller.core import workdays
from controller.core.booking import SlotPlan, clock_text, date_text
from controller.core.case_numbers import generated_case_number, valid_case_number
from controller.core.lifecycle import (
    CASE_TRANSITIONS,
    EVALUATION_TRANSITIONS,
    FOLLOW_UP_TRANSITIONS,
    RECTIFY_PENDING_CASE_STATES,
    TICKET_TRANSITIONS,
    WINDOW_TRANSITIONS,
    CaseOp,
    CaseState,
    EvaluationOp,
    EvaluationState,
    FollowUpOp,
    FollowUpState,
    Rejected,
    RejectReason,
    TicketOp,
    TicketState,
    WindowOp,
    WindowState,
)
from controller.core.policy import CallingPolicyEngine
from controller.core.schedule import due_day, local_day
from controller.core.state import Booking, Case, HallState, Ticket, WindowRuntime
from controller.core.workdays import CalendarCoverage, WorkCalendar

R = RejectReason

MAX_RATING_TEXT = 500
MAX_ACTOR = 64
MAX_NOTE = 2000
MAX_PAUSE_REASON = 40
DAY_MS = 86_400_000


class BusinessDayClock:
    """Maps epoch ms to a service's business day (its numbering resets at ``daily_reset``).

    Caches the current day's boundaries, so issuing a ticket costs two comparisons, not a
    time-zone conversion.
    """

    def __init__(self, tz: ZoneInfo, service: Service) -> None:
        self._tz = tz
        self._offset = timedelta(hours=service.daily_reset.hour, minutes=service.daily_reset.minute)
        self._lo = 0
        self._hi = -1
        self._day = ""

    def day(self, now_ms: int) -> str:
        if self._lo <= now_ms < self._hi:
            return self._day
        local = datetime.fromtimestamp(now_ms / 1000, self._tz) - self._offset
        day = local.date()
        self._day = day.isoformat()
        self._lo = self._boundary(day)
        self._hi = self._boundary(day + timedelta(days=1))
        return self._day

    def _boundary(self, day: date) -> int:
        start = datetime(day.year, day.month, day.day, tzinfo=self._tz) + self._offset
        return int(start.timestamp() * 1000)


class HallEngine:
    """Decides commands for one hall and folds the resulting events into its state."""

    def __init__(self, config: HallConfig, state: HallState | None = None) -> None:
        self.config = config
        self.state = state if state is not None else HallState(config)
        self.policy = CallingPolicyEngine(config.policy)
        tz = ZoneInfo(config.hall.timezone)
        self._services = {s.id: s for s in config.services}
        self._day_clocks = {s.id: BusinessDayClock(tz, s) for s in config.services}
        self._staff = {s.id for s in config.staff}
        evaluation = config.evaluation
        self._tz = tz
        self._reasons = {r.id for r in evaluation.reasons}
        self._calendar = WorkCalendar(
            evaluation.holidays, evaluation.adjusted_workdays, evaluation.calendar_years
        )
        self._follow_up_ms = evaluation.follow_up_days * DAY_MS
        self.slots = SlotPlan(config.appointments, self._calendar, tz)
        self.early_ms = int(config.policy.appointment_early_minutes * 60_000)
        self._late_ms = int(config.policy.appointment_late_minutes * 60_000)
        self._deciders: dict[type[Any], Callable[[Any, int], list[ev.AnyEvent]]] = {
            cmd.IssueTicket: self._issue,
            cmd.RegisterAppointment: self._register_appointment,
            cmd.BookAppointment: self._book,
            cmd.CancelAppointment: self._cancel_booking,
            cmd.RescheduleAppointment: self._reschedule,
            cmd.Login: self._login,
            cmd.Logout: self._logout,
            cmd.CallNext: self._call_next,
            cmd.Recall: self._recall,
            cmd.CallNumber: self._call_number,
            cmd.Start: self._start,
            cmd.Finish: self._finish,
            cmd.NoShow: self._no_show,
            cmd.Suspend: self._suspend,
            cmd.CallBack: self._call_back,
            cmd.Transfer: self._transfer,
            cmd.TransferTicket: self._transfer_ticket,
            cmd.CancelTicket: self._cancel,
            cmd.Pause: self._pause,
            cmd.Resume: self._resume,
            cmd.SetWindowServices: self._set_services,
            cmd.Rate: self._rate,
            cmd.FollowUpRate: self._follow_up_rate,
            cmd.SetCaseNumber: self._set_case_number,
            cmd.ContactCase: self._contact_case,
            cmd.VerifyCase: self._verify_case,
            cmd.ReviewCase: self._review_case,
            cmd.RectifyCase: self._rectify_case,
            cmd.CloseCase: self._close_case,
            cmd.UnsealContact: self._unseal_contact,
            cmd.RecordHandOver: self._record_hand_over,
            cmd.MissEvaluation: self._miss,
            cmd.Tick: self._tick,
            cmd.CloseDay: self._close_day,
        }

    # -- public --------------------------------------------------------------------------

    def decide(self, command: cmd.AnyCommand, now: int) -> list[ev.AnyEvent]:
        """The events ``command`` causes at ``now``; raises ``Rejected`` and changes nothing."""
        events = self._deciders[type(command)](command, now)
        return self._with_due_pauses(events, now)

    def handle(self, command: cmd.AnyCommand, now: int) -> list[ev.AnyEvent]:
        """Decide and fold: the state afterwards includes the returned events."""
        events = self.decide(command, now)
        self.state.apply_all(events)
        return events

    def _with_due_pauses(self, events: list[ev.AnyEvent], now: int) -> list[ev.AnyEvent]:
        """Append the pause of each window with a pending pause that ``events`` leave idle."""
        windows = self.state.windows
        freed = [w for w in self._freed_windows(events) if windows[w].pause_pending]
        return events + [
            ev.WindowPaused(at=now, window=w, reason=windows[w].pause_reason)
            for w in dict.fromkeys(freed)
        ]

    def _freed_windows(self, events: list[ev.AnyEvent]) -> list[int]:
        """Windows whose current ticket leaves them in ``events`` (they go idle)."""
        freed: list[int] = []
        for e in events:
            if isinstance(e, ev.ServiceFinished | ev.TicketNoShow | ev.ServiceSuspended):
                freed.append(e.window)
            elif isinstance(e, ev.TicketTransferred) and e.from_window is not None:
                freed.append(e.from_window)
            elif isinstance(e, ev.TicketCancelled | ev.TicketExpired):
                ticket = self.state.tickets.get(e.ticket)
                if ticket is not None and ticket.window is not None:
                    window = self.state.windows.get(ticket.window)
                    if window is not None and window.ticket == ticket.id:
                        freed.append(ticket.window)
        return freed

    # -- lookups that reject -------------------------------------------------------------

    def _window(self, number: int) -> WindowRuntime:
        window = self.state.windows.get(number)
        if window is None:
            raise Rejected(R.UNKNOWN_WINDOW, f"window {number} is not configured")
        return window

    def _staffed_window(self, number: int, op: WindowOp) -> WindowRuntime:
        """A logged-in window for which ``op`` is legal now."""
        window = self._window(number)
        if (window.state, op) in WINDOW_TRANSITIONS:
            return window
        if window.state is WindowState.LOGGED_OUT:
            raise Rejected(R.WINDOW_LOGGED_OUT, f"window {number} has nobody logged in")
        if window.state is WindowState.PAUSED:
            raise Rejected(R.WINDOW_PAUSED, f"window {number} is paused")
        if window.ticket is None and op in _NEEDS_TICKET:
            raise Rejected(R.NO_TICKET_AT_WINDOW, f"window {number} has no ticket called")
        raise Rejected(
            R.WINDOW_BUSY,
            f"window {number} is {window.state.value}; cannot {op.value}",
            window=number,
            state=window.state.value,
        )

    def _current_ticket(self, window: WindowRuntime) -> Ticket:
        assert window.ticket is not None  # guaranteed by the window table
        return self.state.tickets[window.ticket]

    def _ticket(self, ticket_id: int, archived: RejectReason = R.TICKET_CLOSED) -> Ticket:
        """A live ticket; one archived at a daily close is refused with ``archived``."""
        ticket = self.state.tickets.get(ticket_id)
        if ticket is None:
            if self.state.is_archived(ticket_id):
                raise Rejected(archived, f"ticket {ticket_id} was closed on an earlier day")
            raise Rejected(R.UNKNOWN_TICKET, f"no ticket with id {ticket_id}")
        return ticket

    def _open_ticket_by_number(self, number: str) -> Ticket:
        ticket_id = self.state.open_numbers.get(number)
        if ticket_id is None:
            raise Rejected(R.UNKNOWN_TICKET, f"no open ticket {number}")
        return self.state.tickets[ticket_id]

    @staticmethod
    def _check_ticket(ticket: Ticket, op: TicketOp) -> None:
        if (ticket.state, op) not in TICKET_TRANSITIONS:
            reason = R.TICKET_CLOSED if ticket.closed_at is not None else R.ILLEGAL_TRANSITION
            raise Rejected(
                reason, f"ticket {ticket.number} is {ticket.state.value}; cannot {op.value}"
            )

    # -- tickets -------------------------------------------------------------------------

    def _issue(self, c: cmd.IssueTicket, now: int) -> list[ev.AnyEvent]:
        service = self._services.get(c.service)
        if service is None:
            raise Rejected(R.UNKNOWN_SERVICE, f"no service {c.service!r}")
        priority: PriorityClass | None = None
        slot_start, slot_end = c.slot_start_ms, c.slot_end_ms
        if c.appointment_id is not None:
            if c.appointment_id in self.state.appointments_used:
                raise Rejected(
                    R.APPOINTMENT_ALREADY_CHECKED_IN, f"appointment {c.appointment_id} used"
                )
            if slot_start is None:  # a code typed at the kiosk: the booking says the rest
                booked = self.state.appointments.get(c.appointment_id)
                if booked is None:
                    raise Rejected(R.UNKNOWN_APPOINTMENT, f"no booking {c.appointment_id!r}")
                if booked[0] != service.id:
                    raise Rejected(
                        R.APPOINTMENT_FOR_OTHER_SERVICE,
                        f"booking {c.appointment_id} is for service {booked[0]}",
                    )
                slot_start, slot_end = booked[1], booked[2]
                priority = self._check_in_priority(slot_start, slot_end, now)
            else:
                priority = PriorityClass.APPOINTMENT
            if slot_end is not None and slot_end < slot_start:
                raise Rejected(R.BAD_APPOINTMENT_SLOT, "an appointment needs a valid slot")
        if c.green_channel:
            if not service.green_channel:
                raise Rejected(R.GREEN_CHANNEL_NOT_ALLOWED, f"{service.name} has no 绿色通道")
            priority = PriorityClass.GREEN_CHANNEL
        day = self._day_clocks[service.id].day(now)
        counter = self.state.counters.get(service.id)
        seq = counter.next_seq if counter is not None and counter.day == day else service.number_min
        open_numbers = self.state.open_numbers
        number = f"{service.prefix}{seq:0{service.number_width}d}"
        while number in open_numbers and seq <= service.number_max:  # carried-over tickets
            seq += 1
            number = f"{service.prefix}{seq:0{service.number_width}d}"
        if seq > service.number_max:
            raise Rejected(
                R.NUMBERS_EXHAUSTED, f"{service.name}: all numbers up to {service.number_max} used"
            )
        return [
            ev.TicketIssued(
                at=now,
                ticket=self.state.next_ticket_id,
                number=number,
                seq=seq,
                service=service.id,
                day=day,
                priority=priority,
                appointment_id=c.appointment_id,
                slot_start_ms=slot_start if c.appointment_id is not None else None,
                slot_end_ms=slot_end if c.appointment_id is not None else None,
            )
        ]

    def _check_in_priority(self, start: int, end: int, now: int) -> PriorityClass | None:
        """A booking code at the kiosk: a priority ticket within the slot's tolerance
        (``appointment_early_minutes`` before to ``appointment_late_minutes`` after); too
        early is refused with the time to come back; too late follows ``late_arrival``."""
        tz = self._tz
        if now < start - self.early_ms:
            back = start - self.early_ms
            when = clock_text(back, tz)
            if local_day(self.config.hall, back) != local_day(self.config.hall, now):
                when = date_text(back, tz) + " " + when
            raise Rejected(
                R.APPOINTMENT_TOO_EARLY,
                f"预约时段 {clock_text(start, tz)}-{clock_text(end, tz)}，请于 {when} 后签到",
            )
        if now <= end + self._late_ms:
            return PriorityClass.APPOINTMENT
        if self.config.appointments.late_arrival is LateArrival.REFUSE:
            raise Rejected(
                R.APPOINTMENT_TOO_LATE,
                f"已超过预约时段 {clock_text(start, tz)}-{clock_text(end, tz)}，"
                "请重新预约或普通取号",
            )
        return None  # an ordinary ticket, in arrival order

    # -- online bookings -------------------------------------------------------------------

    def _book(self, c: cmd.BookAppointment, now: int) -> list[ev.AnyEvent]:
        if c.service not in self._services:
            raise Rejected(R.UNKNOWN_SERVICE, f"no service {c.service!r}")
        slot = self.slots.check(c.service, c.slot_start_ms, now)
        state = self.state
        if c.code in state.bookings or c.code in state.appointments:
            raise Rejected(R.BOOKING_CODE_TAKEN, "预约码重复，请重试")
        blocked = state.booking_blocks.get(c.phone_key, 0)
        if blocked > now:
            raise Rejected(
                R.BOOKING_BLOCKED,
                f"因多次预约未到（爽约），{date_text(blocked, self._tz)}前暂停线上预约",
            )
        self._check_phone_limit(c.phone_key, c.service, slot.day)
        self._check_room(c.service, slot.start_ms)
        return [
            ev.AppointmentBooked(
                at=now,
                code=c.code,
                service=c.service,
                slot_start_ms=slot.start_ms,
                slot_end_ms=slot.end_ms,
                day=slot.day,
                phone_key=c.phone_key,
                name_sealed=c.name_sealed,
                phone_sealed=c.phone_sealed,
                channel=c.channel,
            )
        ]

    def _check_room(self, service: str, start_ms: int) -> None:
        capacity = self.slots.rules(service).capacity
        if self.state.slot_taken.get((service, start_ms), 0) >= capacity:
            raise Rejected(R.SLOT_FULL, "该时段已约满，请选择其他时段")

    def _own_booking(self, code: str, phone_key: str | None) -> Booking:
        booking = self.state.bookings.get(code)
        if booking is None or (phone_key is not None and booking.phone_key != phone_key):
            raise Rejected(
                R.UNKNOWN_APPOINTMENT, "没有找到这个预约（预约码或手机号不对，或已签到、已取消）"
            )
        return booking

    def _check_phone_limit(self, phone_key: str, service: str, day: str) -> None:
        """One phone's active bookings of a service on a day stay within the configured limit."""
        limit = self.config.appointments.per_phone_per_day
        if len(self.state.phone_bookings.get((phone_key, service, day), ())) >= limit:
            raise Rejected(R.BOOKING_LIMIT_REACHED, f"同一手机号每天每项业务最多预约 {limit} 次")

    def _cancel_booking(self, c: cmd.CancelAppointment, now: int) -> list[ev.AnyEvent]:
        self._own_booking(c.code, c.phone_key)
        return [ev.AppointmentCancelled(at=now, code=c.code)]

    def _reschedule(self, c: cmd.RescheduleAppointment, now: int) -> list[ev.AnyEvent]:
        booking = self._own_booking(c.code, c.phone_key)
        slot = self.slots.check(booking.service, c.slot_start_ms, now)
        if slot.start_ms == booking.slot_start_ms:
            raise Rejected(R.SLOT_NOT_OFFERED, "新时段与原时段相同")
        if slot.day != booking.day:
            self._check_phone_limit(booking.phone_key, booking.service, slot.day)
        self._check_room(booking.service, slot.start_ms)
        return [
            ev.AppointmentRescheduled(
                at=now,
                code=c.code,
                slot_start_ms=slot.start_ms,
                slot_end_ms=slot.end_ms,
                day=slot.day,
            )
        ]

    def _no_show_events(self, now: int) -> list[ev.AnyEvent]:
        """At the close: every booking whose slot ended unused is a 爽约; a phone reaching
        ``no_show_limit`` within ``no_show_days`` is blocked for ``block_days``."""
        settings = self.config.appointments
        state = self.state
        out: list[ev.AnyEvent] = []
        counts: dict[str, int] = {}
        for booking in sorted(state.bookings.values(), key=lambda b: (b.slot_end_ms, b.code)):
            if booking.slot_end_ms >= now:
                continue
            out.append(ev.AppointmentMissed(at=now, code=booking.code, phone_key=booking.phone_key))
            key = booking.phone_key
            counts[key] = counts.get(key, state.recent_no_shows(key, now)) + 1
        if settings.no_show_limit <= 0:
            return out
        for key, count in sorted(counts.items()):
            if count >= settings.no_show_limit and state.booking_blocks.get(key, 0) <= now:
                until = now + settings.block_days * DAY_MS
                out.append(ev.BookingBlocked(at=now, phone_key=key, until=until, no_shows=count))
        return out

    def _register_appointment(self, c: cmd.RegisterAppointment, now: int) -> list[ev.AnyEvent]:
        if c.service not in self._services:
            raise Rejected(R.UNKNOWN_SERVICE, f"no service {c.service!r}")
        if c.slot_end_ms < c.slot_start_ms:
            raise Rejected(R.BAD_APPOINTMENT_SLOT, "the slot ends before it starts")
        if c.appointment_id in self.state.appointments_used:
            raise Rejected(R.APPOINTMENT_ALREADY_CHECKED_IN, f"{c.appointment_id} was used")
        return [
            ev.AppointmentRegistered(
                at=now,
                appointment_id=c.appointment_id,
                service=c.service,
                slot_start_ms=c.slot_start_ms,
                slot_end_ms=c.slot_end_ms,
            )
        ]

    def _cancel(self, c: cmd.CancelTicket, now: int) -> list[ev.AnyEvent]:
        ticket = self._ticket(c.ticket)
        self._check_ticket(ticket, TicketOp.CANCEL)
        return [ev.TicketCancelled(at=now, ticket=ticket.id, reason=c.reason)]

    def _transfer_ticket(self, c: cmd.TransferTicket, now: int) -> list[ev.AnyEvent]:
        ticket = self._ticket(c.ticket)
        if ticket.state is not TicketState.WAITING:
            raise Rejected(
                R.TICKET_NOT_WAITING,
                f"ticket {ticket.number} is {ticket.state.value}; its window transfers it",
            )
        return [self._transfer_event(ticket, None, c.to_service, c.to_window, now)]

    def _transfer_event(
        self,
        ticket: Ticket,
        from_window: int | None,
        to_service: str | None,
        to_window: int | None,
        now: int,
    ) -> ev.TicketTransferred:
        if to_service is None and to_window is None:
            raise Rejected(R.TRANSFER_TARGET_INVALID, "name a service or a window")
        service = to_service if to_service is not None else ticket.service
        if service not in self._services:
            raise Rejected(R.UNKNOWN_SERVICE, f"no service {service!r}")
        if to_window is not None:
            self._window(to_window)
            if to_window == from_window:
                raise Rejected(R.TRANSFER_TARGET_INVALID, "cannot transfer to the same window")
        elif service == ticket.service and from_window is None:
            raise Rejected(R.TRANSFER_TARGET_INVALID, f"ticket is already in {service}")
        return ev.TicketTransferred(
            at=now,
            ticket=ticket.id,
            from_window=from_window,
            to_service=service,
            to_window=to_window,
        )

    # -- window operations -----------------------------------------------------------------

    def _login(self, c: cmd.Login, now: int) -> list[ev.AnyEvent]:
        window = self._window(c.window)
        if c.staff not in self._staff:
            raise Rejected(R.UNKNOWN_STAFF, f"no staff with 工号 {c.staff}")
        if window.state is not WindowState.LOGGED_OUT:
            raise Rejected(
                R.WINDOW_ALREADY_LOGGED_IN,
                f"window {c.window} is used by {window.staff}",
                holder=window.staff or "",
            )
        elsewhere = self.state.staff_window.get(c.staff)
        if elsewhere is not None:
            raise Rejected(
                R.STAFF_AT_OTHER_WINDOW,
                f"{c.staff} is logged in at {elsewhere}",
                other_window=elsewhere,
            )
        return [ev.StaffLoggedIn(at=now, window=c.window, staff=c.staff)]

    def _logout(self, c: cmd.Logout, now: int) -> list[ev.AnyEvent]:
        window = self._staffed_window(c.window, WindowOp.LOGOUT)
        assert window.staff is not None
        return [ev.StaffLoggedOut(at=now, window=c.window, staff=window.staff)]

    def _call_next(self, c: cmd.CallNext, now: int) -> list[ev.AnyEvent]:
        window = self._staffed_window(c.window, WindowOp.CALL)
        ticket = self.policy.choose(self.state, window, now)
        if ticket is None:
            raise Rejected(R.QUEUE_EMPTY, f"nothing waits for window {c.window}")
        return [ev.TicketCalled(at=now, ticket=ticket.id, number=ticket.number, window=c.window)]

    def _call_number(self, c: cmd.CallNumber, now: int) -> list[ev.AnyEvent]:
        window = self._staffed_window(c.window, WindowOp.CALL)
        ticket = self._open_ticket_by_number(c.number)
        if ticket.state is not TicketState.WAITING:
            raise Rejected(
                R.TICKET_NOT_WAITING,
                f"{c.number} is {ticket.state.value}",
                state=ticket.state.value,
            )
        if ticket.target_window is not None and ticket.target_window != window.number:
            raise Rejected(
                R.TICKET_AT_OTHER_WINDOW,
                f"{c.number} waits for window {ticket.target_window}",
                other_window=ticket.target_window,
            )
        return [
            ev.TicketCalled(
                at=now, ticket=ticket.id, number=ticket.number, window=c.window, directed=True
            )
        ]

    def _recall(self, c: cmd.Recall, now: int) -> list[ev.AnyEvent]:
        window = self._staffed_window(c.window, WindowOp.RECALL)
        ticket = self._current_ticket(window)
        if ticket.recalls >= self.config.policy.max_recalls:
            raise Rejected(
                R.RECALL_LIMIT,
                f"{ticket.number} recalled {ticket.recalls} times already",
                number=ticket.number,
                count=ticket.recalls,
            )
        return [
            ev.TicketRecalled(
                at=now,
                ticket=ticket.id,
                number=ticket.number,
                window=c.window,
                count=ticket.recalls + 1,
            )
        ]

    def _start(self, c: cmd.Start, now: int) -> list[ev.AnyEvent]:
        window = self._staffed_window(c.window, WindowOp.START)
        return [ev.ServiceStarted(at=now, ticket=self._current_ticket(window).id, window=c.window)]

    def _finish(self, c: cmd.Finish, now: int) -> list[ev.AnyEvent]:
        window = self._window(c.window)
        out: list[ev.AnyEvent] = []
        if window.state is WindowState.CALLING and self.config.policy.implicit_start:
            ticket = self._current_ticket(window)
            out.append(ev.ServiceStarted(at=now, ticket=ticket.id, window=c.window, implicit=True))
            started_at = ticket.called_at if ticket.called_at is not None else now
        else:
            window = self._staffed_window(c.window, WindowOp.FINISH)
            ticket = self._current_ticket(window)
            assert ticket.started_at is not None
            started_at = ticket.started_at
        assert window.staff is not None
        service_ms = max(0, now - started_at - ticket.suspended_ms)
        out.append(
            ev.ServiceFinished(
                at=now,
                ticket=ticket.id,
                window=c.window,
                staff=window.staff,
                service_ms=service_ms,
            )
        )
        return out

    def _no_show(self, c: cmd.NoShow, now: int) -> list[ev.AnyEvent]:
        window = self._staffed_window(c.window, WindowOp.NO_SHOW)
        return [ev.TicketNoShow(at=now, ticket=self._current_ticket(window).id, window=c.window)]

    def _suspend(self, c: cmd.Suspend, now: int) -> list[ev.AnyEvent]:
        window = self._staffed_window(c.window, WindowOp.SUSPEND)
        ticket = self._current_ticket(window)
        return [ev.ServiceSuspended(at=now, ticket=ticket.id, window=c.window)]

    def _call_back(self, c: cmd.CallBack, now: int) -> list[ev.AnyEvent]:
        window = self._staffed_window(c.window, WindowOp.CALL_BACK)
        ticket = self._open_ticket_by_number(c.number)
        if ticket.state is not TicketState.SUSPENDED:
            raise Rejected(
                R.TICKET_NOT_SUSPENDED,
                f"{c.number} is {ticket.state.value}",
                state=ticket.state.value,
            )
        if ticket.window != window.number:
            raise Rejected(
                R.TICKET_AT_OTHER_WINDOW,
                f"{c.number} was suspended at window {ticket.window}",
                other_window=ticket.window or 0,
            )
        return [
            ev.ServiceCalledBack(at=now, ticket=ticket.id, number=ticket.number, window=c.window)
        ]

    def _transfer(self, c: cmd.Transfer, now: int) -> list[ev.AnyEvent]:
        window = self._staffed_window(c.window, WindowOp.TRANSFER)
        ticket = self._current_ticket(window)
        return [self._transfer_event(ticket, c.window, c.to_service, c.to_window, now)]

    def _pause(self, c: cmd.Pause, now: int) -> list[ev.AnyEvent]:
        if len(c.reason) > MAX_PAUSE_REASON:
            raise Rejected(R.BAD_PAUSE_REASON, f"at most {MAX_PAUSE_REASON} characters")
        window = self._window(c.window)
        if c.after_current and window.state in (WindowState.CALLING, WindowState.SERVING):
            if window.pause_pending:
                raise Rejected(R.PAUSE_ALREADY_REQUESTED, f"window {c.window} pauses already")
            return [ev.PauseRequested(at=now, window=c.window, reason=c.reason)]
        self._staffed_window(c.window, WindowOp.PAUSE)
        return [ev.WindowPaused(at=now, window=c.window, reason=c.reason)]

    def _resume(self, c: cmd.Resume, now: int) -> list[ev.AnyEvent]:
        window = self._window(c.window)
        if window.pause_pending:  # called off before it took effect
            return [ev.PauseWithdrawn(at=now, window=c.window)]
        if window.state is not WindowState.PAUSED:
            raise Rejected(
                R.WINDOW_NOT_PAUSED,
                f"window {c.window} is {window.state.value}",
                state=window.state.value,
            )
        return [ev.WindowResumed(at=now, window=c.window)]

    def _set_services(self, c: cmd.SetWindowServices, now: int) -> list[ev.AnyEvent]:
        self._window(c.window)
        seen: set[str] = set()
        for item in c.services:
            if item.service not in self._services:
                raise Rejected(R.UNKNOWN_SERVICE, f"no service {item.service!r}")
            if item.weight < 1 or item.service in seen:
                raise Rejected(R.BAD_SERVICE_LIST, "weights are >= 1 and services unique")
            seen.add(item.service)
        if not c.services:
            raise Rejected(R.BAD_SERVICE_LIST, "a window serves at least one service")
        services = tuple((s.service, s.weight) for s in c.services)
        return [ev.WindowServicesChanged(at=now, window=c.window, services=services)]

    # -- 好差评 ------------------------------------------------------------------------------

    def _evaluable(self, ticket_id: int, now: int) -> Ticket:
        ticket = self._ticket(ticket_id, R.EVALUATION_CLOSED)
        if ticket.evaluation is EvaluationState.NONE:
            raise Rejected(R.NOT_FINISHED, f"{ticket.number} has not been served")
        if ticket.evaluation is EvaluationState.RATED:
            raise Rejected(R.ALREADY_EVALUATED, f"{ticket.number} is rated already")
        if ticket.evaluation is not EvaluationState.AWAITING:
            # Recorded "not evaluated" (by the pad's timeout or when window + allowance ran
            # out): for a rating that comes now, the rating window is closed.
            raise Rejected(R.EVALUATION_CLOSED, f"the rating window of {ticket.number} closed")
        assert ticket.done_at is not None
        if now > ticket.done_at + self.state.evaluation_window_ms:
            raise Rejected(R.EVALUATION_CLOSED, f"the rating window of {ticket.number} closed")
        return ticket

    def _fresh_counter(self, signature: cmd.PadSignature | None) -> None:
        """Each signed counter of a pad and key is accepted once (``counter_fresh``): a copy
        of an old message (a replay) is refused."""
        if signature is None:
            return
        if not self.state.counter_fresh(signature.device, signature.key_id, signature.counter):
            last = self.state.pad_counter(signature.device, signature.key_id)
            raise Rejected(
                R.REPLAYED_COUNTER,
                f"counter {signature.counter} of {signature.device} was used or is too old "
                f"(highest {last})",
            )

    def _rate(self, c: cmd.Rate, now: int) -> list[ev.AnyEvent]:
        self._fresh_counter(c.signature)
        ticket = self._evaluable(c.ticket, now)
        assert (ticket.evaluation, EvaluationOp.RATE) in EVALUATION_TRANSITIONS
        self._check_rating_content(c.reasons, c.text)
        rated = self._rating_event(ticket, c, follow_up=False, now=now)
        return [rated, *self._open_case(rated, ticket)]

    def _follow_up_rate(self, c: cmd.FollowUpRate, now: int) -> list[ev.AnyEvent]:
        ticket = self._ticket(c.ticket, R.EVALUATION_CLOSED)
        if ticket.follow_up is FollowUpState.NONE:
            raise Rejected(R.NOT_FINISHED, f"{ticket.number} has not been served")
        if (ticket.follow_up, FollowUpOp.RATE) not in FOLLOW_UP_TRANSITIONS:
            raise Rejected(R.FOLLOW_UP_USED, f"{ticket.number} has its 追评 already")
        assert ticket.done_at is not None
        if now > ticket.done_at + self._follow_up_ms:
            raise Rejected(R.EVALUATION_CLOSED, f"the 追评 period of {ticket.number} ended")
        self._check_rating_content(c.reasons, c.text)
        rated = self._rating_event(ticket, c, follow_up=True, now=now)
        return [rated, *self._open_case(rated, ticket)]

    def _check_rating_content(self, reasons: tuple[str, ...], text: str) -> None:
        for reason in reasons:
            if reason not in self._reasons:
                raise Rejected(R.UNKNOWN_REASON, f"no reason tag {reason!r}")
        if len(set(reasons)) != len(reasons):
            raise Rejected(R.UNKNOWN_REASON, "a reason tag is listed twice")
        if len(text) > MAX_RATING_TEXT:
            raise Rejected(R.BAD_RATING_TEXT, f"at most {MAX_RATING_TEXT} characters")

    def _rating_event(
        self, ticket: Ticket, c: cmd.Rate | cmd.FollowUpRate, *, follow_up: bool, now: int
    ) -> ev.ServiceRated:
        assert ticket.window is not None and ticket.staff is not None
        case_number = ticket.case_number or generated_case_number(
            self.config.hall.region_code, self.config.hall.id, ticket.day, ticket.id
        )
        return ev.ServiceRated(
            at=now,
            ticket=ticket.id,
            window=ticket.window,
            staff=ticket.staff,
            service=ticket.service,
            level=c.level,
            channel=c.channel,
            reasons=c.reasons,
            text=c.text,
            rating_id=c.rating_id if isinstance(c, cmd.Rate) else "",
            follow_up=follow_up,
            case_number=case_number,
            rater_sealed=c.rater_sealed,
            rater_kind=c.rater_kind,
            evidence=c.evidence if isinstance(c, cmd.Rate) else cmd.Evidence.QR_TOKEN,
            signature=c.signature if isinstance(c, cmd.Rate) else None,
        )

    def _open_case(self, rated: ev.ServiceRated, ticket: Ticket) -> list[ev.AnyEvent]:
        """Every 差评 opens a case for the window's department, in the rating's own record."""
        if not rated.level.is_bad:
            return []
        evaluation = self.config.evaluation
        department = self.config.department_of(rated.window)
        calendar, tz, start = self._calendar, self._tz, rated.at
        contact = workdays.deadline(calendar, tz, start, evaluation.contact_working_days)
        rectify = workdays.deadline(calendar, tz, start, evaluation.rectify_working_days)
        return [
            ev.CaseOpened(
                at=rated.at,
                case=self.state.next_case_id,
                ticket=ticket.id,
                window=rated.window,
                staff=rated.staff,
                service=rated.service,
                department=department.id if department is not None else "",
                level=rated.level,
                follow_up=rated.follow_up,
                contact_due=contact.ms,
                rectify_due=rectify.ms,
                deadlines_estimated=not (contact.official and rectify.official),
            )
        ]

    def _set_case_number(self, c: cmd.SetCaseNumber, now: int) -> list[ev.AnyEvent]:
        ticket = self._ticket(c.ticket)
        if not valid_case_number(c.case_number):
            raise Rejected(R.BAD_CASE_NUMBER, "1 to 50 printable ASCII characters, no spaces")
        return [ev.CaseNumberSet(at=now, ticket=ticket.id, case_number=c.case_number)]

    # -- 差评 cases --------------------------------------------------------------------------

    def _case_for(self, case_id: int, op: CaseOp, by: str, note: str) -> Case:
        case = self.state.cases.get(case_id)
        if case is None:
            raise Rejected(R.UNKNOWN_CASE, f"no case {case_id}")
        if not by.strip() or len(by) > MAX_ACTOR:
            raise Rejected(R.BAD_CASE_STEP, f"name who did it (1 to {MAX_ACTOR} characters)")
        if len(note) > MAX_NOTE:
            raise Rejected(R.BAD_CASE_STEP, f"a note is at most {MAX_NOTE} characters")
        if (case.state, op) not in CASE_TRANSITIONS:
            raise Rejected(
                R.CASE_STEP_NOT_ALLOWED, f"case {case_id} is {case.state.value}; cannot {op.value}"
            )
        return case

    def _contact_case(self, c: cmd.ContactCase, now: int) -> list[ev.AnyEvent]:
        self._case_for(c.case, CaseOp.CONTACT, c.by, c.note)
        return [ev.CaseContacted(at=now, case=c.case, by=c.by, reached=c.reached, note=c.note)]

    def _verify_case(self, c: cmd.VerifyCase, now: int) -> list[ev.AnyEvent]:
        op = (
            CaseOp.APPEAL
            if c.outcome.is_appeal
            else CaseOp.UPHOLD
            if c.outcome is cmd.VerificationOutcome.UPHELD
            else CaseOp.EXPLAIN
        )
        self._case_for(c.case, op, c.by, c.note)
        return [ev.CaseVerified(at=now, case=c.case, by=c.by, outcome=c.outcome, note=c.note)]

    def _review_case(self, c: cmd.ReviewCase, now: int) -> list[ev.AnyEvent]:
        op = CaseOp.GRANT_APPEAL if c.granted else CaseOp.REFUSE_APPEAL
        case = self._case_for(c.case, op, c.by, c.note)
        if case.filed_by == c.by:
            raise Rejected(R.CONFLICT_OF_INTEREST, "an appeal is decided by someone else")
        return [ev.CaseReviewed(at=now, case=c.case, by=c.by, granted=c.granted, note=c.note)]

    def _rectify_case(self, c: cmd.RectifyCase, now: int) -> list[ev.AnyEvent]:
        self._case_for(c.case, CaseOp.RECTIFY, c.by, c.note)
        if not c.note.strip():
            raise Rejected(R.BAD_CASE_STEP, "say what was rectified")
        return [ev.CaseRectified(at=now, case=c.case, by=c.by, note=c.note)]

    def _close_case(self, c: cmd.CloseCase, now: int) -> list[ev.AnyEvent]:
        self._case_for(c.case, CaseOp.CLOSE, c.by, c.note)
        if not c.note.strip():
            raise Rejected(R.BAD_CASE_STEP, "say what the citizen was told")
        return [ev.CaseClosed(at=now, case=c.case, by=c.by, note=c.note)]

    def _unseal_contact(self, c: cmd.UnsealContact, now: int) -> list[ev.AnyEvent]:
        case = self.state.cases.get(c.case)
        if case is None:
            raise Rejected(R.UNKNOWN_CASE, f"no case {c.case}")
        if not c.by.strip() or len(c.by) > MAX_ACTOR:
            raise Rejected(R.BAD_CASE_STEP, f"name who did it (1 to {MAX_ACTOR} characters)")
        if case.state is CaseState.CLOSED:
            raise Rejected(R.CASE_STEP_NOT_ALLOWED, f"case {c.case} is closed")
        if not case.rater_sealed:
            raise Rejected(R.NO_CONTACT, "the citizen left no contact")
        return [ev.ContactUnsealed(at=now, case=c.case, by=c.by, purpose=c.purpose)]

    def _record_hand_over(self, c: cmd.RecordHandOver, now: int) -> list[ev.AnyEvent]:
        case = self.state.cases.get(c.case)
        if case is None:
            raise Rejected(R.UNKNOWN_CASE, f"no case {c.case}")
        for value in (c.to, c.reference):
            if (
                not 1 <= len(value) <= MAX_ACTOR
                or not value.isprintable()
                or value != value.strip()
            ):
                raise Rejected(
                    R.BAD_CASE_STEP, f"destination and reference: 1 to {MAX_ACTOR} characters"
                )
        if case.hand_overs.get(c.to) == c.reference:
            return []  # the same acknowledgement again (a re-send after a restart)
        return [ev.CaseHandedOver(at=now, case=c.case, to=c.to, reference=c.reference)]

    def _escalations(self, now: int) -> list[ev.AnyEvent]:
        """Deadlines that passed with their step undone, each recorded once."""
        if now < self.state.next_case_due:
            return []
        out: list[ev.AnyEvent] = []
        for case in self.state.open_cases.values():
            if case.next_due() > now:
                continue
            if (
                case.state is CaseState.AWAITING_CONTACT
                and not case.contact_escalated
                and case.contact_due <= now
            ):
                out.append(
                    ev.CaseEscalated(
                        at=now, case=case.id, step=ev.CaseDeadline.CONTACT, due=case.contact_due
                    )
                )
            if (
                case.state in RECTIFY_PENDING_CASE_STATES
                and not case.rectify_escalated
                and case.rectify_due <= now
            ):
                out.append(
                    ev.CaseEscalated(
                        at=now, case=case.id, step=ev.CaseDeadline.RECTIFY, due=case.rectify_due
                    )
                )
        return out

    def _miss(self, c: cmd.MissEvaluation, now: int) -> list[ev.AnyEvent]:
        self._fresh_counter(c.signature)
        ticket = self._evaluable(c.ticket, now)
        return [ev.EvaluationMissed(at=now, ticket=ticket.id, signature=c.signature)]

    def _tick(self, c: cmd.Tick, now: int) -> list[ev.AnyEvent]:
        """Close rating windows that ran out (the pad never answered); escalate overdue 差评
        case steps."""
        out: list[ev.AnyEvent] = []
        pending = self.state.pending_evaluations
        tickets = self.state.tickets
        for deadline, ticket_id in pending:
            if deadline >= now:
                break
            if tickets[ticket_id].evaluation is EvaluationState.AWAITING:
                out.append(ev.EvaluationMissed(at=now, ticket=ticket_id))
        out.extend(self._escalations(now))
        return out

    def calendar_coverage(self, now_ms: int) -> CalendarCoverage:
        """How long official holiday data lasts, seen from the hall's today (for alerts)."""
        return self._calendar.coverage(datetime.fromtimestamp(now_ms / 1000, self._tz).date())

    # -- daily close -----------------------------------------------------------------------

    def _close_day(self, c: cmd.CloseDay, now: int) -> list[ev.AnyEvent]:
        day = self._day_to_close(c, now)
        carry = self.config.hall.leftover is LeftoverPolicy.CARRY_OVER
        out: list[ev.AnyEvent] = []
        carried = 0
        for ticket_id in list(self.state.open_numbers.values()):
            ticket = self.state.tickets[ticket_id]
            if ticket.state is TicketState.SERVING:
                continue  # its clerk finishes it
            if carry and (ticket.state, TicketOp.CARRY_OVER) in TICKET_TRANSITIONS:
                carried += 1
                continue
            if ticket.state is TicketState.CALLED and carry:
                out.append(ev.TicketNoShow(at=now, ticket=ticket.id, window=ticket.window or 0))
                continue
            out.append(ev.TicketExpired(at=now, ticket=ticket.id))
        out.extend(self._no_show_events(now))
        expired = sum(1 for e in out if isinstance(e, ev.TicketExpired))
        out.append(
            ev.DayClosed(at=now, expired=expired, carried_over=carried, day=day, early=c.early)
        )
        return out

    def _day_to_close(self, c: cmd.CloseDay, now: int) -> str:
        """One close per business day: the day whose closing instant passed unclosed, else
        (``early``) today before its closing time; a repeat is refused."""
        hall = self.config.hall
        state = self.state
        day = due_day(hall, state.last_closed_day, now, state.opened_ms)
        if day is not None:
            return day
        today = local_day(hall, now)
        if c.early and today > state.last_closed_day:
            return today
        raise Rejected(
            R.DAY_ALREADY_CLOSED,
            f"day {state.last_closed_day or '-'} is closed; the next close is at "
            f"{hall.closing_time.strftime('%H:%M')}",
        )


_NEEDS_TICKET = frozenset(
    {
        WindowOp.RECALL,
        WindowOp.START,
        WindowOp.FINISH,
        WindowOp.NO_SHOW,
        WindowOp.SUSPEND,
        WindowOp.TRANSFER,
    }
)
