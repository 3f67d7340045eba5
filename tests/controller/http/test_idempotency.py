"""Keyed commands without HTTP: once per key, refused while in flight, forgotten after 24 h."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from controller.core import commands as c
from controller.core import events as ev
from controller.daemon.runtime import HallRuntime
from controller.http.idempotency import (
    RETENTION_MS,
    BadKey,
    IdempotentCommands,
    KeyInUse,
    KeyReused,
    parse_key,
)
from controller.store.base import KeyClaim
from controller.store.group_commit import GroupCommitter
from controller.store.memory import MemoryStore
from tests.controller.halls import MONDAY_9AM, small_hall


class GatedStore(MemoryStore):
    """Commits wait for the test to open the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()

    async def append_many(
        self,
        batches: Sequence[tuple[str, Sequence[bytes]]],
        claims: Sequence[KeyClaim | None] = (),
    ) -> list[list[int]]:
        await self.gate.wait()
        return await super().append_many(batches, claims)


class Clock:
    def __init__(self) -> None:
        self.now = MONDAY_9AM

    def __call__(self) -> int:
        return self.now


def tickets(runtime: HallRuntime) -> int:
    return len(runtime.state.tickets)


async def test_once_per_key_and_refused_while_the_first_is_committing() -> None:
    store = GatedStore()
    async with GroupCommitter(store) as committer:
        runtime = await HallRuntime.open(small_hall(), store, committer, clock=Clock())
        keyed = IdempotentCommands()
        store.gate.clear()
        first = asyncio.create_task(
            keyed.submit(runtime, c.IssueTicket(service="A"), principal="op", key="k")
        )
        await asyncio.sleep(0.01)
        with pytest.raises(KeyInUse):
            await keyed.submit(runtime, c.IssueTicket(service="A"), principal="op", key="k")
        store.gate.set()
        answer = await first
        again = await keyed.submit(runtime, c.IssueTicket(service="A"), principal="op", key="k")
        assert not answer.replayed and again.replayed
        assert (again.seq, again.events) == (answer.seq, answer.events)
        assert [type(e) for e in again.events] == [ev.TicketIssued]
        with pytest.raises(KeyReused):
            await keyed.submit(runtime, c.IssueTicket(service="B"), principal="op", key="k")
        assert tickets(runtime) == 1


async def test_a_key_older_than_the_retention_runs_the_command_again() -> None:
    store = MemoryStore()
    clock = Clock()
    async with GroupCommitter(store) as committer:
        runtime = await HallRuntime.open(small_hall(), store, committer, clock=clock)
        keyed = IdempotentCommands()
        command = c.IssueTicket(service="A")
        await keyed.submit(runtime, command, principal="", key="daily")
        clock.now += RETENTION_MS - 1
        assert (await keyed.submit(runtime, command, principal="", key="daily")).replayed
        clock.now += 2
        fresh = await keyed.submit(runtime, command, principal="", key="daily")
        assert not fresh.replayed and tickets(runtime) == 2


async def test_a_command_that_logs_nothing_still_records_its_key() -> None:
    store = MemoryStore()
    async with GroupCommitter(store) as committer:
        runtime = await HallRuntime.open(small_hall(), store, committer, clock=Clock())
        keyed = IdempotentCommands()
        answer = await keyed.submit(runtime, c.Tick(), principal="", key="t")
        assert (answer.seq, answer.events) == (0, [])
        claimed = await store.find_claim(runtime.hall_id, "", "t")
        assert claimed is not None and claimed.seq == 0
        assert (await keyed.submit(runtime, c.Tick(), principal="", key="t")).replayed


@pytest.mark.parametrize(
    ("header", "key"), [("abc", "abc"), ('"quoted-1"', "quoted-1"), ("  pad  ", "pad")]
)
def test_keys_parse(header: str, key: str) -> None:
    assert parse_key(header) == key


@pytest.mark.parametrize("header", ["", '""', "a b", "x" * 256, "键", "tab\there"])
def test_bad_keys_are_refused(header: str) -> None:
    with pytest.raises(BadKey):
        parse_key(header)
