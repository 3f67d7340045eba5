"""Snapshots cut consistently while commands keep changing tickets, stored in parts that let
appends through, and read back as the state at the cut."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from controller.config.model import StoreSettings
from controller.core import commands as c
from controller.core.engine import HallEngine
from controller.core.lifecycle import Rejected
from controller.core.state import HallState
from controller.daemon.runtime import HallRuntime, load_state
from controller.daemon.snapshots import SLICE, SnapshotWriter, decode_snapshot
from controller.store import sqlite as sqlite_store
from controller.store.base import Snapshot
from controller.store.group_commit import GroupCommitter
from controller.store.sqlite import SNAPSHOT_PART_BYTES, SqliteStore
from tests.controller.halls import MINUTE, MONDAY_9AM, small_hall

TICKETS = 3 * SLICE + 17
SHM = "/dev/shm" if os.path.isdir("/dev/shm") else None  # the log is fsync-bound: keep it fast


@pytest.fixture
def shm_path() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(dir=SHM) as folder:
        yield Path(folder)


def busy_engine() -> HallEngine:
    engine = HallEngine(small_hall(number_max=99_999))
    for i in range(TICKETS):
        engine.handle(c.IssueTicket(service="ABC"[i % 3]), MONDAY_9AM + i)
    for window, staff in ((1, "1001"), (2, "1002"), (3, "1003")):
        engine.handle(c.Login(window=window, staff=staff), MONDAY_9AM + TICKETS)
    return engine


def handle(engine: HallEngine, writer: SnapshotWriter, command: c.AnyCommand, now: int) -> None:
    """What the runtime does: decide, preserve what will change, fold."""
    with contextlib.suppress(Rejected):
        events = engine.decide(command, now)
        writer.preserve(events)
        engine.state.apply_all(events)


async def test_a_snapshot_is_the_state_at_its_cut_whatever_happens_meanwhile() -> None:
    engine = busy_engine()
    config = engine.config
    at_cut = engine.state.fingerprint()
    writer = SnapshotWriter(engine.state, seq=engine.state.seq)
    now = MONDAY_9AM + TICKETS + MINUTE
    encoding = asyncio.ensure_future(writer.encode())
    last = TICKETS
    while not encoding.done():  # commands run between the slices
        for command in (
            c.CallNumber(window=1, number=f"A{(last % 997) + 1:03d}"),
            c.Finish(window=1),
            c.CancelTicket(ticket=last),
            c.IssueTicket(service="B"),
            c.CallNext(window=2),
            c.NoShow(window=2),
        ):
            now += 1000
            handle(engine, writer, command, now)
        last -= 401
        await asyncio.sleep(0)
    parts = encoding.result()
    assert len(parts) > 3, "the tickets were encoded in slices"
    restored = HallState.from_snapshot(config, decode_snapshot(b"".join(parts)))
    assert restored.fingerprint() == at_cut
    assert engine.state.fingerprint() != at_cut


async def test_a_daily_close_finishes_the_snapshot_before_it_archives() -> None:
    engine = busy_engine()
    at_cut = engine.state.fingerprint()
    writer = SnapshotWriter(engine.state, seq=engine.state.seq)
    handle(engine, writer, c.CloseDay(), MONDAY_9AM + 9 * 60 * MINUTE)
    assert len(engine.state.tickets) < TICKETS / 2  # expired and archived
    parts = await writer.encode()
    restored = HallState.from_snapshot(engine.config, decode_snapshot(b"".join(parts)))
    assert restored.fingerprint() == at_cut


async def test_a_large_snapshot_is_stored_in_parts_and_appends_pass_between(
    tmp_path: Path,
) -> None:
    engine = busy_engine()
    parts = await SnapshotWriter(engine.state, seq=1).encode()
    size = sum(map(len, parts))
    assert size > 2 * SNAPSHOT_PART_BYTES
    store = await SqliteStore.open(tmp_path / "log.db")
    try:
        await store.append("demo", [b"\x90"] * 3)
        saving = asyncio.ensure_future(store.save_snapshot("demo", Snapshot(seq=2, parts=parts)))
        await asyncio.sleep(0)
        [seq] = await store.append("demo", [b"\x90"])
        assert not saving.done(), "an append waited for the whole snapshot"
        await saving
        assert seq == 4
        loaded = await store.load_snapshot("demo")
        assert loaded is not None and loaded.seq == 2 and loaded.payload == b"".join(parts)
        # An older snapshot is refused; a small newer one replaces it and its parts go.
        await store.save_snapshot("demo", Snapshot(seq=1, parts=parts))
        await store.save_snapshot("demo", Snapshot(seq=3, payload=b"\x01"))
        assert await store.load_snapshot("demo") == Snapshot(seq=3, payload=b"\x01")
    finally:
        await store.close()


def part_seqs(db: Path) -> dict[int, int]:
    """Parts on disk per snapshot seq, read by a second connection (keys only)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT seq, part FROM snapshot_parts WHERE hall = 'demo'").fetchall()
    return dict(Counter(seq for seq, _ in rows))


