"""The single writer: durable before told, rebuilt from the log, fail-stop on a bad log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from controller.config.model import StoreSettings
from controller.core import commands as c
from controller.core import events as ev
from controller.core.lifecycle import Rejected
from controller.core.ports import HallUnavailable
from controller.daemon.runtime import HallRuntime, load_state, read_configuration
from controller.store.group_commit import GroupCommitter
from controller.store.memory import MemoryStore
from controller.store.sqlite import SqliteStore
from tests.controller.halls import MINUTE, MONDAY_9AM, small_hall


class Clock:
    def __init__(self) -> None:
        self.now = MONDAY_9AM

    def __call__(self) -> int:
        self.now += 1000
        return self.now


class FailingStore(MemoryStore):
    """A store whose disk 'fills up' after a number of appends."""

    def __init__(self, fail_after: int) -> None:
        super().__init__()
        self.fail_after = fail_after

    async def append_many(self, batches: Sequence[tuple[str, Sequence[bytes]]]) -> list[list[int]]:
        if self.commit_count >= self.fail_after:
            raise OSError(28, "No space left on device")
        return await super().append_many(batches)


async def test_subscribers_hear_only_durable_events_in_log_order() -> None:
    store = MemoryStore()
    heard: list[tuple[int, int]] = []
    async with GroupCommitter(store) as committer:
        runtime = await HallRuntime.open(small_hall(), store, committer, clock=Clock())

        def listener(events: list[ev.AnyEvent], seq: int) -> None:
            # When we are told, the record is already readable from the store.
            assert store._records["demo"][-1].seq >= seq
            heard.append((seq, len(events)))

        runtime.subscribe(listener)
        receipt = await runtime.submit(c.IssueTicket(service="A"))
        await runtime.submit(c.Login(window=1, staff="1001"))
        await runtime.submit(c.CallNext(window=1))
    assert [seq for seq, _ in heard] == [receipt.seq, receipt.seq + 1, receipt.seq + 2]


async def test_rejected_command_writes_nothing() -> None:
    store = MemoryStore()
    async with GroupCommitter(store) as committer:
        runtime = await HallRuntime.open(small_hall(), store, committer, clock=Clock())
        before = await store.last_seq("demo")
        with pytest.raises(Rejected):
            await runtime.submit(c.CallNext(window=1))
        assert await store.last_seq("demo") == before
        assert runtime.rejected_count == 1


async def test_restart_rebuilds_the_same_state_from_sqlite(tmp_path: Path) -> None:
    config = small_hall()
    clock = Clock()
    store = await SqliteStore.open(tmp_path / "log.db")
    async with GroupCommitter(store) as committer:
        live = await HallRuntime.open(config, store, committer, clock=clock, config_text="x=1")
        for cmd in [
            c.IssueTicket(service="A"),
            c.IssueTicket(service="B", green_channel=True),
            c.Login(window=1, staff="1001"),
            c.CallNext(window=1),
            c.Finish(window=1),
        ]:
            await live.submit(cmd)
        clock.now += 10 * MINUTE
        await live.submit(c.Tick())  # the rating window closes: not evaluated
    await store.close()
    assert live.state.totals.not_evaluated == 1

    store = await SqliteStore.open(tmp_path / "log.db")
    try:
        rebuilt = await load_state(config, store)
        assert rebuilt.fingerprint() == live.state.fingerprint()
        assert rebuilt.seq == live.state.seq
        assert await read_configuration(store, "demo") == "x=1"
    finally:
        await store.close()


async def test_configuration_is_logged_once_and_again_when_it_changes() -> None:
    store = MemoryStore()
    config = small_hall()
    async with GroupCommitter(store) as committer:
        await HallRuntime.open(config, store, committer, config_text="a")
        await HallRuntime.open(config, store, committer, config_text="a")
        assert await store.last_seq("demo") == 1
        await HallRuntime.open(config, store, committer, config_text="b")
        assert await store.last_seq("demo") == 2
        assert await read_configuration(store, "demo") == "b"


async def test_snapshot_then_replay_of_the_tail(tmp_path: Path) -> None:
    config = replace(small_hall(), store=StoreSettings(snapshot_every_events=5))
    store = MemoryStore()
    async with GroupCommitter(store) as committer:
        runtime = await HallRuntime.open(config, store, committer, clock=Clock())
        for _ in range(8):
            await runtime.submit(c.IssueTicket(service="A"))
        await runtime.aclose()
        snapshot = await store.load_snapshot("demo")
        assert snapshot is not None and 5 <= snapshot.seq < 8
        await runtime.submit(c.IssueTicket(service="B"))
    rebuilt = await load_state(config, store)
    assert rebuilt.fingerprint() == runtime.state.fingerprint()


async def test_a_failed_commit_stops_the_hall() -> None:
    store = FailingStore(fail_after=2)
    async with GroupCommitter(store) as committer:
        runtime = await HallRuntime.open(small_hall(), store, committer, clock=Clock())
        await runtime.submit(c.IssueTicket(service="A"))
        await runtime.submit(c.IssueTicket(service="A"))
        with pytest.raises(HallUnavailable):
            await runtime.submit(c.IssueTicket(service="A"))
        with pytest.raises(HallUnavailable):
            await runtime.submit(c.IssueTicket(service="B"))
    assert await store.last_seq("demo") == 2


async def test_clock_never_runs_backwards() -> None:
    times = iter([MONDAY_9AM, MONDAY_9AM - 5_000, MONDAY_9AM + 1])
    store = MemoryStore()
    async with GroupCommitter(store) as committer:
        runtime = await HallRuntime.open(small_hall(), store, committer, clock=lambda: next(times))
        first = await runtime.submit(c.IssueTicket(service="A"))
        second = await runtime.submit(c.IssueTicket(service="A"))
    assert second.events[0].at >= first.events[0].at
