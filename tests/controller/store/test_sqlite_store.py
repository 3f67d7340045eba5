from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from controller.store.base import Snapshot, StoredRecord, StoreError
from controller.store.sqlite import SqliteStore
from tests.controller.store.contract import read_all


async def test_reopen_keeps_records_snapshots_and_numbering(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    store = await SqliteStore.open(path)
    await store.append_many([("h1", [b"a", b"b"]), ("h2", [b"x"])])
    await store.save_snapshot("h1", Snapshot(seq=2, payload=b"snap"))
    await store.close()

    reopened = await SqliteStore.open(path)
    try:
        assert await reopened.halls() == ["h1", "h2"]
        assert await reopened.last_seq("h1") == 2
        assert await reopened.append("h1", [b"c"]) == [3]
        assert await reopened.append("h2", [b"y"]) == [2]
        assert await read_all(reopened, "h1") == [
            StoredRecord(1, b"a"),
            StoredRecord(2, b"b"),
            StoredRecord(3, b"c"),
        ]
        assert await reopened.load_snapshot("h1") == Snapshot(seq=2, payload=b"snap")
    finally:
        await reopened.close()


async def test_durability_settings_are_wal_and_full_sync(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "events.db")
    try:
        conn = store._conn  # inspected in the store's own thread, as every call must be
        journal = await store._call(lambda: conn.execute("PRAGMA journal_mode").fetchone()[0])
        synchronous = await store._call(lambda: conn.execute("PRAGMA synchronous").fetchone()[0])
        assert (journal, synchronous) == ("wal", 2)  # 2 = FULL
    finally:
        await store.close()


async def test_sqlite_runs_in_one_thread_that_is_not_the_loop(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "events.db")
    try:
        idents = {await store._call(threading.get_ident) for _ in range(5)}
        assert len(idents) == 1
        assert idents != {threading.get_ident()}
        # the connection refuses other threads, so every call so far ran in that thread
        with pytest.raises(sqlite3.ProgrammingError):
            store._conn.execute("SELECT 1")
    finally:
        await store.close()


async def test_unknown_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    await (await SqliteStore.open(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE hallctl_schema SET version = 99")
    conn.close()
    with pytest.raises(StoreError, match=r"schema version 99.*version 1 only"):
        await SqliteStore.open(path)


async def test_other_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (name TEXT)")
    conn.close()
    with pytest.raises(StoreError, match="not a hallctl event store"):
        await SqliteStore.open(path)


@pytest.mark.parametrize(
    "content",
    [b"this is a text file, not a database\n" * 200, bytes(range(256)) * 64],
    ids=["text", "binary"],
)
async def test_non_sqlite_file_is_refused_and_left_alone(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "events.db"
    path.write_bytes(content)
    with pytest.raises(StoreError, match="not a usable SQLite event store"):
        await SqliteStore.open(path)
    assert path.read_bytes() == content


async def test_corrupt_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    store = await SqliteStore.open(path)
    await store.append("h1", [b"a"])
    await store.close()
    damaged = bytearray(path.read_bytes())
    damaged[0:16] = b"garbage garbage!"
    path.write_bytes(bytes(damaged))
    with pytest.raises(StoreError):
        await SqliteStore.open(path)


async def test_missing_directory_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot open"):
        await SqliteStore.open(tmp_path / "no" / "such" / "dir" / "events.db")


async def test_foreign_writer_causes_an_error_not_a_duplicate(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    store = await SqliteStore.open(path)
    try:
        await store.append("h1", [b"mine"])
        with sqlite3.connect(path) as intruder:
            intruder.execute("INSERT INTO records VALUES ('h1', 2, x'00')")
        intruder.close()
        with pytest.raises(StoreError, match="another process"):
            await store.append_many([("h2", [b"innocent"]), ("h1", [b"clash"])])
        assert await store.last_seq("h2") == 0  # the whole transaction was rolled back
        assert await store.halls() == ["h1"]
    finally:
        await store.close()


async def test_bad_read_chunk_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="read_chunk"):
        await SqliteStore.open(tmp_path / "events.db", read_chunk=0)


def store_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("hallctl-sqlite")]


async def wait_for_no_store_threads() -> None:
    for _ in range(200):
        if not store_threads():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"store threads still alive: {store_threads()}")


async def test_close_ends_the_store_thread(tmp_path: Path) -> None:
    await wait_for_no_store_threads()  # none left over from other tests
    store = await SqliteStore.open(tmp_path / "events.db")
    assert len(store_threads()) == 1
    await store.close()
    await wait_for_no_store_threads()


async def test_cancelled_open_leaves_no_thread_and_a_usable_file(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    await wait_for_no_store_threads()
    opening = asyncio.create_task(SqliteStore.open(path))
    await asyncio.sleep(0)  # the open is now running (or queued) in its thread
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    await wait_for_no_store_threads()
    store = await SqliteStore.open(path)
    try:
        assert await store.append("h1", [b"a"]) == [1]
    finally:
        await store.close()


async def test_values_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "kv.db"
    store = await SqliteStore.open(path)
    await store.put_value("outbox:json_v1:h1", b"42")
    await store.close()
    reopened = await SqliteStore.open(path)
    try:
        assert await reopened.get_value("outbox:json_v1:h1") == b"42"
    finally:
        await reopened.close()
