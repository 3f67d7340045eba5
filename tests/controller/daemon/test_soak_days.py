"""Fourteen days of one hall on a simulated clock, through the daemon's own clock step.

A real SQLite log and group commit, a runtime snapshotting as it goes, a weekend with no
tickets, and a daemon down over Friday's closing time (restarted from the log on Saturday).
Each weekday brings a daylight of tickets: issued, called, served, rated, some no-shows, some
still waiting at the close, a clerk sometimes still serving across it. After every day:

* exactly one ``day_closed`` per calendar day so far, naming it;
* ticket numbers unique per service and business day;
* no ticket reaches two final events (none expires twice);
* the live state equals the fold of the log from scratch and from the latest snapshot;
* a closed day's tickets, rebuilt from the log, are exactly those issued that day;
* nothing final and unreferenced stays live (the archive rule), so the live state stays flat.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from controller.config.model import HallConfig, LeftoverPolicy, StoreSettings
from controller.console.history import tickets_of_day
from controller.core import commands as c
from controller.core import events as ev
from controller.core.lifecycle import EvaluationState, FollowUpState, Rejected, WindowState
from controller.core.state import HallState
from controller.daemon.process import clock_step
from controller.daemon.runtime import HallRuntime, fold_log, load_state
from controller.store.group_commit import GroupCommitter
from controller.store.sqlite import SqliteStore
from tests.controller.halls import MINUTE, MONDAY_9AM, small_hall

HOUR = 60 * MINUTE
DAY = 24 * HOUR
MONDAY = MONDAY_9AM - 9 * HOUR  # 2026-11-23 00:00 Asia/Shanghai
FIRST_DAY = date(2026, 11, 23)
DAYS = 14
DOWN_DAY = 4  # Friday: the daemon stops at 16:00 and is back on Saturday at 09:00
WINDOWS = (1, 2, 3)
STAFF = {1: "1001", 2: "1002", 3: "1003"}
SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None  # the log is fsync-bound: keep it fast


class SimClock:
    def __init__(self, now: int) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


class Hall:
    """The runtime with its store and committer, opened and closed like the daemon does."""

    def __init__(self, config: HallConfig, path: Path, clock: SimClock) -> None:
        self.config = config
        self.path = path
        self.clock = clock
        self._stack = contextlib.AsyncExitStack()
        self.store: SqliteStore
        self.runtime: HallRuntime

    async def start(self) -> None:
        self.store = await SqliteStore.open(self.path)
        self._stack.push_async_callback(self.store.close)
        committer = await self._stack.enter_async_context(GroupCommitter(self.store))
        self.runtime = await HallRuntime.open(
            self.config,
            self.store,
            committer,
            clock=self.clock,
            config_text="soak",
            snapshot_interval_s=0.0,
        )
        self._stack.push_async_callback(self.runtime.aclose)

    async def stop(self) -> None:
        await self._stack.aclose()
        self._stack = contextlib.AsyncExitStack()

    async def submit(self, command: c.AnyCommand) -> list[ev.AnyEvent]:
        try:
            return (await self.runtime.submit(command)).events
        except Rejected:
            return []

    async def beat(self, until: int, step: int = MINUTE) -> None:
        """Let the clock run to ``until``, a clock step every ``step``."""
        while self.clock.now < until:
            self.clock.now = min(until, self.clock.now + step)
            await clock_step(self.runtime)


@pytest.fixture
async def hall() -> AsyncIterator[Hall]:
    config = replace(
        small_hall(leftover=LeftoverPolicy.EXPIRE),
        store=StoreSettings(snapshot_every_events=400),
    )
    with tempfile.TemporaryDirectory(dir=SHM) as folder:
        h = Hall(config, Path(folder) / "soak.db", SimClock(MONDAY + 8 * HOUR))
        await h.start()
        try:
            yield h
        finally:
            await h.stop()


async def daylight(hall: Hall, rng: random.Random, start: int, end: int) -> None:
    """Three minutes a step: arrivals, calls, services, ratings and no-shows."""
    hall.clock.now = start
    for window in WINDOWS:
        if hall.runtime.state.windows[window].state is WindowState.LOGGED_OUT:
            await hall.submit(c.Login(window=window, staff=STAFF[window]))
    while hall.clock.now < end:
        hall.clock.now += 3 * MINUTE
        late = end - hall.clock.now < 40 * MINUTE
        for _ in range(rng.choice((0, 1, 1, 2, 3) if late else (0, 1, 1, 2))):
            await hall.submit(c.IssueTicket(service=rng.choice("AABC")))
        for window in WINDOWS:
            await serve_step(hall, rng, window)
        await clock_step(hall.runtime)


async def serve_step(hall: Hall, rng: random.Random, window: int) -> None:
    state = hall.runtime.state.windows[window].state
    if state is WindowState.IDLE:
        await hall.submit(c.CallNext(window=window))
    elif state is WindowState.CALLING:
        if rng.random() < 0.12:
            await hall.submit(c.NoShow(window=window))
        else:
            await hall.submit(c.Start(window=window))
    elif state is WindowState.SERVING and rng.random() < 0.6:
        for event in await hall.submit(c.Finish(window=window)):
            if isinstance(event, ev.ServiceFinished) and rng.random() < 0.5:
                level = rng.choices(list(c.RatingLevel), weights=(60, 30, 7, 2, 1))[0]
                await hall.submit(c.Rate(ticket=event.ticket, level=level))


async def log_of(store: SqliteStore, hall_id: str) -> list[ev.AnyEvent]:
    out: list[ev.AnyEvent] = []
    async for chunk in store.read(hall_id, 0):
        for record in chunk:
            out.extend(ev.decode_record(record.payload))
    return out


async def check_day(hall: Hall, closed_through: int) -> int:
    """The invariants after the close of day ``closed_through``; returns the live size."""
    runtime, store, config = hall.runtime, hall.store, hall.config
    await runtime.aclose()  # let a snapshot in flight land
    log = await log_of(store, runtime.hall_id)
    days = [(FIRST_DAY + timedelta(days=d)).isoformat() for d in range(closed_through + 1)]
    closes = [e.day for e in log if isinstance(e, ev.DayClosed)]
    assert closes == days, f"closes {closes}"

    issued = [e for e in log if isinstance(e, ev.TicketIssued)]
    numbers = Counter((e.service, e.day, e.number) for e in issued)
    assert max(numbers.values()) == 1, "a number was issued twice on one day"
    final = ev.ServiceFinished | ev.TicketNoShow | ev.TicketCancelled | ev.TicketExpired
    finals = Counter(e.ticket for e in log if isinstance(e, final))
    assert not finals or max(finals.values()) == 1, "a ticket reached two final events"
    expired = Counter(e.ticket for e in log if isinstance(e, ev.TicketExpired))
    assert not expired or max(expired.values()) == 1, "a ticket expired twice"

    scratch = HallState(config)
    await fold_log(scratch, store, runtime.hall_id, 0)
    assert scratch.fingerprint() == runtime.state.fingerprint(), "replay differs from live"
    snapshot = await store.load_snapshot(runtime.hall_id)
    assert snapshot is not None and snapshot.seq > 1
    from_snapshot = await load_state(config, store)
    assert from_snapshot.fingerprint() == runtime.state.fingerprint(), "snapshot + tail differs"

    day = days[-1]
    history = await tickets_of_day(config, store, day)
    assert sorted(t.id for t in history) == sorted(e.ticket for e in issued if e.day == day)
    assert all(t.closed_at is not None or t.state.value == "serving" for t in history)

    state = runtime.state
    referenced = {k.ticket for k in state.open_cases.values()} | {
        w.last_finished for w in state.windows.values()
    }
    closed_at = max(e.at for e in log if isinstance(e, ev.DayClosed))
    for ticket in state.tickets.values():
        assert (
            ticket.closed_at is None
            or ticket.id in referenced
            or ticket.evaluation is EvaluationState.AWAITING
            or (
                ticket.follow_up is FollowUpState.AVAILABLE
                and ticket.done_at is not None
                and ticket.done_at >= closed_at - state.follow_up_ms
            )
        ), f"{ticket.number} of {ticket.day} should have been archived"
    return len(state.tickets)


async def test_fourteen_days_one_close_a_day_and_a_flat_live_state(hall: Hall) -> None:
    rng = random.Random(20261123)
    sizes: list[int] = []
    for d in range(DAYS):
        midnight = MONDAY + d * DAY
        weekday = (FIRST_DAY + timedelta(days=d)).weekday() < 5
        if weekday:
            end = midnight + (16 if d == DOWN_DAY else 17) * HOUR
            await daylight(hall, rng, midnight + 8 * HOUR + 30 * MINUTE, end)
        if d == DOWN_DAY:
            await hall.stop()  # down over Friday's closing time
            hall.clock.now = midnight + DAY + 9 * HOUR
            await hall.start()
            assert hall.runtime.state.last_closed_day < "2026-11-27"
            await hall.beat(hall.clock.now + MINUTE)  # the missed close, once, at start-up
            assert hall.runtime.state.last_closed_day == "2026-11-27"
            sizes.append(await check_day(hall, d))
            continue
        if d == DOWN_DAY + 1:
            midnight_after = midnight  # Saturday: already running since 09:00
            await hall.beat(midnight_after + 17 * HOUR + 31 * MINUTE, step=10 * MINUTE)
        else:
            # Clerks finish (one may still be serving at the close), the clock closes the day.
            for window in WINDOWS[: 2 if d % 2 else 3]:
                if hall.runtime.state.windows[window].state is WindowState.SERVING:
                    await hall.submit(c.Finish(window=window))
            await hall.beat(midnight + 17 * HOUR + 31 * MINUTE, step=5 * MINUTE)
        await hall.beat(midnight + 23 * HOUR, step=30 * MINUTE)  # nothing more closes today
        sizes.append(await check_day(hall, d))

    issued = hall.runtime.state.totals.issued
    assert issued > 1000, f"only {issued} tickets in {DAYS} days"
    # Live size is bounded by the 追评 period (7 days of finished services), not the run: it
    # grows through the first week, then stays flat (open 差评 cases add a few).
    first_week, second_week = sizes[:7], sizes[7:]
    assert max(second_week) <= 1.1 * max(first_week), sizes
    assert sizes[-1] < issued / 2, sizes
