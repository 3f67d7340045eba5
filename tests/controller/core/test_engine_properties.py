"""Properties of the engine over random command sequences (Hypothesis).

After every command: a refused command changed nothing; no ticket is lost or duplicated; a
window holds at most one called/serving ticket and agrees with it; a 'call next' picked exactly
what an independent, brute-force reading of docs/calling-policy.md picks. At the end: after
every clerk finishes and the day closes, every ticket is in exactly one final state, reached by
exactly one final event; and replaying the log rebuilds the same state.
"""

from __future__ import annotations

import contextlib
from collections import Counter

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.config.model import CallingPolicy, HallConfig, PriorityClass
from controller.core import commands as c
from controller.core import events as ev
from controller.core.engine import HallEngine
from controller.core.lifecycle import FINAL_TICKET_STATES, Rejected, TicketState, WindowState
from controller.core.state import HallState, Ticket, WindowRuntime
from tests.controller.halls import MINUTE, MONDAY_9AM, small_hall

LAST_FINISHED = 0  # placeholder ticket id: the test substitutes the last ticket finished
WINDOWS = st.integers(min_value=1, max_value=3)
TICKETS = st.integers(min_value=1, max_value=15)
NUMBERS = st.sampled_from(["A001", "A002", "A003", "B001", "B002", "C001", "C002", "A009"])
SERVICES = st.sampled_from(["A", "B", "C", "Z"])
LEVELS = st.sampled_from(list(c.RatingLevel))

COMMANDS = st.one_of(
    st.builds(c.IssueTicket, service=SERVICES, green_channel=st.booleans()),
    st.builds(
        lambda s, n, start: c.IssueTicket(
            service=s,
            appointment_id=f"YY{n}",
            slot_start_ms=MONDAY_9AM + start * MINUTE,
            slot_end_ms=MONDAY_9AM + (start + 30) * MINUTE,
        ),
        SERVICES,
        st.integers(0, 5),
        st.integers(-30, 120),
    ),
    st.builds(
        lambda s, n, start: c.RegisterAppointment(
            appointment_id=f"BK{n}",
            service=s,
            slot_start_ms=MONDAY_9AM + start * MINUTE,
            slot_end_ms=MONDAY_9AM + (start + 30) * MINUTE,
        ),
        SERVICES,
        st.integers(0, 3),
        st.integers(-30, 120),
    ),
    st.builds(
        c.IssueTicket,
        service=SERVICES,
        appointment_id=st.sampled_from(["BK0", "BK1", "BK2", "BK3"]),
    ),
    st.builds(c.Login, window=WINDOWS, staff=st.sampled_from(["1001", "1002", "1003", "9"])),
    st.builds(c.Logout, window=WINDOWS),
    st.builds(c.CallNext, window=WINDOWS),
    st.builds(c.CallNext, window=WINDOWS),
    st.builds(c.CallNext, window=WINDOWS),
    st.builds(c.Recall, window=WINDOWS),
    st.builds(c.CallNumber, window=WINDOWS, number=NUMBERS),
    st.builds(c.Start, window=WINDOWS),
    st.builds(c.Finish, window=WINDOWS),
    st.builds(c.Finish, window=WINDOWS),
    st.builds(c.NoShow, window=WINDOWS),
    st.builds(c.Suspend, window=WINDOWS),
    st.builds(c.CallBack, window=WINDOWS, number=NUMBERS),
    st.builds(
        c.Transfer, window=WINDOWS, to_service=st.none() | SERVICES, to_window=st.none() | WINDOWS
    ),
    st.builds(
        c.TransferTicket,
        ticket=TICKETS,
        to_service=st.none() | SERVICES,
        to_window=st.none() | WINDOWS,
    ),
    st.builds(c.CancelTicket, ticket=TICKETS),
    st.builds(c.Pause, window=WINDOWS),
    st.builds(c.Resume, window=WINDOWS),
    st.builds(c.Rate, ticket=TICKETS, level=LEVELS),
    st.builds(c.Rate, ticket=st.just(LAST_FINISHED), level=LEVELS),
    st.builds(c.Rate, ticket=st.just(LAST_FINISHED), level=LEVELS),
    st.builds(c.MissEvaluation, ticket=TICKETS | st.just(LAST_FINISHED)),
    st.builds(c.Tick),
    st.builds(
        c.SetWindowServices,
        window=WINDOWS,
        services=st.sampled_from(
            [(c.ServiceWeight("A"),), (c.ServiceWeight("B", 2), c.ServiceWeight("C"))]
        ),
    ),
)
ISSUES = st.builds(
    c.IssueTicket,
    service=st.sampled_from(["A", "B", "C"]),
    green_channel=st.booleans().map(lambda b: b and False) | st.booleans(),
)
# A morning opens with windows staffed and a crowd at the kiosk; random operations follow.
OPENING: list[c.AnyCommand] = [
    c.Login(window=1, staff="1001"),
    c.Login(window=2, staff="1002"),
    c.Login(window=3, staff="1003"),
]
STEPS = st.tuples(
    st.lists(st.tuples(ISSUES, st.integers(0, 3 * MINUTE)), min_size=3, max_size=15),
    st.lists(st.tuples(COMMANDS, st.integers(0, 12 * MINUTE)), min_size=25, max_size=100),
).map(lambda parts: [(cmd, 0) for cmd in OPENING] + parts[0] + parts[1])
POLICIES = st.builds(
    CallingPolicy,
    priority_order=st.permutations(list(PriorityClass)).map(tuple)
    | st.just((PriorityClass.GREEN_CHANNEL,)),
    fairness_bound_minutes=st.none() | st.sampled_from([5.0, 30.0]),
    max_recalls=st.integers(1, 3),
    implicit_start=st.booleans(),
)


