"""The engine's operations, one behaviour per test, and every refusal with its reason."""

from __future__ import annotations

import msgspec
import pytest

from controller.config.model import LeftoverPolicy, PriorityClass
from controller.core import commands as c
from controller.core import events as ev
from controller.core.engine import HallEngine
from controller.core.lifecycle import (
    EvaluationState,
    Rejected,
    RejectReason,
    TicketState,
    WindowState,
)
from controller.core.state import HallState
from tests.controller.halls import MINUTE, MONDAY_9AM, small_hall

T0 = MONDAY_9AM
R = RejectReason


@pytest.fixture
def engine() -> HallEngine:
    return HallEngine(small_hall())


def serving(engine: HallEngine, window: int = 1, staff: str = "1001", service: str = "A") -> int:
    """Issue a ticket, log in, call and start it; return the ticket id."""
    [issued] = engine.handle(c.IssueTicket(service=service), T0)
    assert isinstance(issued, ev.TicketIssued)
    if engine.state.windows[window].state is WindowState.LOGGED_OUT:
        engine.handle(c.Login(window=window, staff=staff), T0 + 1)
    engine.handle(c.CallNext(window=window), T0 + 2)
    engine.handle(c.Start(window=window), T0 + 3)
    return issued.ticket


def reject(engine: HallEngine, command: c.AnyCommand, now: int, reason: RejectReason) -> None:
    before = engine.state.fingerprint()
    with pytest.raises(Rejected) as info:
        engine.handle(command, now)
    assert info.value.reason is reason
    assert engine.state.fingerprint() == before, "a refused command changed the state"


def test_numbers_follow_prefix_and_daily_sequence(engine: HallEngine) -> None:
    numbers = [engine.handle(c.IssueTicket(service="A"), T0 + i)[0] for i in range(3)]
    assert [e.number for e in numbers if isinstance(e, ev.TicketIssued)] == [
        "A001",
        "A002",
        "A003",
    ]
    [b] = engine.handle(c.IssueTicket(service="B"), T0 + 5)
    assert isinstance(b, ev.TicketIssued) and b.number == "B001"


def test_numbering_restarts_on_the_next_business_day(engine: HallEngine) -> None:
    engine.handle(c.IssueTicket(service="A"), T0)
    engine.handle(c.CloseDay(), T0 + 9 * 60 * MINUTE)
    [next_day] = engine.handle(c.IssueTicket(service="A"), T0 + 24 * 60 * MINUTE)
    assert isinstance(next_day, ev.TicketIssued)
    assert next_day.number == "A001" and next_day.day == "2026-11-24"


def test_exhausted_number_range_is_refused() -> None:
    engine = HallEngine(small_hall(number_max=2))
    engine.handle(c.IssueTicket(service="A"), T0)
    engine.handle(c.IssueTicket(service="A"), T0)
    reject(engine, c.IssueTicket(service="A"), T0, R.NUMBERS_EXHAUSTED)


def test_unknown_service_and_green_channel_not_allowed(engine: HallEngine) -> None:
    reject(engine, c.IssueTicket(service="Z"), T0, R.UNKNOWN_SERVICE)
    reject(engine, c.IssueTicket(service="C", green_channel=True), T0, R.GREEN_CHANNEL_NOT_ALLOWED)


def test_appointment_checks_in_once_with_a_valid_slot(engine: HallEngine) -> None:
    appt = c.IssueTicket(
        service="A", appointment_id="YY-1", slot_start_ms=T0, slot_end_ms=T0 + 30 * MINUTE
    )
    [issued] = engine.handle(appt, T0)
    assert isinstance(issued, ev.TicketIssued) and issued.priority is PriorityClass.APPOINTMENT
    reject(engine, appt, T0 + 1, R.APPOINTMENT_ALREADY_CHECKED_IN)
    reject(engine, c.IssueTicket(service="A", appointment_id="YY-2"), T0, R.UNKNOWN_APPOINTMENT)
    no_end = c.IssueTicket(service="A", appointment_id="YY-3", slot_start_ms=T0, slot_end_ms=T0 - 1)
    reject(engine, no_end, T0, R.BAD_APPOINTMENT_SLOT)


