"""Hypothesis state machine over commands and time spanning days.

Time advances by minutes, hours and past the closing time; after each advance the clock does
what the daemon's does (``close_due`` then ``close_day``, then a tick). Invariants after every
step: one ``day_closed`` per closed day, days in order; numbers unique per service and day; no
ticket reaches two final events; a repeated close is refused and changes nothing; the live
state equals the fold of its log from scratch and from a snapshot taken along the way.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from controller.core import commands as c
from controller.core import events as ev
from controller.core.engine import HallEngine
from controller.core.lifecycle import Rejected, RejectReason
from controller.core.schedule import close_due, latest_closing_ms
from controller.core.state import SNAPSHOT_DECODER, SNAPSHOT_ENCODER, HallState
from tests.controller.halls import MINUTE, MONDAY_9AM, small_hall

HOUR = 60 * MINUTE
FINAL = ev.ServiceFinished | ev.TicketNoShow | ev.TicketCancelled | ev.TicketExpired
WINDOWS = st.integers(min_value=1, max_value=3)


class HallDays(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.config = small_hall()
        self.engine = HallEngine(self.config)
        self.now = MONDAY_9AM - HOUR
        self.log: list[list[ev.AnyEvent]] = []
        self.snapshot: tuple[bytes, int] | None = None  # payload, records folded into it
        configured = ev.HallConfigured(at=self.now, text="", digest="d")
        self.engine.state.apply(configured)
        self.log.append([configured])

    # -- helpers -------------------------------------------------------------------------

    def _record(self, events: list[ev.AnyEvent]) -> None:
        if events:
            self.log.append(events)

    def _do(self, command: c.AnyCommand) -> list[ev.AnyEvent]:
        before = self.engine.state.fingerprint()
        try:
            events = self.engine.handle(command, self.now)
        except Rejected:
            assert self.engine.state.fingerprint() == before, f"refused {command} changed state"
            return []
        self._record(events)
        return events

    def _advance(self, ms: int) -> None:
        """Time passes in clock beats of at most an hour, as the daemon's clock sees it."""
        target = self.now + ms
        while self.now < target:
            self.now = min(target, self.now + HOUR)
            state = self.engine.state
            if close_due(self.config.hall, state.last_closed_day, self.now, state.opened_ms):
                self._do(c.CloseDay())
            self._do(c.Tick())

    # -- commands ------------------------------------------------------------------------

    @rule(service=st.sampled_from("AABCZ"), green=st.booleans())
    def issue(self, service: str, green: bool) -> None:
        self._do(c.IssueTicket(service=service, green_channel=green))

    @rule(window=WINDOWS, staff=st.sampled_from(["1001", "1002", "1003"]))
    def login(self, window: int, staff: str) -> None:
        self._do(c.Login(window=window, staff=staff))

    @rule(window=WINDOWS)
    def call_next(self, window: int) -> None:
        self._do(c.CallNext(window=window))

    @rule(window=WINDOWS, level=st.sampled_from(list(c.RatingLevel)), rate=st.booleans())
    def finish(self, window: int, level: c.RatingLevel, rate: bool) -> None:
        for done in self._do(c.Finish(window=window)):
            if isinstance(done, ev.ServiceFinished) and rate:
                self._do(c.Rate(ticket=done.ticket, level=level))

    @rule(window=WINDOWS)
    def no_show(self, window: int) -> None:
        self._do(c.NoShow(window=window))

    @rule(window=WINDOWS)
    def suspend(self, window: int) -> None:
        self._do(c.Suspend(window=window))

    @rule(ticket=st.integers(min_value=1, max_value=60))
    def cancel(self, ticket: int) -> None:
        self._do(c.CancelTicket(ticket=ticket))

    @rule(ticket=st.integers(min_value=1, max_value=60), level=st.sampled_from(list(c.RatingLevel)))
    def follow_up(self, ticket: int, level: c.RatingLevel) -> None:
        self._do(c.FollowUpRate(ticket=ticket, level=level))

    @rule()
    def early_close(self) -> None:
        self._do(c.CloseDay(early=True))

    @rule()
    def repeated_close(self) -> None:
        """A close when none is due is refused with its reason and changes nothing."""
        state = self.engine.state
        if close_due(self.config.hall, state.last_closed_day, self.now, state.opened_ms):
            return
        before = state.fingerprint()
        try:
            self.engine.handle(c.CloseDay(), self.now)
        except Rejected as exc:
            assert exc.reason is RejectReason.DAY_ALREADY_CLOSED
        else:
            raise AssertionError("a close that was not due was accepted")
        assert state.fingerprint() == before

    @rule()
    def take_snapshot(self) -> None:
        payload = SNAPSHOT_ENCODER.encode(self.engine.state.to_snapshot())
        self.snapshot = (payload, len(self.log))

    # -- time ----------------------------------------------------------------------------

    @rule(minutes=st.integers(min_value=1, max_value=59))
    def minutes_pass(self, minutes: int) -> None:
        self._advance(minutes * MINUTE)

    @rule(hours=st.integers(min_value=1, max_value=7))
    def hours_pass(self, hours: int) -> None:
        self._advance(hours * HOUR)

    @rule(after=st.integers(min_value=0, max_value=90), days=st.integers(min_value=0, max_value=3))
    def past_closing(self, after: int, days: int) -> None:
        """To ``after`` minutes past a closing time, ``days`` closings ahead."""
        next_closing = latest_closing_ms(self.config.hall, self.now) + 24 * HOUR
        self._advance(next_closing + days * 24 * HOUR + after * MINUTE - self.now)

    # -- invariants ----------------------------------------------------------------------

    @invariant()
    def one_close_per_day(self) -> None:
        days = [e.day for r in self.log for e in r if isinstance(e, ev.DayClosed)]
        assert days == sorted(set(days)), f"closes {days}"
        assert self.engine.state.last_closed_day == (days[-1] if days else "")
        event(f"days closed: {min(len(days), 4)}{'+' if len(days) >= 4 else ''}")

    @invariant()
    def numbers_unique_per_service_and_day(self) -> None:
        numbers = Counter(
            (e.service, e.day, e.number)
            for r in self.log
            for e in r
            if isinstance(e, ev.TicketIssued)
        )
        assert not numbers or max(numbers.values()) == 1

    @invariant()
    def one_final_event_per_ticket(self) -> None:
        finals = Counter(e.ticket for r in self.log for e in r if isinstance(e, FINAL))
        assert not finals or max(finals.values()) == 1

    @invariant()
    def live_equals_replay(self) -> None:
        live = self.engine.state.fingerprint()
        scratch = HallState(self.config)
        for record in self.log:
            scratch.apply_all(ev.decode_record(ev.encode_record(record)))
        assert scratch.fingerprint() == live, "replay from scratch differs"
        if self.snapshot is not None:
            payload, folded = self.snapshot
            restored = HallState.from_snapshot(self.config, SNAPSHOT_DECODER.decode(payload))
            for record in self.log[folded:]:
                restored.apply_all(ev.decode_record(ev.encode_record(record)))
            assert restored.fingerprint() == live, "snapshot + tail differs"


HallDays.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_days_state_machine = HallDays.TestCase
