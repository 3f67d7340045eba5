"""Day rules of the engine: one close per business day, an administrator's early close,
numbering across the close, and what the close archives (and what it must keep)."""

from __future__ import annotations

import msgspec
import pytest

from controller.core import commands as c
from controller.core import events as ev
from controller.core.engine import HallEngine
from controller.core.lifecycle import EvaluationState, Rejected, RejectReason
from controller.core.state import SNAPSHOT_DECODER, SNAPSHOT_ENCODER, HallState
from tests.controller.halls import MINUTE, MONDAY_9AM, small_hall

R = RejectReason
HOUR = 60 * MINUTE
DAY = 24 * HOUR
CLOSING = MONDAY_9AM + 8 * HOUR + 30 * MINUTE  # Monday 2026-11-23 17:30


def opened_engine() -> HallEngine:
    """An engine whose log began on Monday at 08:00 (no close due before Monday 17:30)."""
    engine = HallEngine(small_hall())
    engine.state.apply(ev.HallConfigured(at=MONDAY_9AM - HOUR, text="", digest="d"))
    return engine


def reject(engine: HallEngine, command: c.AnyCommand, now: int, reason: RejectReason) -> None:
    before = engine.state.fingerprint()
    with pytest.raises(Rejected) as info:
        engine.handle(command, now)
    assert info.value.reason is reason
    assert engine.state.fingerprint() == before, "a refused command changed the state"


def close(engine: HallEngine, now: int, *, early: bool = False) -> ev.DayClosed:
    closed = engine.handle(c.CloseDay(early=early), now)[-1]
    assert isinstance(closed, ev.DayClosed)
    return closed


def serve(engine: HallEngine, now: int, window: int = 1, service: str = "A") -> int:
    """Issue, call and finish one ticket at ``window``; return its id."""
    [issued] = engine.handle(c.IssueTicket(service=service), now)
    assert isinstance(issued, ev.TicketIssued)
    engine.handle(c.CallNumber(window=window, number=issued.number), now + 1)
    engine.handle(c.Finish(window=window), now + 2)
    return issued.ticket


def test_a_second_close_of_the_same_day_is_refused() -> None:
    engine = opened_engine()
    reject(engine, c.CloseDay(), CLOSING - MINUTE, R.DAY_ALREADY_CLOSED)
    assert close(engine, CLOSING).day == "2026-11-23"
    reject(engine, c.CloseDay(), CLOSING + 1000, R.DAY_ALREADY_CLOSED)
    reject(engine, c.CloseDay(early=True), CLOSING + HOUR, R.DAY_ALREADY_CLOSED)
    reject(engine, c.CloseDay(), CLOSING + DAY - 1000, R.DAY_ALREADY_CLOSED)
    assert close(engine, CLOSING + DAY).day == "2026-11-24"


def test_an_early_close_closes_today_once() -> None:
    engine = opened_engine()
    engine.handle(c.IssueTicket(service="A"), MONDAY_9AM)
    reject(engine, c.CloseDay(), MONDAY_9AM + 6 * HOUR, R.DAY_ALREADY_CLOSED)  # not early
    closed = close(engine, MONDAY_9AM + 6 * HOUR, early=True)
    assert (closed.day, closed.early, closed.expired) == ("2026-11-23", True, 1)
    reject(engine, c.CloseDay(), CLOSING, R.DAY_ALREADY_CLOSED)  # the scheduled one
    assert close(engine, CLOSING + DAY).day == "2026-11-24"


def test_a_missed_close_is_made_up_before_an_early_one() -> None:
    engine = opened_engine()
    # Down over Monday's closing time; back on Tuesday at 15:00 an administrator closes early.
    assert close(engine, CLOSING + DAY - 150 * MINUTE, early=True).day == "2026-11-23"
    assert close(engine, CLOSING + DAY - 149 * MINUTE, early=True).day == "2026-11-24"
    reject(engine, c.CloseDay(), CLOSING + DAY, R.DAY_ALREADY_CLOSED)


def test_tickets_taken_after_the_close_continue_the_days_numbers() -> None:
    engine = opened_engine()
    numbers = []
    for now in (MONDAY_9AM, CLOSING + HOUR, CLOSING + 2 * HOUR, MONDAY_9AM + DAY):
        if now == CLOSING + HOUR:
            close(engine, CLOSING)
        [issued] = engine.handle(c.IssueTicket(service="A"), now)
        assert isinstance(issued, ev.TicketIssued)
        numbers.append((issued.day, issued.number))
    assert numbers == [
        ("2026-11-23", "A001"),
        ("2026-11-23", "A002"),
        ("2026-11-23", "A003"),
        ("2026-11-24", "A001"),
    ]


