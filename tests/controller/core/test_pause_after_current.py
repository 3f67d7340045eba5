"""Pause after the current ticket: a busy window notes the pause and takes it when its ticket
leaves (finished, 过号, suspended, transferred, cancelled); resume calls it off; the pause's
reason is kept. The automatic pause is an event of the same command, so the log replays it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from controller.core import commands as c
from controller.core import events as ev
from controller.core.engine import MAX_PAUSE_REASON, HallEngine
from controller.core.lifecycle import Rejected, RejectReason, WindowState
from controller.core.state import HallState
from tests.controller.core.test_engine import reject, serving
from tests.controller.halls import MONDAY_9AM, small_hall

T0 = MONDAY_9AM
R = RejectReason


@pytest.fixture
def engine() -> HallEngine:
    return HallEngine(small_hall())


def test_busy_window_pauses_when_its_ticket_is_finished(engine: HallEngine) -> None:
    serving(engine)
    [requested] = engine.handle(c.Pause(window=1, after_current=True, reason="午休"), T0 + 10)
    assert requested == ev.PauseRequested(at=T0 + 10, window=1, reason="午休")
    window = engine.state.windows[1]
    assert window.state is WindowState.SERVING and window.pause_pending
    events = engine.handle(c.Finish(window=1), T0 + 20)
    assert [type(e) for e in events] == [ev.ServiceFinished, ev.WindowPaused]
    assert events[-1] == ev.WindowPaused(at=T0 + 20, window=1, reason="午休")
    assert window.state is WindowState.PAUSED and not window.pause_pending
    assert window.pause_reason == "午休"
    engine.handle(c.IssueTicket(service="A"), T0 + 21)
    reject(engine, c.CallNext(window=1), T0 + 22, R.WINDOW_PAUSED)


@pytest.mark.parametrize(
    "leave",
    [
        lambda t: c.NoShow(window=1),
        lambda t: c.Suspend(window=1),
        lambda t: c.Transfer(window=1, to_service="B"),
        lambda t: c.CancelTicket(ticket=t),
    ],
    ids=["no_show", "suspend", "transfer", "cancel"],
)
def test_every_way_a_ticket_leaves_takes_the_pause(
    engine: HallEngine, leave: Callable[[int], c.AnyCommand]
) -> None:
    [issued] = engine.handle(c.IssueTicket(service="A"), T0)
    assert isinstance(issued, ev.TicketIssued)
    engine.handle(c.Login(window=1, staff="1001"), T0 + 1)
    engine.handle(c.CallNext(window=1), T0 + 2)
    if not isinstance(leave(issued.ticket), c.NoShow | c.CancelTicket):
        engine.handle(c.Start(window=1), T0 + 3)
    engine.handle(c.Pause(window=1, after_current=True), T0 + 4)
    events = engine.handle(leave(issued.ticket), T0 + 5)
    assert isinstance(events[-1], ev.WindowPaused)
    assert engine.state.windows[1].state is WindowState.PAUSED


def test_plain_pause_of_a_busy_window_is_still_refused(engine: HallEngine) -> None:
    serving(engine)
    reject(engine, c.Pause(window=1), T0 + 10, R.WINDOW_BUSY)


def test_after_current_on_an_idle_window_pauses_at_once(engine: HallEngine) -> None:
    engine.handle(c.Login(window=1, staff="1001"), T0)
    [paused] = engine.handle(c.Pause(window=1, after_current=True, reason="会议"), T0 + 1)
    assert paused == ev.WindowPaused(at=T0 + 1, window=1, reason="会议")


def test_resume_calls_a_requested_pause_off(engine: HallEngine) -> None:
    serving(engine)
    engine.handle(c.Pause(window=1, after_current=True), T0 + 10)
    assert engine.handle(c.Resume(window=1), T0 + 11) == [ev.PauseWithdrawn(at=T0 + 11, window=1)]
    assert engine.handle(c.Finish(window=1), T0 + 12)[-1].__class__ is ev.ServiceFinished
    assert engine.state.windows[1].state is WindowState.IDLE


def test_bad_pause_requests_change_nothing(engine: HallEngine) -> None:
    serving(engine)
    too_long = "很" * (MAX_PAUSE_REASON + 1)
    reject(engine, c.Pause(window=1, after_current=True, reason=too_long), T0, R.BAD_PAUSE_REASON)
    engine.handle(c.Pause(window=1, after_current=True), T0 + 10)
    reject(engine, c.Pause(window=1, after_current=True), T0 + 11, R.PAUSE_ALREADY_REQUESTED)
    reject(engine, c.Pause(window=9, after_current=True), T0 + 11, R.UNKNOWN_WINDOW)


def test_logout_forgets_nothing_pending_and_replay_agrees(engine: HallEngine) -> None:
    log: list[ev.AnyEvent] = []
    log += engine.handle(c.Login(window=2, staff="1002"), T0)
    log += engine.handle(c.IssueTicket(service="B"), T0 + 1)
    log += engine.handle(c.CallNext(window=2), T0 + 2)
    log += engine.handle(c.Pause(window=2, after_current=True, reason="临时离开"), T0 + 3)
    log += engine.handle(c.Finish(window=2), T0 + 4)
    log += engine.handle(c.Logout(window=2), T0 + 5)
    window = engine.state.windows[2]
    assert window.state is WindowState.LOGGED_OUT and not window.pause_pending
    assert window.pause_reason == ""
    replayed = HallState(small_hall())
    replayed.apply_all(log)
    assert replayed.fingerprint() == engine.state.fingerprint()


def test_refusal_facts_name_the_window_and_state(engine: HallEngine) -> None:
    serving(engine)
    with pytest.raises(Rejected) as info:
        engine.handle(c.Pause(window=1), T0 + 10)
    assert info.value.facts == {"window": 1, "state": "serving"}