def test_login_rules(engine: HallEngine) -> None:
    reject(engine, c.Login(window=9, staff="1001"), T0, R.UNKNOWN_WINDOW)
    reject(engine, c.Login(window=1, staff="9999"), T0, R.UNKNOWN_STAFF)
    engine.handle(c.Login(window=1, staff="1001"), T0)
    reject(engine, c.Login(window=1, staff="1002"), T0, R.WINDOW_ALREADY_LOGGED_IN)
    reject(engine, c.Login(window=2, staff="1001"), T0, R.STAFF_AT_OTHER_WINDOW)


def test_call_from_logged_out_window_is_refused(engine: HallEngine) -> None:
    engine.handle(c.IssueTicket(service="A"), T0)
    reject(engine, c.CallNext(window=1), T0, R.WINDOW_LOGGED_OUT)


def test_call_with_empty_queue_is_refused(engine: HallEngine) -> None:
    engine.handle(c.Login(window=2, staff="1002"), T0)
    engine.handle(c.IssueTicket(service="A"), T0)  # window 2 does not serve A
    reject(engine, c.CallNext(window=2), T0, R.QUEUE_EMPTY)


def test_second_call_while_calling_is_refused(engine: HallEngine) -> None:
    engine.handle(c.IssueTicket(service="A"), T0)
    engine.handle(c.IssueTicket(service="A"), T0)
    engine.handle(c.Login(window=1, staff="1001"), T0)
    engine.handle(c.CallNext(window=1), T0 + 1)
    reject(engine, c.CallNext(window=1), T0 + 2, R.WINDOW_BUSY)


def test_finish_with_nothing_at_the_window_is_refused(engine: HallEngine) -> None:
    engine.handle(c.Login(window=1, staff="1001"), T0)
    reject(engine, c.Finish(window=1), T0, R.NO_TICKET_AT_WINDOW)
    reject(engine, c.Finish(window=2), T0, R.WINDOW_LOGGED_OUT)


def test_recall_is_counted_and_capped(engine: HallEngine) -> None:
    engine.handle(c.IssueTicket(service="A"), T0)
    engine.handle(c.Login(window=1, staff="1001"), T0)
    engine.handle(c.CallNext(window=1), T0)
    for n in range(1, 6):
        [recalled] = engine.handle(c.Recall(window=1), T0 + n)
        assert isinstance(recalled, ev.TicketRecalled) and recalled.count == n
    reject(engine, c.Recall(window=1), T0 + 10, R.RECALL_LIMIT)


def test_full_service_with_suspension_excluded_from_service_time(engine: HallEngine) -> None:
    ticket = serving(engine)  # started at T0 + 3
    engine.handle(c.Suspend(window=1), T0 + 3 + 2 * MINUTE)
    assert engine.state.windows[1].state is WindowState.IDLE
    assert engine.state.tickets[ticket].state is TicketState.SUSPENDED
    engine.handle(c.CallBack(window=1, number="A001"), T0 + 3 + 12 * MINUTE)
    events = engine.handle(c.Finish(window=1), T0 + 3 + 15 * MINUTE)
    finished = events[-1]
    assert isinstance(finished, ev.ServiceFinished)
    assert finished.service_ms == 5 * MINUTE  # 2 min + 3 min; the 10 suspended don't count
    assert engine.state.tickets[ticket].evaluation is EvaluationState.AWAITING


def test_call_back_rules(engine: HallEngine) -> None:
    serving(engine)
    engine.handle(c.Suspend(window=1), T0 + 10)
    engine.handle(c.Login(window=3, staff="1003"), T0 + 10)
    reject(engine, c.CallBack(window=3, number="A001"), T0 + 11, R.TICKET_AT_OTHER_WINDOW)
    reject(engine, c.CallBack(window=1, number="A999"), T0 + 11, R.UNKNOWN_TICKET)
    engine.handle(c.IssueTicket(service="A"), T0 + 12)
    reject(engine, c.CallBack(window=1, number="A002"), T0 + 13, R.TICKET_NOT_SUSPENDED)


def test_implicit_start_counts_service_from_the_call(engine: HallEngine) -> None:
    engine.handle(c.IssueTicket(service="A"), T0)
    engine.handle(c.Login(window=1, staff="1001"), T0)
    engine.handle(c.CallNext(window=1), T0 + MINUTE)
    started, finished = engine.handle(c.Finish(window=1), T0 + 4 * MINUTE)
    assert isinstance(started, ev.ServiceStarted) and started.implicit
    assert isinstance(finished, ev.ServiceFinished) and finished.service_ms == 3 * MINUTE


