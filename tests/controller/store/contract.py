"""Behaviour every EventStore must show, run against each of them by test_store_contract.py.

The ``store`` fixture there is parametrized over the stores (memory, SQLite, PostgreSQL); each
store reads in chunks of ``CHUNK``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from controller.store.base import ClaimedKey, KeyClaim, Snapshot, StoredRecord, StoreError

CHUNK = 4


async def read_all(store: Any, hall_id: str, after_seq: int = 0) -> list[StoredRecord]:
    return [record async for chunk in store.read(hall_id, after_seq) for record in chunk]


class StoreContract:
    async def test_append_numbers_records_from_one_in_order(self, store: Any) -> None:
        assert await store.append("h1", [b"a", b"b"]) == [1, 2]
        assert await store.append("h1", [b"c"]) == [3]
        assert await read_all(store, "h1") == [
            StoredRecord(1, b"a"),
            StoredRecord(2, b"b"),
            StoredRecord(3, b"c"),
        ]
        assert await store.last_seq("h1") == 3

    async def test_halls_are_numbered_and_read_separately(self, store: Any) -> None:
        assert await store.append_many([("h1", [b"a"]), ("h2", [b"x", b"y"]), ("h1", [b"b"])]) == [
            [1],
            [1, 2],
            [2],
        ]
        assert [r.payload for r in await read_all(store, "h1")] == [b"a", b"b"]
        assert [r.payload for r in await read_all(store, "h2")] == [b"x", b"y"]
        assert await store.halls() == ["h1", "h2"]
        assert await store.last_seq("h2") == 2

    async def test_append_many_is_one_commit(self, store: Any) -> None:
        await store.append_many([("h1", [b"a"]), ("h2", [b"b"]), ("h3", [b"c"])])
        assert store.commit_count == 1

    async def test_empty_append_commits_nothing(self, store: Any) -> None:
        assert await store.append("h1", []) == []
        assert store.commit_count == 0
        assert await store.halls() == []

    async def test_read_pages_through_chunks_and_after_seq(self, store: Any) -> None:
        await store.append("h1", [b"%d" % i for i in range(1, 11)])
        chunks = [chunk async for chunk in store.read("h1")]
        assert [len(chunk) for chunk in chunks] == [CHUNK, CHUNK, 10 - 2 * CHUNK]
        after = await read_all(store, "h1", after_seq=7)
        assert [(r.seq, r.payload) for r in after] == [(8, b"8"), (9, b"9"), (10, b"10")]
        assert await read_all(store, "h1", after_seq=10) == []

    async def test_reader_may_stop_early_without_blocking_writes(self, store: Any) -> None:
        await store.append("h1", [b"x"] * (3 * CHUNK))
        async with contextlib.aclosing(store.read("h1")) as chunks:
            async for chunk in chunks:
                assert len(chunk) == CHUNK
                break
        assert await store.append("h1", [b"y"]) == [3 * CHUNK + 1]

    async def test_unknown_hall_is_empty(self, store: Any) -> None:
        assert await read_all(store, "nobody") == []
        assert await store.last_seq("nobody") == 0
        assert await store.load_snapshot("nobody") is None

    async def test_snapshot_newest_wins(self, store: Any) -> None:
        await store.append("h1", [b"a", b"b", b"c"])
        await store.save_snapshot("h1", Snapshot(seq=2, payload=b"s2"))
        assert await store.load_snapshot("h1") == Snapshot(seq=2, payload=b"s2")
        await store.save_snapshot("h1", Snapshot(seq=3, payload=b"s3"))
        assert await store.load_snapshot("h1") == Snapshot(seq=3, payload=b"s3")
        await store.save_snapshot("h1", Snapshot(seq=1, payload=b"stale"))
        assert await store.load_snapshot("h1") == Snapshot(seq=3, payload=b"s3")
        assert await store.load_snapshot("h2") is None

    async def test_snapshot_beyond_the_log_is_rejected(self, store: Any) -> None:
        await store.append("h1", [b"a"])
        with pytest.raises(ValueError, match="outside its log"):
            await store.save_snapshot("h1", Snapshot(seq=2, payload=b"future"))
        with pytest.raises(ValueError, match="outside its log"):
            await store.save_snapshot("h1", Snapshot(seq=-1, payload=b"negative"))
        assert await store.load_snapshot("h1") is None

    @pytest.mark.parametrize(
        ("hall_id", "payloads", "error"),
        [
            ("", [b"a"], ValueError),
            (None, [b"a"], ValueError),
            ("h1", b"abc", TypeError),
            ("h1", [b"ok", "text"], TypeError),
            ("h1", [bytearray(b"a")], TypeError),
        ],
    )
    async def test_bad_append_raises_and_changes_nothing(
        self, store: Any, hall_id: Any, payloads: Any, error: type[Exception]
    ) -> None:
        await store.append("h0", [b"before"])
        with pytest.raises(error):
            await store.append_many([("h0", [b"innocent"]), (hall_id, payloads)])
        assert await read_all(store, "h0") == [StoredRecord(1, b"before")]
        assert await store.halls() == ["h0"]
        assert store.commit_count == 1

    async def test_bad_read_arguments_raise(self, store: Any) -> None:
        with pytest.raises(ValueError):
            await read_all(store, "h1", after_seq=-1)
        with pytest.raises(ValueError):
            await read_all(store, "")

    async def test_closed_store_refuses_calls(self, store: Any) -> None:
        await store.close()
        with pytest.raises(StoreError, match="closed"):
            await store.append("h1", [b"a"])
        with pytest.raises(StoreError, match="closed"):
            await store.last_seq("h1")
        await store.close()  # idempotent

    async def test_values_beside_the_log(self, store: Any) -> None:
        assert await store.get_value("outbox:a") is None
        await store.put_value("outbox:a", b"17")
        await store.put_value("outbox:a", b"18")
        assert await store.get_value("outbox:a") == b"18"
        with pytest.raises(ValueError):
            await store.put_value("", b"x")
        with pytest.raises(TypeError):
            await store.put_value("k", "text")
        assert await store.halls() == []  # values are not records

    async def test_claims_are_recorded_with_their_batch(self, store: Any) -> None:
        claim = KeyClaim(hall="h1", principal="ann", key="k1", fingerprint="f1", at_ms=1_000)
        alone = KeyClaim(hall="h2", principal="", key="k2", fingerprint="f2", at_ms=2_000)
        assert await store.append_many([("h1", [b"a", b"b"]), ("h2", [])], [claim, alone]) == [
            [1, 2],
            [],
        ]
        assert await store.find_claim("h1", "ann", "k1") == ClaimedKey("f1", 1, 1_000)
        assert await store.find_claim("h2", "", "k2") == ClaimedKey("f2", 0, 2_000)
        assert await store.find_claim("h1", "bob", "k1") is None
        # a key past its retention may be claimed again before it is pruned: the newest wins
        again = KeyClaim(hall="h1", principal="ann", key="k1", fingerprint="f9", at_ms=5_000)
        assert await store.append_many([("h1", [b"c"])], [again]) == [[3]]
        assert await store.find_claim("h1", "ann", "k1") == ClaimedKey("f9", 3, 5_000)
        assert await store.prune_claims(3_000) == 1
        assert await store.find_claim("h2", "", "k2") is None
        assert await store.find_claim("h1", "ann", "k1") == ClaimedKey("f9", 3, 5_000)

    async def test_claims_that_do_not_match_batches_change_nothing(self, store: Any) -> None:
        claim = KeyClaim(hall="h1", principal="", key="k", fingerprint="f", at_ms=1)
        with pytest.raises(ValueError):
            await store.append_many([("h1", [b"a"]), ("h1", [b"b"])], [claim])
        with pytest.raises(TypeError):
            await store.append_many([("h1", [b"a"])], ["not a claim"])
        assert await store.last_seq("h1") == 0
        assert await store.find_claim("h1", "", "k") is None

    async def test_a_large_snapshot_in_parts_comes_back_whole(self, store: Any) -> None:
        await store.append("h1", [b"a", b"b"])
        parts = tuple(bytes([i]) * 700_000 for i in range(4))  # several parts in any store
        await store.save_snapshot("h1", Snapshot(seq=1, parts=parts))
        assert await store.load_snapshot("h1") == Snapshot(seq=1, payload=b"".join(parts))
        await store.save_snapshot("h1", Snapshot(seq=2, payload=b"small"))
        assert await store.load_snapshot("h1") == Snapshot(seq=2, payload=b"small")

    async def test_concurrent_appends_get_distinct_consecutive_seqs(self, store: Any) -> None:
        results = await asyncio.gather(
            *(store.append("h1", [b"%d" % i, b"%d" % i]) for i in range(20))
        )
        assert sorted(seq for seqs in results for seq in seqs) == list(range(1, 41))
        assert all(seqs[1] == seqs[0] + 1 for seqs in results)
        records = await read_all(store, "h1")
        assert [r.seq for r in records] == list(range(1, 41))
