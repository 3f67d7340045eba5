"""差评 cases: opened with the bad rating, steps as events, deadlines escalate once each."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from controller.config.model import HallConfig
from controller.console.alerts import AlertKind, hall_alerts
from controller.core import commands as c
from controller.core import events as ev
from controller.core.engine import HallEngine
from controller.core.lifecycle import CaseState, Rejected, RejectReason
from controller.core.queries import hall_view
from controller.core.state import HallState
from tests.controller.halls import MINUTE
from tests.controller.haochaping.conftest import T0, served

R = RejectReason
L = c.RatingLevel
V = c.VerificationOutcome
HOUR = 60 * MINUTE
# T0 is Monday 2026-11-23 09:00 +08:00: 回访 due by the end of Tuesday, 整改 by the end of
# Monday 2026-12-14 (15 working days).
TUESDAY_END = T0 + 39 * HOUR
RECTIFY_END = T0 + (21 * 24 + 15) * HOUR


def bad_rating(engine: HallEngine, at: int = T0) -> int:
    ticket = served(engine, at)
    rated, opened = engine.handle(
        c.Rate(ticket=ticket, level=L.DISSATISFIED, reasons=("wait",)), at + 10
    )
    assert isinstance(rated, ev.ServiceRated) and isinstance(opened, ev.CaseOpened)
    return opened.case


def reject(engine: HallEngine, command: c.AnyCommand, now: int, reason: RejectReason) -> None:
    before = engine.state.fingerprint()
    with pytest.raises(Rejected) as info:
        engine.handle(command, now)
    assert info.value.reason is reason
    assert engine.state.fingerprint() == before, "a refused command changed the state"


def test_a_bad_rating_opens_a_case_in_the_same_record(engine: HallEngine) -> None:
    ticket = served(engine)
    events = engine.handle(c.Rate(ticket=ticket, level=L.VERY_DISSATISFIED), T0 + 10)
    rated, opened = events
    assert isinstance(rated, ev.ServiceRated) and isinstance(opened, ev.CaseOpened)
    assert opened.department == "zwb" and opened.window == 1 and opened.staff == "1001"
    assert opened.contact_due == TUESDAY_END and opened.rectify_due == RECTIFY_END
    case = engine.state.cases[opened.case]
    assert case.state is CaseState.AWAITING_CONTACT


def test_a_good_rating_opens_no_case(engine: HallEngine) -> None:
    ticket = served(engine)
    assert len(engine.handle(c.Rate(ticket=ticket, level=L.BASICALLY_SATISFIED), T0 + 10)) == 1
    assert not engine.state.cases


def test_upheld_case_runs_to_closing(engine: HallEngine) -> None:
    case = bad_rating(engine)
    engine.handle(c.ContactCase(case=case, by="王科长", note="电话回访"), T0 + HOUR)
    engine.handle(c.VerifyCase(case=case, by="王科长", outcome=V.UPHELD), T0 + 2 * HOUR)
    assert engine.state.cases[case].state is CaseState.RECTIFYING
    engine.handle(c.RectifyCase(case=case, by="李主任", note="增开窗口"), T0 + 3 * HOUR)
    engine.handle(c.CloseCase(case=case, by="李主任", note="已告知"), T0 + 4 * HOUR)
    done = engine.state.cases[case]
    assert done.state is CaseState.CLOSED and case not in engine.state.open_cases
    assert [(s.op.value, s.by) for s in done.steps] == [
        ("contact", "王科长"),
        ("uphold", "王科长"),
        ("rectify", "李主任"),
        ("close", "李主任"),
    ]
    assert engine.state.totals.cases_closed == 1
    assert engine.handle(c.Tick(), RECTIFY_END + HOUR) == []  # closed: nothing escalates


def test_explained_case_skips_rectification(engine: HallEngine) -> None:
    case = bad_rating(engine)
    engine.handle(c.ContactCase(case=case, by="a", reached=False), T0 + HOUR)
    engine.handle(c.VerifyCase(case=case, by="a", outcome=V.EXPLAINED), T0 + HOUR)
    assert engine.state.cases[case].state is CaseState.AWAITING_FEEDBACK
    reject(engine, c.RectifyCase(case=case, by="a", note="x"), T0 + HOUR, R.CASE_STEP_NOT_ALLOWED)


@pytest.mark.parametrize("granted", [True, False])
def test_an_appeal_goes_to_review(engine: HallEngine, granted: bool) -> None:
    case = bad_rating(engine)
    engine.handle(c.ContactCase(case=case, by="a"), T0 + HOUR)
    engine.handle(c.VerifyCase(case=case, by="a", outcome=V.MALICIOUS), T0 + HOUR)
    assert engine.state.cases[case].state is CaseState.UNDER_REVIEW
    engine.handle(c.ReviewCase(case=case, by="复核组", granted=granted), T0 + 2 * HOUR)
    expected = CaseState.AWAITING_FEEDBACK if granted else CaseState.RECTIFYING
    assert engine.state.cases[case].state is expected
    assert engine.state.totals.ratings_struck == (1 if granted else 0)


def test_case_steps_out_of_order_or_malformed_are_refused(engine: HallEngine) -> None:
    case = bad_rating(engine)
    verify = c.VerifyCase(case=case, by="a", outcome=V.UPHELD)
    reject(engine, verify, T0 + HOUR, R.CASE_STEP_NOT_ALLOWED)
    reject(engine, c.CloseCase(case=case, by="a", note="x"), T0 + HOUR, R.CASE_STEP_NOT_ALLOWED)
    reject(engine, c.ContactCase(case=99, by="a"), T0 + HOUR, R.UNKNOWN_CASE)
    reject(engine, c.ContactCase(case=case, by="  "), T0 + HOUR, R.BAD_CASE_STEP)
    reject(engine, c.ContactCase(case=case, by="a", note="x" * 2001), T0 + HOUR, R.BAD_CASE_STEP)
    engine.handle(c.ContactCase(case=case, by="a"), T0 + HOUR)
    engine.handle(verify, T0 + HOUR)
    reject(engine, c.RectifyCase(case=case, by="a", note=""), T0 + HOUR, R.BAD_CASE_STEP)


def test_overdue_steps_escalate_once_each(engine: HallEngine) -> None:
    case = bad_rating(engine)
    assert engine.handle(c.Tick(), TUESDAY_END - 1) == []
    [contact] = engine.handle(c.Tick(), TUESDAY_END)
    assert isinstance(contact, ev.CaseEscalated) and contact.step is ev.CaseDeadline.CONTACT
    assert contact.due == TUESDAY_END
    assert engine.handle(c.Tick(), TUESDAY_END + HOUR) == []  # recorded once
    engine.handle(c.ContactCase(case=case, by="a"), TUESDAY_END + HOUR)  # late, still recorded
    assert engine.handle(c.Tick(), RECTIFY_END - 1) == []
    [rectify] = engine.handle(c.Tick(), RECTIFY_END)
    assert isinstance(rectify, ev.CaseEscalated) and rectify.step is ev.CaseDeadline.RECTIFY
    assert engine.handle(c.Tick(), RECTIFY_END + HOUR) == []
    assert engine.state.cases[case].contact_escalated
    assert engine.state.cases[case].rectify_escalated
    assert engine.state.totals.escalations == 2


def test_a_contacted_case_does_not_escalate_contact(engine: HallEngine) -> None:
    case = bad_rating(engine)
    engine.handle(c.ContactCase(case=case, by="a"), T0 + HOUR)
    assert engine.handle(c.Tick(), TUESDAY_END + HOUR) == []


def test_deadlines_come_from_configuration(config: HallConfig) -> None:
    five = replace(config, evaluation=replace(config.evaluation, rectify_working_days=5))
    engine = HallEngine(five)
    case = bad_rating(engine)
    assert engine.state.cases[case].rectify_due == T0 + (7 * 24 + 15) * HOUR  # end of Mon 30th


def test_cases_survive_snapshot_and_replay(engine: HallEngine) -> None:
    log: list[list[ev.AnyEvent]] = []
    original = engine.handle

    def recording(command: c.AnyCommand, now: int) -> list[ev.AnyEvent]:
        events = original(command, now)
        log.append(events)
        return events

    engine.handle = recording  # type: ignore[method-assign]
    case = bad_rating(engine)
    second = bad_rating(engine, T0 + HOUR)
    engine.handle(c.ContactCase(case=case, by="a"), T0 + 2 * HOUR)
    engine.handle(c.Tick(), TUESDAY_END)
    replayed = HallState(engine.config)
    for events in log:
        replayed.apply_all(events)
    assert replayed.fingerprint() == engine.state.fingerprint()
    restored = HallState.from_snapshot(engine.config, engine.state.to_snapshot())
    assert restored.fingerprint() == engine.state.fingerprint()
    assert restored.next_case_due == engine.state.next_case_due
    assert set(restored.open_cases) == {case, second}


# 2026-12-31 15:00 +08:00, a Thursday: chinese-calendar 1.11 knows no day of 2027.
NEW_YEARS_EVE = T0 + (38 * 24 + 6) * HOUR


def test_a_case_whose_deadline_crosses_into_an_unknown_year_is_flagged(
    config: HallConfig,
) -> None:
    engine = HallEngine(config)
    case = bad_rating(engine, NEW_YEARS_EVE)
    assert engine.state.cases[case].deadlines_estimated
    flagged = [e for e in engine.state.cases.values() if e.deadlines_estimated]
    assert len(flagged) == 1
    # The same hall with 2027's notice typed in: official again, and 元旦 is not a working day.
    typed_in = replace(
        config,
        evaluation=replace(config.evaluation, holidays=(date(2027, 1, 1),), calendar_years=(2027,)),
    )
    engine = HallEngine(typed_in)
    case = bad_rating(engine, NEW_YEARS_EVE)
    opened = engine.state.cases[case]
    assert not opened.deadlines_estimated
    assert opened.contact_due == NEW_YEARS_EVE + (4 * 24 + 9) * HOUR  # end of Monday Jan 4


def test_the_calendar_alert_and_metric_warn_sixty_days_ahead(config: HallConfig) -> None:
    engine = HallEngine(config)
    assert engine.calendar_coverage(NEW_YEARS_EVE).days_left == 0
    assert engine.calendar_coverage(NEW_YEARS_EVE).runs_out_soon
    view = hall_view(engine.state, NEW_YEARS_EVE)
    alerts = hall_alerts(
        view,
        [],
        now_ms=NEW_YEARS_EVE,
        wait_alert_minutes=30,
        calendar=engine.calendar_coverage(NEW_YEARS_EVE),
    )
    [alert] = [a for a in alerts if a.kind is AlertKind.CALENDAR]
    assert "2026-12-31" in alert.text and "2027 年国务院放假通知" in alert.text
    early = engine.calendar_coverage(T0 - 30 * 24 * HOUR)  # 2026-10-24: 68 days left
    assert not early.runs_out_soon


def test_an_appeal_is_not_decided_by_its_filer(engine: HallEngine) -> None:
    """The engine's own backstop of the API's separation: the filer's review is refused."""
    case = bad_rating(engine)
    engine.handle(c.ContactCase(case=case, by="followup"), T0 + HOUR)
    engine.handle(c.VerifyCase(case=case, by="dept", outcome=V.MISTAKEN), T0 + 2 * HOUR)
    assert engine.state.cases[case].filed_by == "dept"
    for granted in (True, False):
        reject(
            engine,
            c.ReviewCase(case=case, by="dept", granted=granted),
            T0 + 3 * HOUR,
            R.CONFLICT_OF_INTEREST,
        )
    [reviewed] = engine.handle(c.ReviewCase(case=case, by="reviewer", granted=True), T0 + 3 * HOUR)
    assert isinstance(reviewed, ev.CaseReviewed) and reviewed.by == "reviewer"