def test_no_show_frees_the_window(engine: HallEngine) -> None:
    engine.handle(c.IssueTicket(service="A"), T0)
    engine.handle(c.Login(window=1, staff="1001"), T0)
    [called] = engine.handle(c.CallNext(window=1), T0)
    assert isinstance(called, ev.TicketCalled)
    engine.handle(c.NoShow(window=1), T0 + MINUTE)
    assert engine.state.tickets[called.ticket].state is TicketState.NO_SHOW
    assert engine.state.windows[1].state is WindowState.IDLE
    reject(engine, c.Rate(ticket=called.ticket, level=c.RatingLevel.SATISFIED), T0, R.NOT_FINISHED)


def test_transfer_keeps_arrival_and_jumps_the_queue(engine: HallEngine) -> None:
    engine.handle(c.IssueTicket(service="A"), T0)  # A001 arrives first
    engine.handle(c.IssueTicket(service="B"), T0 + MINUTE)  # B001
    engine.handle(c.Login(window=1, staff="1001"), T0)
    engine.handle(c.CallNext(window=1), T0 + 2 * MINUTE)  # A001 (weight 2 at window 1)
    [moved] = engine.handle(c.Transfer(window=1, to_service="B"), T0 + 3 * MINUTE)
    assert isinstance(moved, ev.TicketTransferred) and moved.to_service == "B"
    ticket = engine.state.tickets[moved.ticket]
    assert ticket.arrival_at == T0 and ticket.priority is PriorityClass.TRANSFER
    engine.handle(c.Login(window=2, staff="1002"), T0)
    [called] = engine.handle(c.CallNext(window=2), T0 + 4 * MINUTE)
    assert isinstance(called, ev.TicketCalled) and called.number == "A001"


def test_transfer_to_a_window_waits_for_that_window_only(engine: HallEngine) -> None:
    serving(engine)
    engine.handle(c.Transfer(window=1, to_window=3), T0 + MINUTE)
    engine.handle(c.Login(window=2, staff="1002"), T0)
    engine.handle(c.Login(window=3, staff="1003"), T0)
    reject(engine, c.CallNumber(window=2, number="A001"), T0 + 2, R.TICKET_AT_OTHER_WINDOW)
    [called] = engine.handle(c.CallNext(window=3), T0 + 2 * MINUTE)
    assert isinstance(called, ev.TicketCalled) and called.number == "A001"


def test_transfer_needs_a_target(engine: HallEngine) -> None:
    serving(engine)
    reject(engine, c.Transfer(window=1), T0 + 5, R.TRANSFER_TARGET_INVALID)
    reject(engine, c.Transfer(window=1, to_window=1), T0 + 5, R.TRANSFER_TARGET_INVALID)
    reject(engine, c.Transfer(window=1, to_service="Z"), T0 + 5, R.UNKNOWN_SERVICE)


def test_console_transfer_and_cancel_of_waiting_tickets(engine: HallEngine) -> None:
    [a] = engine.handle(c.IssueTicket(service="A"), T0)
    assert isinstance(a, ev.TicketIssued)
    reject(engine, c.TransferTicket(ticket=a.ticket, to_service="A"), T0, R.TRANSFER_TARGET_INVALID)
    engine.handle(c.TransferTicket(ticket=a.ticket, to_service="C"), T0 + 1)
    assert engine.state.tickets[a.ticket].service == "C"
    assert engine.state.waiting_by_service == {"A": 0, "B": 0, "C": 1}
    engine.handle(c.CancelTicket(ticket=a.ticket, reason="citizen left"), T0 + 2)
    assert engine.state.tickets[a.ticket].state is TicketState.CANCELLED
    reject(engine, c.CancelTicket(ticket=a.ticket), T0 + 3, R.TICKET_CLOSED)
    reject(engine, c.CancelTicket(ticket=99), T0 + 3, R.UNKNOWN_TICKET)


def test_cancel_of_a_called_ticket_frees_its_window(engine: HallEngine) -> None:
    engine.handle(c.IssueTicket(service="A"), T0)
    engine.handle(c.Login(window=1, staff="1001"), T0)
    [called] = engine.handle(c.CallNext(window=1), T0)
    assert isinstance(called, ev.TicketCalled)
    engine.handle(c.CancelTicket(ticket=called.ticket), T0 + 1)
    assert engine.state.windows[1].state is WindowState.IDLE
    assert engine.state.windows[1].ticket is None