async def test_a_new_snapshot_drops_the_parts_it_replaces_after_it_is_current(
    tmp_path: Path,
) -> None:
    engine = busy_engine()
    parts = await SnapshotWriter(engine.state, seq=1).encode()
    payload = b"".join(parts)
    count = sum(-(-len(piece) // SNAPSHOT_PART_BYTES) for piece in parts)  # each piece split
    db = tmp_path / "log.db"
    store = await SqliteStore.open(db)
    try:
        await store.append("demo", [b"\x90"] * 6)
        await store.save_snapshot("demo", Snapshot(seq=2, parts=parts))
        assert part_seqs(db) == {2: count}
        with contextlib.closing(sqlite3.connect(db)) as other:  # a save at 5 that crashed
            other.execute("INSERT INTO snapshot_parts VALUES ('demo', 5, 0, x'00')")
            other.commit()

        await store.save_snapshot("demo", Snapshot(seq=4, parts=parts))
        assert part_seqs(db) == {4: count}, "the replaced and the crashed parts are gone"
        assert await store.load_snapshot("demo") == Snapshot(seq=4, payload=payload)
        autocheckpoint = await store._call(
            lambda: store._conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        )
        assert autocheckpoint == 1000, "SQLite's automatic checkpoint is back on"

        await store.save_snapshot("demo", Snapshot(seq=6, payload=b"\x01"))
        assert part_seqs(db) == {}, "a whole snapshot uses no parts"
    finally:
        await store.close()


async def test_the_wal_is_checkpointed_while_a_large_snapshot_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_store, "SNAPSHOT_CHECKPOINT_PARTS", 4)
    engine = busy_engine()
    parts = await SnapshotWriter(engine.state, seq=1).encode()
    size = sum(map(len, parts))
    db = tmp_path / "log.db"
    store = await SqliteStore.open(db)
    try:
        await store.append("demo", [b"\x90"] * 3)
        await store.save_snapshot("demo", Snapshot(seq=2, parts=parts))
        wal = db.with_name(db.name + "-wal").stat().st_size
        # Reused from its start after each checkpoint: it holds about 4 parts, not them all.
        assert wal < size / 2, (wal, size)
        assert await store.load_snapshot("demo") == Snapshot(seq=2, payload=b"".join(parts))
    finally:
        await store.close()


async def test_snapshots_taken_during_traffic_rebuild_the_live_state(shm_path: Path) -> None:
    config = replace(small_hall(number_max=99_999), store=StoreSettings(snapshot_every_events=50))
    store = await SqliteStore.open(shm_path / "log.db")
    now = [MONDAY_9AM]

    def clock() -> int:
        now[0] += 250
        return now[0]

    try:
        async with GroupCommitter(store) as committer:
            runtime = await HallRuntime.open(
                config, store, committer, clock=clock, snapshot_interval_s=0.0
            )

            async def window(number: int, staff: str) -> None:
                await runtime.submit(c.Login(window=number, staff=staff))
                for _ in range(60):
                    for command in (c.CallNext(window=number), c.Finish(window=number)):
                        with contextlib.suppress(Rejected):
                            await runtime.submit(command)

            async def kiosk() -> None:
                for i in range(SLICE * 2):
                    await runtime.submit(c.IssueTicket(service="AB"[i % 2]))

            await asyncio.gather(kiosk(), window(1, "1001"), window(2, "1002"))
            await runtime.aclose()
            snapshot = await store.load_snapshot("demo")
            assert snapshot is not None and snapshot.seq > 1000
            rebuilt = await load_state(config, store)
            assert rebuilt.fingerprint() == runtime.state.fingerprint()
    finally:
        await store.close()