def oracle_rank(
    config: HallConfig, ticket: Ticket, window: WindowRuntime, now: int
) -> tuple[int, int, int, int] | None:
    """docs/calling-policy.md, read literally, for one waiting ticket and one window."""
    policy = config.policy
    tier = {cls: 1 + i for i, cls in enumerate(policy.priority_order)}
    normal_tier = 1 + len(policy.priority_order)
    weights = dict(window.services)
    bound = policy.fairness_bound_minutes

    def ordinary(weight: int) -> tuple[int, int, int, int]:
        if bound is not None and now - ticket.arrival_at > bound * MINUTE:
            return (0, 0, ticket.arrival_at, ticket.id)
        return (normal_tier, -weight, ticket.arrival_at, ticket.id)

    if ticket.target_window is not None:
        if ticket.target_window != window.number:
            return None
        top = max(weights.values())
        if PriorityClass.TRANSFER not in tier:
            return ordinary(top)
        return (tier[PriorityClass.TRANSFER], -top, ticket.arrival_at, ticket.id)
    if ticket.service not in weights:
        return None
    weight = weights[ticket.service]
    if ticket.priority in (PriorityClass.GREEN_CHANNEL, PriorityClass.TRANSFER):
        assert ticket.priority is not None
        if ticket.priority not in tier:
            return ordinary(weight)
        return (tier[ticket.priority], -weight, ticket.arrival_at, ticket.id)
    rank = ordinary(weight)
    if ticket.priority is PriorityClass.APPOINTMENT and PriorityClass.APPOINTMENT in tier:
        assert ticket.slot_start_ms is not None and ticket.slot_end_ms is not None
        early = ticket.slot_start_ms - policy.appointment_early_minutes * MINUTE
        late = ticket.slot_end_ms + policy.appointment_late_minutes * MINUTE
        if early <= now <= late:
            rank = min(
                rank, (tier[PriorityClass.APPOINTMENT], -weight, ticket.slot_start_ms, ticket.id)
            )
    return rank


def check_invariants(state: HallState, issued: list[int]) -> None:
    assert len(issued) == len(set(issued)), "a ticket id was issued twice"
    assert sorted(state.tickets) == sorted(issued), "a ticket was lost or invented"
    holding: Counter[int] = Counter()
    for ticket in state.tickets.values():
        if ticket.state in (TicketState.CALLED, TicketState.SERVING):
            assert ticket.window is not None
            holding[ticket.window] += 1
            assert state.windows[ticket.window].ticket == ticket.id
    for window in state.windows.values():
        assert holding[window.number] <= 1
        busy = window.state in (WindowState.CALLING, WindowState.SERVING)
        assert busy == (window.ticket is not None)
    working = (WindowState.IDLE, WindowState.CALLING, WindowState.SERVING)
    open_windows = Counter(
        s for w in state.windows.values() if w.state in working for s, _ in w.services
    )
    assert {k: v for k, v in state.open_windows.items() if v} == dict(open_windows)
    waiting = Counter(t.service for t in state.tickets.values() if t.state is TicketState.WAITING)
    assert {k: v for k, v in state.waiting_by_service.items() if v} == dict(waiting)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS, policy=POLICIES)