def test_pause_and_resume(engine: HallEngine) -> None:
    engine.handle(c.Login(window=1, staff="1001"), T0)
    engine.handle(c.Pause(window=1), T0 + 1)
    engine.handle(c.IssueTicket(service="A"), T0 + 2)
    reject(engine, c.CallNext(window=1), T0 + 3, R.WINDOW_PAUSED)
    reject(engine, c.Pause(window=1), T0 + 3, R.WINDOW_PAUSED)
    engine.handle(c.Resume(window=1), T0 + 4)
    reject(engine, c.Resume(window=1), T0 + 5, R.WINDOW_NOT_PAUSED)
    engine.handle(c.CallNext(window=1), T0 + 6)


def test_logout_only_when_not_busy(engine: HallEngine) -> None:
    serving(engine)
    reject(engine, c.Logout(window=1), T0 + 10, R.WINDOW_BUSY)
    engine.handle(c.Finish(window=1), T0 + 11)
    [out] = engine.handle(c.Logout(window=1), T0 + 12)
    assert isinstance(out, ev.StaffLoggedOut) and out.staff == "1001"
    assert "1001" not in engine.state.staff_window


def test_set_window_services(engine: HallEngine) -> None:
    engine.handle(c.IssueTicket(service="C"), T0)
    engine.handle(c.Login(window=2, staff="1002"), T0)
    reject(engine, c.CallNext(window=2), T0, R.QUEUE_EMPTY)
    bad = c.SetWindowServices(window=2, services=(c.ServiceWeight("Z"),))
    reject(engine, bad, T0, R.UNKNOWN_SERVICE)
    reject(engine, c.SetWindowServices(window=2, services=()), T0, R.BAD_SERVICE_LIST)
    twice = (c.ServiceWeight("C"), c.ServiceWeight("C"))
    reject(engine, c.SetWindowServices(window=2, services=twice), T0, R.BAD_SERVICE_LIST)
    engine.handle(c.SetWindowServices(window=2, services=(c.ServiceWeight("C", 3),)), T0 + 1)
    [called] = engine.handle(c.CallNext(window=2), T0 + 2)
    assert isinstance(called, ev.TicketCalled) and called.number == "C001"


def test_one_rating_per_service_within_the_window(engine: HallEngine) -> None:
    ticket = serving(engine)
    done = T0 + 10 * MINUTE
    engine.handle(c.Finish(window=1), done)
    rated, opened = engine.handle(
        c.Rate(ticket=ticket, level=c.RatingLevel.DISSATISFIED), done + 5_000
    )
    assert isinstance(rated, ev.ServiceRated) and rated.staff == "1001" and rated.service == "A"
    assert isinstance(opened, ev.CaseOpened) and opened.ticket == ticket  # every 差评 a case
    assert engine.state.totals.bad_ratings == 1
    again = c.Rate(ticket=ticket, level=c.RatingLevel.VERY_SATISFIED)
    reject(engine, again, done + 6_000, R.ALREADY_EVALUATED)
    reject(engine, c.Rate(ticket=404, level=c.RatingLevel.SATISFIED), done, R.UNKNOWN_TICKET)


def test_rating_after_the_window_closed_is_refused(engine: HallEngine) -> None:
    ticket = serving(engine)
    engine.handle(c.Finish(window=1), T0 + MINUTE)
    late = T0 + MINUTE + 331_000  # 30 s window + 300 s late delivery, plus one second
    reject(engine, c.Rate(ticket=ticket, level=c.RatingLevel.SATISFIED), late, R.EVALUATION_CLOSED)


def test_tick_records_not_evaluated_and_never_a_rating(engine: HallEngine) -> None:
    ticket = serving(engine)
    engine.handle(c.Finish(window=1), T0 + MINUTE)
    assert engine.handle(c.Tick(), T0 + MINUTE + 100_000) == []
    [missed] = engine.handle(c.Tick(), T0 + MINUTE + 331_000)
    assert isinstance(missed, ev.EvaluationMissed) and missed.ticket == ticket
    assert engine.state.tickets[ticket].rating is None
    assert engine.state.tickets[ticket].evaluation is EvaluationState.NOT_EVALUATED
    assert engine.handle(c.Tick(), T0 + 2 * 60 * MINUTE) == []


def test_pad_timeout_is_recorded_once(engine: HallEngine) -> None:
    ticket = serving(engine)
    engine.handle(c.Finish(window=1), T0 + MINUTE)
    engine.handle(c.MissEvaluation(ticket=ticket), T0 + MINUTE + 30_000)
    reject(engine, c.MissEvaluation(ticket=ticket), T0 + MINUTE + 31_000, R.EVALUATION_CLOSED)


