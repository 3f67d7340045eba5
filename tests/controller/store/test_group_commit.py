from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.store.base import StoreError
from controller.store.group_commit import CommitFailed, CommitterClosed, GroupCommitter
from controller.store.memory import MemoryStore
from controller.store.sqlite import SqliteStore
from tests.controller.store.contract import read_all


class GatedStore(MemoryStore):
    """A memory store whose commits wait for the test to open a gate, and can be made to fail."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.batches: list[list[tuple[str, int]]] = []  # per call: (hall, record count)
        self.fail_next: Exception | None = None
        self.in_commit = asyncio.Event()

    async def append_many(self, batches: Sequence[tuple[str, Sequence[bytes]]]) -> list[list[int]]:
        self.batches.append([(hall, len(payloads)) for hall, payloads in batches])
        self.in_commit.set()
        await self.gate.wait()
        self.in_commit.clear()
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        return await super().append_many(batches)


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def hold_first_commit(store: GatedStore, committer: GroupCommitter) -> asyncio.Task[int]:
    """Close the gate and put one append in flight."""
    store.gate.clear()
    first = asyncio.create_task(committer.append("h1", b"first"))
    await store.in_commit.wait()
    return first


async def test_appends_arriving_during_a_commit_share_the_next_one() -> None:
    store = GatedStore()
    async with GroupCommitter(store) as committer:
        first = await hold_first_commit(store, committer)
        rest = [asyncio.create_task(committer.append("h1", b"%d" % i)) for i in range(50)]
        await settle()
        assert len(store.batches) == 1 and committer.pending == 51
        store.gate.set()
        seqs = [await first] + [await task for task in rest]
    assert seqs == list(range(1, 52))
    assert [len(batch) for batch in store.batches] == [1, 50]
    assert store.commit_count == committer.commits == 2
    assert committer.records_committed == 51


async def test_batches_are_capped_by_max_batch() -> None:
    store = GatedStore()
    async with GroupCommitter(store, max_batch=10) as committer:
        first = await hold_first_commit(store, committer)
        rest = [asyncio.create_task(committer.append("h1", b"x")) for _ in range(25)]
        await settle()
        store.gate.set()
        await asyncio.gather(first, *rest)
    assert [len(batch) for batch in store.batches] == [1, 10, 10, 5]


async def test_futures_resolve_after_commit_and_in_append_order() -> None:
    store = GatedStore()
    resolved: list[tuple[str, int]] = []

    async def append(hall: str, payload: bytes) -> None:
        resolved.append((hall, await committer.append(hall, payload)))

    async with GroupCommitter(store) as committer:
        first = await hold_first_commit(store, committer)
        order = [("h1", 2), ("h2", 1), ("h1", 3), ("h3", 1), ("h2", 2)]
        tasks = [asyncio.create_task(append(hall, b"p")) for hall, _ in order]
        await settle()
        assert resolved == [] and not first.done()  # nothing is acknowledged before commit
        store.gate.set()
        await asyncio.gather(first, *tasks)
    assert resolved == order
    assert await store.last_seq("h1") == 3


async def test_append_records_are_atomic_and_consecutive() -> None:
    store = MemoryStore()
    async with GroupCommitter(store) as committer:
        one, many = await asyncio.gather(
            committer.append("h1", b"a"), committer.append_records("h1", [b"b", b"c", b"d"])
        )
    assert (one, many) == (1, [2, 3, 4])


async def test_failed_commit_fails_its_callers_then_stops_the_committer() -> None:
    store = GatedStore()
    committer = GroupCommitter(store)
    committer.start()
    first = await hold_first_commit(store, committer)
    queued = asyncio.create_task(committer.append("h1", b"queued"))
    await settle()
    original = StoreError("disk full")
    store.fail_next = original
    store.gate.set()

    with pytest.raises(CommitFailed, match="disk full") as failed:
        await first
    assert failed.value.__cause__ is original
    with pytest.raises(CommitterClosed):
        await queued
    with pytest.raises(CommitterClosed, match="earlier failure"):
        await committer.append("h1", b"later")
    assert committer.failure is original
    assert committer.pending == 0
    await committer.aclose()
    assert committer._task is not None and committer._task.done()
    assert await store.halls() == []  # nothing of the failed or refused appends was stored


async def test_backpressure_waits_for_a_free_slot() -> None:
    store = GatedStore()
    async with GroupCommitter(store, max_pending=3) as committer:
        first = await hold_first_commit(store, committer)
        accepted = [asyncio.create_task(committer.append("h1", b"q")) for _ in range(2)]
        blocked = asyncio.create_task(committer.append("h1", b"blocked"))
        await settle()
        assert committer.pending == 3
        assert not blocked.done()
        store.gate.set()
        assert await blocked == 4
        await asyncio.gather(first, *accepted)
    assert [len(batch) for batch in store.batches] == [1, 2, 1]


async def test_aclose_flushes_everything_accepted_then_refuses() -> None:
    store = GatedStore()
    committer = GroupCommitter(store)
    committer.start()
    first = await hold_first_commit(store, committer)
    queued = [asyncio.create_task(committer.append("h2", b"%d" % i)) for i in range(20)]
    await settle()
    closing = asyncio.create_task(committer.aclose())
    await settle()
    with pytest.raises(CommitterClosed, match="closed"):
        await committer.append("h2", b"too late")
    assert not closing.done()
    store.gate.set()
    await closing
    assert await first == 1
    assert [await task for task in queued] == list(range(1, 21))
    assert await store.last_seq("h2") == 20


async def test_cancelled_aclose_stops_at_once_and_resolves_every_future() -> None:
    store = GatedStore()
    committer = GroupCommitter(store)
    committer.start()
    first = await hold_first_commit(store, committer)
    queued = asyncio.create_task(committer.append("h1", b"queued"))
    await settle()
    closing = asyncio.create_task(committer.aclose())
    await settle()
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert committer._task is not None and committer._task.done()
    with pytest.raises(CommitterClosed, match="outcome unknown"):
        await first
    with pytest.raises(CommitterClosed, match="before this append was committed"):
        await queued
    assert committer.pending == 0


async def test_cancelled_caller_does_not_withdraw_an_accepted_append() -> None:
    store = GatedStore()
    async with GroupCommitter(store) as committer:
        first = await hold_first_commit(store, committer)
        impatient = asyncio.create_task(committer.append("h1", b"impatient"))
        patient = asyncio.create_task(committer.append("h1", b"patient"))
        await settle()
        impatient.cancel()
        store.gate.set()
        assert await patient == 3
        await first
    assert impatient.cancelled()
    assert [r.payload for r in await read_all(store, "h1")] == [b"first", b"impatient", b"patient"]


@pytest.mark.parametrize(
    ("hall_id", "payload", "error"),
    [("", b"a", ValueError), ("h1", "text", TypeError), ("h1", None, TypeError)],
)
async def test_bad_append_is_refused_without_touching_the_batch(
    hall_id: object, payload: object, error: type[Exception]
) -> None:
    store = MemoryStore()
    async with GroupCommitter(store) as committer:
        good = asyncio.create_task(committer.append("h1", b"good"))
        with pytest.raises(error):
            await committer.append(hall_id, payload)  # type: ignore[arg-type]
        assert await good == 1
    assert committer.failure is None


async def test_append_before_start_is_an_error() -> None:
    committer = GroupCommitter(MemoryStore())
    with pytest.raises(RuntimeError, match="not started"):
        await committer.append("h1", b"a")


def test_bad_limits_are_rejected() -> None:
    with pytest.raises(ValueError):
        GroupCommitter(MemoryStore(), max_pending=0)
    with pytest.raises(ValueError):
        GroupCommitter(MemoryStore(), max_batch=0)


async def test_with_sqlite_many_producers_share_few_transactions(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "events.db")
    try:
        async with GroupCommitter(store) as committer:

            async def produce(producer: int) -> list[int]:
                hall = f"h{producer % 4}"
                return [await committer.append(hall, b"%d:%d" % (producer, i)) for i in range(25)]

            results = await asyncio.gather(*(produce(n) for n in range(32)))
        assert sum(len(seqs) for seqs in results) == 800
        assert store.commit_count == committer.commits < 800 / 4
        for hall_number in range(4):
            records = await read_all(store, f"h{hall_number}")
            assert [r.seq for r in records] == list(range(1, 201))
            assert len({r.payload for r in records}) == 200
    finally:
        await store.close()


# Each producer: a list of (hall number, records in the append).
producer_plans = st.lists(
    st.lists(st.tuples(st.integers(0, 2), st.integers(1, 3)), max_size=8), min_size=1, max_size=8
)


@settings(max_examples=100, deadline=None)
@given(plans=producer_plans, max_batch=st.integers(1, 5), max_pending=st.integers(1, 6))
def test_concurrent_producers_get_gapless_seqs_in_their_own_order(
    plans: list[list[tuple[int, int]]], max_batch: int, max_pending: int
) -> None:
    async def scenario() -> None:
        store = MemoryStore()
        acked: dict[str, list[tuple[int, bytes]]] = {}

        async def produce(producer: int, plan: list[tuple[int, int]]) -> None:
            for step, (hall_number, count) in enumerate(plan):
                hall = f"h{hall_number}"
                payloads = [b"%d/%d/%d" % (producer, step, i) for i in range(count)]
                seqs = await committer.append_records(hall, payloads)
                assert seqs == list(range(seqs[0], seqs[0] + count))
                acked.setdefault(hall, []).extend(zip(seqs, payloads, strict=True))

        async with GroupCommitter(store, max_batch=max_batch, max_pending=max_pending) as committer:
            await asyncio.gather(*(produce(n, plan) for n, plan in enumerate(plans)))
        for hall, pairs in acked.items():
            records = await read_all(store, hall)
            assert sorted(pairs) == [(r.seq, r.payload) for r in records]
            for producer, plan in enumerate(plans):  # a producer's records keep its order
                stored = [r.payload for r in records if r.payload.startswith(b"%d/" % producer)]
                expected = [
                    b"%d/%d/%d" % (producer, step, i)
                    for step, (hall_number, count) in enumerate(plan)
                    if f"h{hall_number}" == hall
                    for i in range(count)
                ]
                assert stored == expected

    asyncio.run(scenario())
