"""Online bookings in the engine: offered slots, capacity, limits, 爽约, kiosk check-in.

The property test drives random interleavings of book / cancel / reschedule / check-in and
checks after every command that no slot holds more bookings than its capacity, that the
state's counters agree with a recount of the active bookings, that refused commands changed
nothing, and that replaying the log rebuilds the same state.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import Counter
from datetime import date, time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.config.model import Appointments, HallConfig, LateArrival, ServiceBooking, SlotRules
from controller.core import commands as c
from controller.core import events as ev
from controller.core.engine import HallEngine
from controller.core.lifecycle import Rejected, RejectReason
from controller.core.state import HallState
from tests.controller.halls import MINUTE, MONDAY_9AM, small_hall

DAY = 86_400_000
SLOT = 30 * MINUTE
R = RejectReason
# Booking opens on Monday 2026-11-23 at 08:00 for slots from 09:00 (30-minute slots).
MONDAY_8AM = MONDAY_9AM - 60 * MINUTE


def booking_hall(capacity: int = 2, **changes: object) -> HallConfig:
    rules = SlotRules(slot_minutes=30, capacity=capacity, days_ahead=7, cutoff_minutes=30)
    settings_ = Appointments(
        enabled=True,
        rules=rules,
        services=(ServiceBooking("C", enabled=False),),
    )
    return dataclasses.replace(small_hall(), appointments=dataclasses.replace(settings_, **changes))


def book(code: str, start: int, phone: str = "p1", service: str = "A") -> c.BookAppointment:
    return c.BookAppointment(code=code, service=service, slot_start_ms=start, phone_key=phone)


def refused(engine: HallEngine, command: c.AnyCommand, now: int) -> Rejected:
    before = engine.state.fingerprint()
    with pytest.raises(Rejected) as info:
        engine.handle(command, now)
    assert engine.state.fingerprint() == before
    return info.value


def test_capacity_is_never_exceeded_and_a_cancelled_place_is_reusable() -> None:
    engine = HallEngine(booking_hall(capacity=2))
    engine.handle(book("K1", MONDAY_9AM, "p1"), MONDAY_8AM)
    engine.handle(book("K2", MONDAY_9AM, "p2"), MONDAY_8AM)
    full = refused(engine, book("K3", MONDAY_9AM, "p3"), MONDAY_8AM)
    assert full.reason is R.SLOT_FULL and "约满" in full.detail
    engine.handle(c.CancelAppointment(code="K1"), MONDAY_8AM)
    engine.handle(book("K3", MONDAY_9AM, "p3"), MONDAY_8AM)
    assert engine.state.slot_taken[("A", MONDAY_9AM)] == 2


def test_only_offered_slots_can_be_booked() -> None:
    engine = HallEngine(booking_hall())
    misaligned = refused(engine, book("K1", MONDAY_9AM + 10 * MINUTE), MONDAY_8AM)
    assert misaligned.reason is R.SLOT_NOT_OFFERED
    lunch = refused(engine, book("K1", MONDAY_9AM + 3 * 60 * MINUTE), MONDAY_8AM)  # 12:00
    assert lunch.reason is R.SLOT_NOT_OFFERED
    past_cutoff = refused(engine, book("K1", MONDAY_9AM), MONDAY_9AM - 20 * MINUTE)
    assert past_cutoff.reason is R.BOOKING_CUTOFF
    too_far = refused(engine, book("K1", MONDAY_9AM + 8 * DAY), MONDAY_8AM)
    assert too_far.reason is R.SLOT_NOT_OFFERED
    saturday = refused(engine, book("K1", MONDAY_9AM + 5 * DAY), MONDAY_8AM)
    assert saturday.reason is R.SLOT_NOT_OFFERED and "不办公" in saturday.detail
    closed_service = refused(engine, book("K1", MONDAY_9AM, service="C"), MONDAY_8AM)
    assert closed_service.reason is R.BOOKING_CLOSED
    unknown = refused(engine, book("K1", MONDAY_9AM, service="Z"), MONDAY_8AM)
    assert unknown.reason is R.UNKNOWN_SERVICE


def test_the_official_calendar_with_adjusted_workdays_decides_open_days() -> None:
    """The same calendar as 差评 deadlines (chinese-calendar, 调休 included): 国庆 is closed."""
    engine = HallEngine(booking_hall(rules=SlotRules(days_ahead=30)))
    plan = engine.slots
    assert plan.day_slots("A", date(2026, 10, 1)) == []  # 国庆
    assert plan.day_slots("A", date(2026, 10, 10)) != []  # a Saturday worked (调休)
    assert plan.day_slots("A", date(2026, 10, 11)) == []  # an ordinary Sunday
    assert plan.day_slots("A", date(2026, 9, 30)) != []
    monday = plan.day_slots("A", date(2026, 11, 23))
    assert [s.start_ms for s in monday[:2]] == [MONDAY_9AM, MONDAY_9AM + SLOT]
    assert len(monday) == 6 + 7  # 09:00-12:00 and 13:30-17:00 in 30-minute slots


def test_a_per_service_override_changes_its_slots() -> None:
    override = ServiceBooking(
        "B", rules=SlotRules(slot_minutes=15, capacity=1, windows=((time(9), time(10)),))
    )
    engine = HallEngine(booking_hall(services=(override,)))
    assert len(engine.slots.day_slots("B", date(2026, 11, 23))) == 4
    engine.handle(book("K1", MONDAY_9AM + 15 * MINUTE, service="B"), MONDAY_8AM)
    assert refused(engine, book("K2", MONDAY_9AM + 15 * MINUTE, "p2", "B"), MONDAY_8AM).reason is (
        R.SLOT_FULL
    )


def test_one_active_booking_per_phone_service_and_day() -> None:
    engine = HallEngine(booking_hall(capacity=5))
    engine.handle(book("K1", MONDAY_9AM, "p1"), MONDAY_8AM)
    again = refused(engine, book("K2", MONDAY_9AM + SLOT, "p1"), MONDAY_8AM)
    assert again.reason is R.BOOKING_LIMIT_REACHED
    engine.handle(book("K2", MONDAY_9AM + DAY, "p1"), MONDAY_8AM)  # another day
    engine.handle(book("K3", MONDAY_9AM, "p1", service="B"), MONDAY_8AM)  # another service
    duplicate_code = refused(engine, book("K1", MONDAY_9AM, "p9"), MONDAY_8AM)
    assert duplicate_code.reason is R.BOOKING_CODE_TAKEN


def test_cancel_and_reschedule_need_the_booking_s_own_phone() -> None:
    engine = HallEngine(booking_hall(capacity=1))
    engine.handle(book("K1", MONDAY_9AM, "p1"), MONDAY_8AM)
    engine.handle(book("K2", MONDAY_9AM + SLOT, "p2"), MONDAY_8AM)
    wrong = refused(engine, c.CancelAppointment(code="K1", phone_key="p2"), MONDAY_8AM)
    assert wrong.reason is R.UNKNOWN_APPOINTMENT
    onto_full = c.RescheduleAppointment(code="K1", slot_start_ms=MONDAY_9AM + SLOT, phone_key="p1")
    assert refused(engine, onto_full, MONDAY_8AM).reason is R.SLOT_FULL
    move = c.RescheduleAppointment(code="K1", slot_start_ms=MONDAY_9AM + 2 * SLOT, phone_key="p1")
    engine.handle(move, MONDAY_8AM)
    assert engine.state.slot_taken == {("A", MONDAY_9AM + SLOT): 1, ("A", MONDAY_9AM + 2 * SLOT): 1}
    engine.handle(book("K3", MONDAY_9AM, "p3"), MONDAY_8AM)  # the old place is free again
    engine.handle(c.CancelAppointment(code="K1", phone_key="p1"), MONDAY_8AM)
    assert refused(engine, c.CancelAppointment(code="K1"), MONDAY_8AM).reason is (
        R.UNKNOWN_APPOINTMENT
    )


def test_kiosk_check_in_within_tolerance_gives_a_priority_ticket() -> None:
    engine = HallEngine(booking_hall())  # early 10 min, late 15 min (policy defaults)
    engine.handle(book("K1", MONDAY_9AM + 2 * SLOT, "p1"), MONDAY_8AM)  # 10:00-10:30
    early = refused(engine, c.IssueTicket(service="A", appointment_id="K1"), MONDAY_9AM)
    assert early.reason is R.APPOINTMENT_TOO_EARLY
    assert early.detail == "预约时段 10:00-10:30，请于 09:50 后签到"
    [issued] = engine.handle(
        c.IssueTicket(service="A", appointment_id="K1"), MONDAY_9AM + 50 * MINUTE
    )
    assert isinstance(issued, ev.TicketIssued) and issued.priority is not None
    assert "K1" not in engine.state.bookings
    assert engine.state.slot_taken[("A", MONDAY_9AM + 2 * SLOT)] == 1  # used, not freed
    again = refused(engine, c.IssueTicket(service="A", appointment_id="K1"), MONDAY_9AM + 3 * SLOT)
    assert again.reason is R.APPOINTMENT_ALREADY_CHECKED_IN


def test_too_early_on_another_day_names_the_date() -> None:
    engine = HallEngine(booking_hall())
    engine.handle(book("K1", MONDAY_9AM + DAY, "p1"), MONDAY_8AM)
    early = refused(engine, c.IssueTicket(service="A", appointment_id="K1"), MONDAY_9AM)
    assert early.detail == "预约时段 09:00-09:30，请于 11月24日 08:50 后签到"


@pytest.mark.parametrize("fallback", list(LateArrival))
def test_a_late_arrival_follows_the_configured_fallback(fallback: LateArrival) -> None:
    engine = HallEngine(booking_hall(late_arrival=fallback))
    engine.handle(book("K1", MONDAY_9AM, "p1"), MONDAY_8AM)
    late = MONDAY_9AM + SLOT + 16 * MINUTE  # 15 minutes' tolerance after 09:30
    take = c.IssueTicket(service="A", appointment_id="K1")
    if fallback is LateArrival.REFUSE:
        assert refused(engine, take, late).reason is R.APPOINTMENT_TOO_LATE
        return
    [issued] = engine.handle(take, late)
    assert isinstance(issued, ev.TicketIssued) and issued.priority is None
    assert "K1" not in engine.state.bookings  # came, late: not a 爽约


def close_day(engine: HallEngine, day: int) -> list[ev.AnyEvent]:
    """Close Monday + ``day`` at 17:30."""
    return engine.handle(c.CloseDay(), MONDAY_9AM + day * DAY + 510 * MINUTE)


def test_three_no_shows_in_30_days_block_online_booking_for_30_days() -> None:
    engine = HallEngine(booking_hall())
    for n in range(3):
        engine.handle(book(f"K{n}", MONDAY_9AM + n * DAY, "p1"), MONDAY_8AM)
        engine.handle(book(f"S{n}", MONDAY_9AM + n * DAY, "p2"), MONDAY_8AM)
        engine.handle(
            c.IssueTicket(service="A", appointment_id=f"S{n}"), MONDAY_9AM + n * DAY
        )  # p2 comes
        events = close_day(engine, n)
        missed = [e for e in events if isinstance(e, ev.AppointmentMissed)]
        assert [e.code for e in missed] == [f"K{n}"]
        assert sum(isinstance(e, ev.DayClosed) for e in events) == 1
    [block] = [e for e in events if isinstance(e, ev.BookingBlocked)]
    assert block.phone_key == "p1" and block.no_shows == 3
    blocked = refused(
        engine, book("K9", MONDAY_9AM + 3 * DAY, "p1"), MONDAY_9AM + 2 * DAY + DAY // 2
    )
    assert blocked.reason is R.BOOKING_BLOCKED and "爽约" in blocked.detail
    engine.handle(book("K9", MONDAY_9AM + 3 * DAY, "p2"), MONDAY_9AM + 2 * DAY + DAY // 2)
    assert "p2" not in engine.state.booking_blocks
    assert refused(engine, c.CloseDay(), MONDAY_9AM + 2 * DAY + 520 * MINUTE).reason is (
        R.DAY_ALREADY_CLOSED
    )


def test_the_no_show_rule_is_configuration() -> None:
    engine = HallEngine(booking_hall(no_show_limit=1, block_days=2))
    engine.handle(book("K1", MONDAY_9AM, "p1"), MONDAY_8AM)
    [block] = [e for e in close_day(engine, 0) if isinstance(e, ev.BookingBlocked)]
    assert block.until == MONDAY_9AM + 510 * MINUTE + 2 * DAY


# -- the property ------------------------------------------------------------------------------

CODES = st.sampled_from([f"K{n}" for n in range(8)])
PHONES = st.sampled_from(["p1", "p2", "p3", "p4", "p5"])
STARTS = st.sampled_from(
    [MONDAY_9AM + n * SLOT for n in (0, 1, 2, -1)] + [MONDAY_9AM + DAY, MONDAY_9AM + DAY + SLOT]
)
OPTIONAL_PHONE = st.one_of(st.none(), PHONES)
SERVICES = st.sampled_from(["A", "B"])
ACTIONS = st.one_of(
    st.builds(
        lambda code, service, start, phone: c.BookAppointment(
            code=code, service=service, slot_start_ms=start, phone_key=phone
        ),
        CODES,
        SERVICES,
        STARTS,
        PHONES,
    ),
    st.builds(c.CancelAppointment, code=CODES, phone_key=OPTIONAL_PHONE),
    st.builds(c.RescheduleAppointment, code=CODES, slot_start_ms=STARTS, phone_key=OPTIONAL_PHONE),
    st.builds(c.IssueTicket, service=SERVICES, appointment_id=CODES),
)


def check_invariants(engine: HallEngine) -> None:
    state = engine.state
    recount = Counter((b.service, b.slot_start_ms) for b in state.bookings.values())
    for (service, start), taken in state.slot_taken.items():
        assert taken <= engine.slots.rules(service).capacity
        assert taken >= recount[(service, start)]  # checked-in places stay taken
    per_phone = Counter((b.phone_key, b.service, b.day) for b in state.bookings.values())
    assert all(n <= 1 for n in per_phone.values())
    assert {k: len(v) for k, v in state.phone_bookings.items()} == dict(per_phone)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(
        st.tuples(ACTIONS, st.integers(min_value=0, max_value=40)), min_size=1, max_size=60
    ),
    capacity=st.integers(min_value=1, max_value=3),
)
def test_no_interleaving_oversells_a_slot(
    steps: list[tuple[c.AnyCommand, int]], capacity: int
) -> None:
    config = booking_hall(capacity=capacity)
    engine = HallEngine(config)
    log: list[ev.AnyEvent] = []
    now = MONDAY_8AM - 30 * MINUTE
    for command, minutes in steps:
        now += minutes * MINUTE // 4
        before = engine.state.fingerprint()
        try:
            events = engine.handle(command, now)
        except Rejected:
            assert engine.state.fingerprint() == before
            continue
        log.extend(events)
        check_invariants(engine)
    replayed = HallState(config)
    replayed.apply_all(log)
    assert replayed.fingerprint() == engine.state.fingerprint()
    restored = HallState.from_snapshot(config, engine.state.to_snapshot())
    assert restored.fingerprint() == engine.state.fingerprint()
    assert restored.slot_taken == engine.state.slot_taken
    assert restored.phone_bookings == engine.state.phone_bookings
    with contextlib.suppress(Rejected):
        engine.handle(c.CloseDay(), MONDAY_9AM + 2 * DAY)
    check_invariants(engine)
    assert not [b for b in engine.state.bookings.values() if b.slot_end_ms < MONDAY_9AM + DAY]


def test_cancelled_places_are_reusable_up_to_capacity_exactly() -> None:
    """Fill, cancel all, fill again: the same slot takes exactly ``capacity`` twice."""
    engine = HallEngine(booking_hall(capacity=3))
    for round_ in range(2):
        accepted = 0
        for n in range(6):
            with contextlib.suppress(Rejected):
                engine.handle(book(f"R{round_}{n}", MONDAY_9AM, f"q{round_}{n}"), MONDAY_8AM)
                accepted += 1
        assert accepted == 3
        for n in range(3):
            engine.handle(c.CancelAppointment(code=f"R{round_}{n}"), MONDAY_8AM)
    assert ("A", MONDAY_9AM) not in engine.state.slot_taken


def test_a_checked_in_place_stays_taken_after_a_restart_from_a_snapshot() -> None:
    config = booking_hall(capacity=1)
    engine = HallEngine(config)
    engine.handle(book("K1", MONDAY_9AM, "p1"), MONDAY_8AM)
    engine.handle(c.IssueTicket(service="A", appointment_id="K1"), MONDAY_9AM)
    restored = HallEngine(config, HallState.from_snapshot(config, engine.state.to_snapshot()))
    assert restored.state.slot_taken == {("A", MONDAY_9AM): 1}
    late_booker = book("K2", MONDAY_9AM + SLOT, "p2")
    restored.handle(late_booker, MONDAY_8AM)  # another slot: fine
    assert refused(restored, book("K3", MONDAY_9AM, "p3"), MONDAY_8AM).reason is R.SLOT_FULL


def test_the_close_forgets_past_slots_but_not_one_still_running() -> None:
    late = SlotRules(
        slot_minutes=30, capacity=2, windows=((time(9), time(9, 30)), (time(17, 15), time(17, 45)))
    )
    engine = HallEngine(booking_hall(rules=late))
    engine.handle(book("K1", MONDAY_9AM, "p1"), MONDAY_8AM)
    running = MONDAY_9AM + 495 * MINUTE  # 17:15, across the 17:30 close
    engine.handle(book("K2", running, "p2"), MONDAY_8AM)
    events = close_day(engine, 0)
    assert [e.code for e in events if isinstance(e, ev.AppointmentMissed)] == ["K1"]
    assert engine.state.slot_taken == {("A", running): 1}
    engine.handle(c.CancelAppointment(code="K2"), MONDAY_9AM + 512 * MINUTE)
    assert engine.state.slot_taken == {}