def test_a_rating_after_window_and_allowance_is_evaluation_closed(engine: HallEngine) -> None:
    """docs/protocol/mqtt.md 7.3 and 9: after window + allowance the controller records "not
    evaluated" itself; a rating arriving then is `evaluation_closed`, not `already_evaluated`."""
    ticket = serving(engine)
    engine.handle(c.Finish(window=1), T0 + MINUTE)
    [missed] = engine.handle(c.Tick(), T0 + MINUTE + 331_000)
    assert isinstance(missed, ev.EvaluationMissed) and missed.signature is None
    late = c.Rate(ticket=ticket, level=c.RatingLevel.SATISFIED)
    reject(engine, late, T0 + MINUTE + 332_000, R.EVALUATION_CLOSED)


def test_a_second_rating_of_a_rated_service_is_already_evaluated(engine: HallEngine) -> None:
    ticket = serving(engine)
    engine.handle(c.Finish(window=1), T0 + MINUTE)
    engine.handle(c.Rate(ticket=ticket, level=c.RatingLevel.SATISFIED), T0 + MINUTE + 1)
    again = c.Rate(ticket=ticket, level=c.RatingLevel.VERY_SATISFIED)
    reject(engine, again, T0 + MINUTE + 2, R.ALREADY_EVALUATED)


def _signed(counter: int, key_id: str = "k1") -> c.PadSignature:
    return c.PadSignature(device="pad-1", key_id=key_id, counter=counter, mac="00" * 32)