def test_opening_a_contact_is_an_event_and_the_sealed_contact_survives_replay(
    engine: HallEngine,
) -> None:
    ticket = served(engine)
    rated = engine.handle(
        c.Rate(ticket=ticket, level=L.DISSATISFIED, rater_sealed="v1:sealed-text"), T0 + 10
    )
    [opened] = [e for e in rated if isinstance(e, ev.CaseOpened)]
    case = opened.case
    assert engine.state.cases[case].rater_sealed == "v1:sealed-text"
    unsealed = engine.handle(c.UnsealContact(case=case, by="followup"), T0 + HOUR)
    assert unsealed == [
        ev.ContactUnsealed(at=T0 + HOUR, case=case, by="followup", purpose=c.ContactPurpose.VIEW)
    ]
    assert [(u.by, u.at) for u in engine.state.cases[case].unseals] == [("followup", T0 + HOUR)]
    # Refused: an anonymous case, an unknown case, nobody named, a closed case.
    anonymous = bad_rating(engine, T0 + 2 * HOUR)
    reject(engine, c.UnsealContact(case=anonymous, by="f"), T0 + 3 * HOUR, R.NO_CONTACT)
    reject(engine, c.UnsealContact(case=99, by="f"), T0 + 3 * HOUR, R.UNKNOWN_CASE)
    reject(engine, c.UnsealContact(case=case, by=" "), T0 + 3 * HOUR, R.BAD_CASE_STEP)
    engine.handle(c.ContactCase(case=case, by="f"), T0 + 4 * HOUR)
    engine.handle(c.VerifyCase(case=case, by="d", outcome=V.EXPLAINED), T0 + 4 * HOUR)
    engine.handle(c.CloseCase(case=case, by="d", note="已解释"), T0 + 4 * HOUR)
    reject(engine, c.UnsealContact(case=case, by="f"), T0 + 5 * HOUR, R.CASE_STEP_NOT_ALLOWED)
    # A snapshot keeps the sealed contact and the openings (a restart can still call back).
    restored = HallState.from_snapshot(engine.config, engine.state.to_snapshot())
    assert restored.cases[case].rater_sealed == "v1:sealed-text"
    assert restored.cases[case].unseals == engine.state.cases[case].unseals