def test_the_close_archives_final_tickets_and_keeps_what_is_still_referenced() -> None:
    engine = opened_engine()
    engine.handle(c.Login(window=1, staff="1001"), MONDAY_9AM)
    engine.handle(c.Login(window=2, staff="1002"), MONDAY_9AM)
    rated = serve(engine, MONDAY_9AM + MINUTE)  # rated 非常不满意: a 差评 case names it
    engine.handle(
        c.Rate(ticket=rated, level=c.RatingLevel.VERY_DISSATISFIED), MONDAY_9AM + MINUTE + 5
    )
    follow_up = serve(engine, MONDAY_9AM + HOUR)  # not rated: its 追评 stays possible 7 days
    [no_show] = engine.handle(c.IssueTicket(service="B"), MONDAY_9AM + 2 * HOUR)
    assert isinstance(no_show, ev.TicketIssued)
    engine.handle(c.CallNext(window=2), MONDAY_9AM + 2 * HOUR + 1)
    engine.handle(c.NoShow(window=2), MONDAY_9AM + 2 * HOUR + 2)
    last = serve(engine, CLOSING - 2000)  # window 1's last service, its rating still awaited
    engine.handle(c.Tick(), MONDAY_9AM + 3 * HOUR)  # follow_up's rating window ran out
    close(engine, CLOSING)
    tickets = engine.state.tickets
    assert no_show.ticket not in tickets and engine.state.is_archived(no_show.ticket)
    assert {rated, follow_up, last} <= set(tickets)
    assert tickets[last].evaluation is EvaluationState.AWAITING
    reject(engine, c.CancelTicket(ticket=no_show.ticket), CLOSING + 1, R.TICKET_CLOSED)
    reject(
        engine,
        c.Rate(ticket=no_show.ticket, level=c.RatingLevel.SATISFIED),
        CLOSING + 1,
        R.EVALUATION_CLOSED,
    )
    reject(engine, c.CancelTicket(ticket=999), CLOSING + 1, R.UNKNOWN_TICKET)

    engine.handle(c.Tick(), CLOSING + HOUR)  # last's rating window ran out too
    assert tickets[last].evaluation is EvaluationState.NOT_EVALUATED
    for day in range(1, 7):  # the 追评 period (7 days) has not ended at these closes
        close(engine, CLOSING + day * DAY)
        assert follow_up in engine.state.tickets
    close(engine, CLOSING + 7 * DAY)
    assert follow_up not in engine.state.tickets
    assert {rated, last} <= set(engine.state.tickets)  # the case's, the window's last
    reject(
        engine,
        c.FollowUpRate(ticket=follow_up, level=c.RatingLevel.SATISFIED),
        CLOSING + 7 * DAY + 1,
        R.EVALUATION_CLOSED,
    )


class OldDayClosed(msgspec.Struct, tag="day_closed", tag_field="e", kw_only=True):
    at: int
    expired: int
    carried_over: int


def test_a_close_recorded_before_days_were_named_is_read_as_its_day() -> None:
    record = msgspec.msgpack.encode([OldDayClosed(at=CLOSING + 5000, expired=0, carried_over=0)])
    [closed] = ev.decode_record(record)
    assert isinstance(closed, ev.DayClosed) and closed.day == ""
    engine = opened_engine()
    engine.state.apply(closed)
    assert engine.state.last_closed_day == "2026-11-23"
    reject(engine, c.CloseDay(), CLOSING + HOUR, R.DAY_ALREADY_CLOSED)


def test_the_closed_day_survives_a_snapshot() -> None:
    engine = opened_engine()
    engine.handle(c.IssueTicket(service="A"), MONDAY_9AM)
    close(engine, CLOSING)
    snap = SNAPSHOT_DECODER.decode(SNAPSHOT_ENCODER.encode(engine.state.to_snapshot()))
    restored = HallState.from_snapshot(engine.config, snap)
    assert restored.last_closed_day == "2026-11-23"
    assert restored.ticket_days == {"2026-11-23"}
    assert restored.fingerprint() == engine.state.fingerprint()