def test_random_command_sequences_keep_the_invariants(
    steps: list[tuple[c.AnyCommand, int]], policy: CallingPolicy
) -> None:
    config = small_hall(policy=policy)
    engine = HallEngine(config)
    log: list[list[ev.AnyEvent]] = []
    issued: list[int] = []
    now = MONDAY_9AM
    last_finished = -1
    for command, dt in steps:
        now += dt
        if isinstance(command, c.Rate | c.MissEvaluation) and command.ticket == LAST_FINISHED:
            command = msgspec.structs.replace(command, ticket=last_finished)
        before = engine.state.fingerprint()
        expected: tuple[int, int, int, int] | None = None
        if isinstance(command, c.CallNext):
            window = engine.state.windows[command.window]
            ranks = [
                r
                for t in engine.state.tickets.values()
                if t.state is TicketState.WAITING
                and (r := oracle_rank(config, t, window, now)) is not None
            ]
            expected = min(ranks) if ranks else None
        try:
            events = engine.handle(command, now)
        except Rejected:
            assert engine.state.fingerprint() == before, f"refused {command} changed state"
            continue
        log.append(events)
        issued += [e.ticket for e in events if isinstance(e, ev.TicketIssued)]
        for event in events:
            if isinstance(event, ev.ServiceFinished):
                last_finished = event.ticket
        if isinstance(command, c.CallNext):
            [called] = events
            assert isinstance(called, ev.TicketCalled)
            assert expected is not None and called.ticket == expected[3], (
                f"policy picked {called.number}, oracle ranks {expected}"
            )
        check_invariants(engine.state, issued)

    # Close the day: clerks finish what they serve, then leftovers expire.
    now += MINUTE
    for window in engine.state.windows.values():
        if window.state in (WindowState.SERVING, WindowState.CALLING):
            events = (
                engine.handle(c.Finish(window=window.number), now)
                if (window.state is WindowState.SERVING or config.policy.implicit_start)
                else engine.handle(c.NoShow(window=window.number), now)
            )
            log.append(events)
    log.append(engine.handle(c.CloseDay(), now + MINUTE))
    finals: Counter[int] = Counter()
    for record in log:
        for event in record:
            if isinstance(
                event,
                ev.ServiceFinished | ev.TicketNoShow | ev.TicketCancelled | ev.TicketExpired,
            ):
                finals[event.ticket] += 1
    for ticket in engine.state.tickets.values():
        assert ticket.state in FINAL_TICKET_STATES, f"{ticket.number} left {ticket.state}"
        assert finals[ticket.id] == 1, f"{ticket.number} reached {finals[ticket.id]} finals"

    replayed = HallState(config)
    for record in log:
        replayed.apply_all(ev.decode_record(ev.encode_record(record)))
    assert replayed.fingerprint() == engine.state.fingerprint()


@settings(max_examples=60, deadline=None)
@given(steps=STEPS)
def test_snapshot_round_trip_continues_identically(steps: list[tuple[c.AnyCommand, int]]) -> None:
    """A state restored from a snapshot decides the rest of a day exactly as the original."""
    from controller.core.state import SNAPSHOT_DECODER, SNAPSHOT_ENCODER

    config = small_hall()
    live = HallEngine(config)
    half = len(steps) // 2
    now = MONDAY_9AM
    for command, dt in steps[:half]:
        now += dt
        with contextlib.suppress(Rejected):
            live.handle(command, now)
    snap = SNAPSHOT_DECODER.decode(SNAPSHOT_ENCODER.encode(live.state.to_snapshot()))
    restored = HallEngine(config, HallState.from_snapshot(config, snap))
    assert restored.state.fingerprint() == live.state.fingerprint()
    for command, dt in steps[half:]:
        now += dt
        outcomes = []
        for engine in (live, restored):
            try:
                outcomes.append(engine.handle(command, now))
            except Rejected as exc:
                outcomes.append([exc.reason])  # type: ignore[list-item]
        assert outcomes[0] == outcomes[1]