def test_signed_counters_must_grow_per_pad_and_key_and_fold_from_the_log(
    engine: HallEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    log: list[ev.AnyEvent] = []
    handle = engine.handle

    def recording(command: c.AnyCommand, now: int) -> list[ev.AnyEvent]:
        events = handle(command, now)
        log.extend(events)
        return events

    monkeypatch.setattr(engine, "handle", recording)
    first = serving(engine)
    engine.handle(c.Finish(window=1), T0 + MINUTE)
    rate = c.Rate(
        ticket=first,
        level=c.RatingLevel.SATISFIED,
        evidence=c.Evidence.SIGNED,
        signature=_signed(5),
    )
    [rated] = engine.handle(rate, T0 + MINUTE + 1)
    assert isinstance(rated, ev.ServiceRated) and rated.signature == _signed(5)
    assert rated.evidence is c.Evidence.SIGNED
    second = serving(engine)
    engine.handle(c.Finish(window=1), T0 + 2 * MINUTE)
    used = c.MissEvaluation(ticket=second, signature=_signed(5))
    reject(engine, used, T0 + 2 * MINUTE + 1, R.REPLAYED_COUNTER)
    engine.handle(msgspec.structs.replace(used, signature=_signed(100)), T0 + 2 * MINUTE + 2)
    # 36 = 100 - 64 is too old; 99, never used (a rating held back by a link loss), counts.
    third = serving(engine)
    engine.handle(c.Finish(window=1), T0 + 3 * MINUTE)
    late = c.Rate(ticket=third, level=c.RatingLevel.SATISFIED, signature=_signed(36))
    reject(engine, late, T0 + 3 * MINUTE + 1, R.REPLAYED_COUNTER)
    engine.handle(msgspec.structs.replace(late, signature=_signed(99)), T0 + 3 * MINUTE + 2)
    fourth = serving(engine)
    engine.handle(c.Finish(window=1), T0 + 4 * MINUTE)
    again = c.Rate(ticket=fourth, level=c.RatingLevel.SATISFIED, signature=_signed(99))
    reject(engine, again, T0 + 4 * MINUTE + 1, R.REPLAYED_COUNTER)
    # A new key (rotation) counts from the start again.
    engine.handle(msgspec.structs.replace(again, signature=_signed(1, "k2")), T0 + 4 * MINUTE + 2)
    assert engine.state.pad_counter("pad-1", "k1") == 100
    assert engine.state.pad_counter("pad-1", "k2") == 1
    # Folded again from the events (a restart), and through a snapshot: the same marks.
    folded = HallState(engine.config)
    for event in log:
        folded.apply(event)
    restored = HallState.from_snapshot(engine.config, engine.state.to_snapshot())
    marks = {("pad-1", "k1"): [99, 100], ("pad-1", "k2"): [1]}  # 5 fell out of the window
    assert folded.pad_counters == restored.pad_counters == engine.state.pad_counters == marks


def test_daily_close_expires_leftovers(engine: HallEngine) -> None:
    serving(engine)  # A001 serving at window 1
    engine.handle(c.IssueTicket(service="A"), T0 + 5)  # A002 waiting
    engine.handle(c.IssueTicket(service="B"), T0 + 6)  # B001 called at window 2
    engine.handle(c.Login(window=2, staff="1002"), T0 + 7)
    engine.handle(c.CallNext(window=2), T0 + 8)
    events = engine.handle(c.CloseDay(), T0 + 9 * 60 * MINUTE)
    assert [type(e) for e in events] == [ev.TicketExpired, ev.TicketExpired, ev.DayClosed]
    # The expired tickets leave the live state (the log keeps them); A001 is still served.
    states = {t.number: t.state for t in engine.state.tickets.values()}
    assert states == {"A001": TicketState.SERVING}
    assert engine.state.totals.expired == 2
    assert engine.state.windows[2].state is WindowState.IDLE


def test_daily_close_carry_over_keeps_waiting_and_skips_their_numbers() -> None:
    engine = HallEngine(small_hall(leftover=LeftoverPolicy.CARRY_OVER))
    engine.handle(c.IssueTicket(service="A"), T0)
    engine.handle(c.IssueTicket(service="A"), T0 + 1)
    [closed] = engine.handle(c.CloseDay(), T0 + 9 * 60 * MINUTE)
    assert isinstance(closed, ev.DayClosed) and closed.carried_over == 2
    [tomorrow] = engine.handle(c.IssueTicket(service="A"), T0 + 24 * 60 * MINUTE)
    assert isinstance(tomorrow, ev.TicketIssued) and tomorrow.number == "A003"


def test_booked_appointment_checks_in_with_its_code(engine: HallEngine) -> None:
    slot = {"slot_start_ms": T0 + 60 * MINUTE, "slot_end_ms": T0 + 90 * MINUTE}
    engine.handle(c.RegisterAppointment(appointment_id="YY-7", service="A", **slot), T0)
    reject(
        engine,
        c.IssueTicket(service="B", appointment_id="YY-7"),
        T0,
        R.APPOINTMENT_FOR_OTHER_SERVICE,
    )
    reject(engine, c.IssueTicket(service="A", appointment_id="YY-8"), T0, R.UNKNOWN_APPOINTMENT)
    [issued] = engine.handle(c.IssueTicket(service="A", appointment_id="YY-7"), T0 + 55 * MINUTE)
    assert isinstance(issued, ev.TicketIssued)
    assert issued.priority is PriorityClass.APPOINTMENT
    assert (issued.slot_start_ms, issued.slot_end_ms) == (
        slot["slot_start_ms"],
        slot["slot_end_ms"],
    )
    reject(
        engine,
        c.IssueTicket(service="A", appointment_id="YY-7"),
        T0 + 56 * MINUTE,
        R.APPOINTMENT_ALREADY_CHECKED_IN,
    )
    assert "YY-7" not in engine.state.appointments


def test_registering_a_bad_booking_is_refused(engine: HallEngine) -> None:
    bad_slot = c.RegisterAppointment(
        appointment_id="Y", service="A", slot_start_ms=T0 + 10, slot_end_ms=T0
    )
    reject(engine, bad_slot, T0, R.BAD_APPOINTMENT_SLOT)
    unknown = c.RegisterAppointment(
        appointment_id="Y", service="Z", slot_start_ms=T0, slot_end_ms=T0 + 10
    )
    reject(engine, unknown, T0, R.UNKNOWN_SERVICE)


def test_daily_close_voids_bookings_whose_slot_passed(engine: HallEngine) -> None:
    engine.handle(
        c.RegisterAppointment(
            appointment_id="past", service="A", slot_start_ms=T0, slot_end_ms=T0 + 30 * MINUTE
        ),
        T0,
    )
    tomorrow = T0 + 24 * 60 * MINUTE
    engine.handle(
        c.RegisterAppointment(
            appointment_id="next",
            service="A",
            slot_start_ms=tomorrow,
            slot_end_ms=tomorrow + MINUTE,
        ),
        T0,
    )
    engine.handle(c.CloseDay(), T0 + 9 * 60 * MINUTE)
    assert set(engine.state.appointments) == {"next"}
