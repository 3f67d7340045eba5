"""Real write failures of the SQLite store: classified, nothing half-written, and recoverable
by reopening; idempotency keys committed with their records; a resumable group commit."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from controller.store.base import KeyClaim, StoreError, StoreFault
from controller.store.group_commit import CommitFailed, CommitterClosed, GroupCommitter
from controller.store.memory import MemoryStore
from controller.store.sqlite import SqliteStore
from tests.controller.store.contract import read_all
from tests.diskfull import small_disk


async def cap_pages(store: SqliteStore, pages: int) -> None:
    """A real SQLITE_FULL without a small disk: cap the file (this connection only)."""

    def cap() -> None:
        store._conn.execute(f"PRAGMA max_page_count = {pages}")

    await store._call(cap)


async def test_sqlite_full_is_disk_full_rolls_back_and_reopen_recovers(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "log.db")
    try:
        await store.append("h", [b"kept"])
        pages = await store._call(lambda: store._conn.execute("PRAGMA page_count").fetchone()[0])
        await cap_pages(store, pages)
        with pytest.raises(StoreError) as failed:
            await store.append("h", [b"x" * 20_000])
        assert failed.value.fault is StoreFault.DISK_FULL
        assert isinstance(failed.value.__cause__, sqlite3.Error)
        await store.reopen()  # a new connection: the cap is gone, as if space came back
        await store.probe()
        assert await store.append("h", [b"after"]) == [2]
        assert [r.payload for r in await read_all(store, "h")] == [b"kept", b"after"]
    finally:
        await store.close()


async def test_a_full_tmpfs_fails_appends_then_reopen_continues_the_log() -> None:
    with small_disk("2m") as disk:
        store = await SqliteStore.open(disk.path / "log.db")
        try:
            committed = [await store.append("h", [b"r%d" % i]) for i in range(5)]
            disk.fill()
            with pytest.raises(StoreError) as failed:
                for _ in range(1000):  # the WAL grows into the full disk
                    committed.append(await store.append("h", [b"y" * 4000]))
            assert failed.value.fault is StoreFault.DISK_FULL, failed.value
            with pytest.raises(StoreError):
                await store.probe()
            disk.free()
            await store.reopen()
            await store.probe()
            seqs = [s for [s] in committed]
            assert seqs == list(range(1, len(seqs) + 1))
            assert await store.append("h", [b"next"]) == [len(seqs) + 1]
            assert [r.seq for r in await read_all(store, "h")] == [*seqs, len(seqs) + 1]
        finally:
            await store.close()


async def test_opening_on_a_read_only_file_system_names_the_file() -> None:
    with small_disk("2m") as disk:
        path = disk.path / "log.db"
        store = await SqliteStore.open(path)
        await store.append("h", [b"x"])
        await store.close()
        disk.read_only(True)
        try:
            with pytest.raises(StoreError) as failed:
                await SqliteStore.open(path)
        finally:
            disk.read_only(False)
        assert failed.value.fault is StoreFault.READ_ONLY
        assert str(path) in str(failed.value) and "\n" not in str(failed.value)


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
async def test_claims_commit_with_their_record_and_are_pruned(tmp_path: Path, kind: str) -> None:
    store: SqliteStore | MemoryStore = (
        await SqliteStore.open(tmp_path / "log.db") if kind == "sqlite" else MemoryStore()
    )
    try:
        claim = KeyClaim("h", "alice", "k1", "f1", 1000)
        nothing = KeyClaim("h", "alice", "k2", "f2", 5000)
        seqs = await store.append_many([("h", [b"a", b"b"]), ("h", [])], [claim, nothing])
        assert seqs == [[1, 2], []]
        found = await store.find_claim("h", "alice", "k1")
        assert found is not None and (found.seq, found.fingerprint, found.at_ms) == (1, "f1", 1000)
        empty = await store.find_claim("h", "alice", "k2")
        assert empty is not None and empty.seq == 0
        assert await store.find_claim("h", "bob", "k1") is None  # scoped per principal
        assert await store.find_claim("other", "alice", "k1") is None  # and per hall
        with pytest.raises(ValueError):
            await store.append_many([("h", [b"c"])], [claim, claim])  # not parallel: refused
        assert await store.last_seq("h") == 2  # ... and nothing was written
        assert await store.prune_claims(2000) == 1
        assert await store.find_claim("h", "alice", "k1") is None
        assert await store.find_claim("h", "alice", "k2") is not None
    finally:
        await store.close()


async def test_a_failed_claim_transaction_leaves_neither_record_nor_key(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "log.db")
    try:
        await store.append("h", [b"kept"])
        pages = await store._call(lambda: store._conn.execute("PRAGMA page_count").fetchone()[0])
        await cap_pages(store, pages)
        with pytest.raises(StoreError):
            await store.append_many([("h", [b"z" * 20_000])], [KeyClaim("h", "", "k", "f", 1)])
        assert await store.find_claim("h", "", "k") is None
        assert await store.last_seq("h") == 1
    finally:
        await store.close()


async def test_group_commit_tells_its_failure_once_and_resumes(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "log.db")
    failures: list[BaseException] = []
    try:
        async with GroupCommitter(store) as committer:
            committer.on_failure = failures.append
            assert await committer.append("h", b"one") == 1
            pages = await store._call(
                lambda: store._conn.execute("PRAGMA page_count").fetchone()[0]
            )
            await cap_pages(store, pages)
            with pytest.raises(CommitFailed):
                await committer.append("h", b"x" * 20_000)
            with pytest.raises(CommitterClosed):
                await committer.append("h", b"refused while stopped")
            assert len(failures) == 1 and isinstance(failures[0], StoreError)
            await store.reopen()
            committer.resume()
            assert committer.failure is None
            claim = KeyClaim("h", "", "k", "f", 1)
            assert await committer.append_records("h", [b"two"], claim=claim) == [2]
            found = await store.find_claim("h", "", "k")
            assert found is not None and found.seq == 2
        assert [r.payload for r in await read_all(store, "h")] == [b"one", b"two"]
    finally:
        await store.close()
