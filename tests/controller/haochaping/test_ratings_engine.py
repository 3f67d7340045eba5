"""Ratings: record fields, 追评 once, and every bad input refused with its reason, unchanged."""

from __future__ import annotations

import pytest

from controller.core import commands as c
from controller.core import events as ev
from controller.core.case_numbers import generated_case_number
from controller.core.engine import HallEngine
from controller.core.lifecycle import FollowUpState, Rejected, RejectReason
from tests.controller.haochaping.conftest import T0, served

R = RejectReason
L = c.RatingLevel
DAY = 86_400_000


def reject(engine: HallEngine, command: c.AnyCommand, now: int, reason: RejectReason) -> None:
    before = engine.state.fingerprint()
    with pytest.raises(Rejected) as info:
        engine.handle(command, now)
    assert info.value.reason is reason
    assert engine.state.fingerprint() == before, "a refused command changed the state"


def test_a_rating_carries_the_record_fields(engine: HallEngine) -> None:
    ticket = served(engine)
    [rated] = engine.handle(
        c.Rate(ticket=ticket, level=L.SATISFIED, rater_kind=c.RaterKind.INDIVIDUAL), T0 + 10
    )
    assert isinstance(rated, ev.ServiceRated)
    assert (rated.window, rated.staff, rated.service) == (1, "1001", "A")
    assert rated.channel is c.RatingChannel.WINDOW_PAD and not rated.follow_up
    assert rated.case_number == generated_case_number("330999", "demo", "2026-11-23", ticket)
    assert len(rated.case_number) <= 50


def test_the_business_systems_case_number_is_used(engine: HallEngine) -> None:
    ticket = served(engine)
    engine.handle(c.SetCaseNumber(ticket=ticket, case_number="330999-BJ-2026-000123"), T0 + 5)
    [rated] = engine.handle(c.Rate(ticket=ticket, level=L.VERY_SATISFIED), T0 + 10)
    assert isinstance(rated, ev.ServiceRated) and rated.case_number == "330999-BJ-2026-000123"


@pytest.mark.parametrize("bad", ["", "x" * 51, "has space", "中文编号"])
def test_a_malformed_case_number_is_refused(engine: HallEngine, bad: str) -> None:
    ticket = served(engine)
    reject(engine, c.SetCaseNumber(ticket=ticket, case_number=bad), T0 + 5, R.BAD_CASE_NUMBER)


def test_rating_an_unknown_ticket_is_refused(engine: HallEngine) -> None:
    reject(engine, c.Rate(ticket=99, level=L.SATISFIED), T0, R.UNKNOWN_TICKET)
    reject(engine, c.FollowUpRate(ticket=99, level=L.SATISFIED), T0, R.UNKNOWN_TICKET)


def test_rating_an_unserved_ticket_is_refused(engine: HallEngine) -> None:
    [issued] = engine.handle(c.IssueTicket(service="A"), T0)
    assert isinstance(issued, ev.TicketIssued)
    reject(engine, c.Rate(ticket=issued.ticket, level=L.SATISFIED), T0 + 1, R.NOT_FINISHED)
    follow_up = c.FollowUpRate(ticket=issued.ticket, level=L.SATISFIED)
    reject(engine, follow_up, T0 + 1, R.NOT_FINISHED)


def test_a_second_pad_rating_is_refused(engine: HallEngine) -> None:
    ticket = served(engine)
    engine.handle(c.Rate(ticket=ticket, level=L.SATISFIED), T0 + 10)
    reject(engine, c.Rate(ticket=ticket, level=L.VERY_SATISFIED), T0 + 11, R.ALREADY_EVALUATED)


def test_a_pad_rating_after_the_window_closed_is_refused(engine: HallEngine) -> None:
    ticket = served(engine)
    late = T0 + 4 + engine.state.evaluation_window_ms + 1
    reject(engine, c.Rate(ticket=ticket, level=L.SATISFIED), late, R.EVALUATION_CLOSED)


def test_a_not_evaluated_service_stays_unrated(engine: HallEngine) -> None:
    ticket = served(engine)
    [missed] = engine.handle(c.Tick(), T0 + 4 + engine.state.evaluation_window_ms + 1)
    assert isinstance(missed, ev.EvaluationMissed)
    assert engine.state.tickets[ticket].rating is None
    assert engine.state.totals.rated == 0 and engine.state.totals.not_evaluated == 1


def test_unknown_reason_tags_and_long_text_are_refused(engine: HallEngine) -> None:
    ticket = served(engine)
    bad_tag = c.Rate(ticket=ticket, level=L.DISSATISFIED, reasons=("rude",))
    reject(engine, bad_tag, T0 + 10, R.UNKNOWN_REASON)
    twice = c.Rate(ticket=ticket, level=L.DISSATISFIED, reasons=("wait", "wait"))
    reject(engine, twice, T0 + 10, R.UNKNOWN_REASON)
    long_text = c.Rate(ticket=ticket, level=L.SATISFIED, text="字" * 501)
    reject(engine, long_text, T0 + 10, R.BAD_RATING_TEXT)


def test_one_follow_up_rating_per_ticket(engine: HallEngine) -> None:
    ticket = served(engine)
    engine.handle(c.Rate(ticket=ticket, level=L.VERY_SATISFIED), T0 + 10)
    [follow] = engine.handle(
        c.FollowUpRate(ticket=ticket, level=L.BASICALLY_SATISFIED, text="材料齐了"), T0 + DAY
    )
    assert isinstance(follow, ev.ServiceRated) and follow.follow_up
    assert follow.channel is c.RatingChannel.QR_CODE
    assert engine.state.tickets[ticket].follow_up is FollowUpState.USED
    assert engine.state.totals.follow_ups == 1 and engine.state.totals.rated == 1
    again = c.FollowUpRate(ticket=ticket, level=L.SATISFIED)
    reject(engine, again, T0 + DAY + 1, R.FOLLOW_UP_USED)


def test_a_follow_up_after_its_period_is_refused(engine: HallEngine) -> None:
    ticket = served(engine)
    late = T0 + 4 + 7 * DAY + 1
    reject(engine, c.FollowUpRate(ticket=ticket, level=L.SATISFIED), late, R.EVALUATION_CLOSED)


def test_a_follow_up_is_possible_when_the_pad_was_not_used(engine: HallEngine) -> None:
    ticket = served(engine)
    engine.handle(c.Tick(), T0 + 4 + engine.state.evaluation_window_ms + 1)
    [follow, opened] = engine.handle(
        c.FollowUpRate(ticket=ticket, level=L.VERY_DISSATISFIED, reasons=("wait",)), T0 + DAY
    )
    assert isinstance(follow, ev.ServiceRated) and follow.follow_up
    assert isinstance(opened, ev.CaseOpened) and opened.follow_up and opened.ticket == ticket
