"""The event store on one SQLite file (WAL, synchronous=FULL).

Theory of operation. Every sqlite3 call, opening the file included, runs in one thread owned by
the store (a single-worker executor), so the event loop never waits on an fsync and the
connection never crosses threads. A write is one ``BEGIN IMMEDIATE … COMMIT``; in WAL mode with
``synchronous=FULL`` the commit fsyncs the WAL before it returns, so a returned ``append`` survives
``kill -9`` and power loss. A transaction that fails or is interrupted by a crash leaves no trace
(SQLite's WAL checksums cut a torn tail). Sequence numbers are ``last+1…`` per hall, assigned
inside the transaction from a cache read at open and advanced only after a successful commit;
the primary key (hall, seq) turns any disagreement with the file into an error, never a
duplicate. See docs/decisions/0001-event-store.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import repeat
from pathlib import Path
from typing import Final, TypeVar

from controller.store.base import (
    ClaimedKey,
    KeyClaim,
    Snapshot,
    StoredRecord,
    StoreError,
    StoreFault,
    check_append,
    check_claims,
    check_hall_id,
    check_key,
    fault_of,
)

SCHEMA_VERSION: Final = 1
DEFAULT_READ_CHUNK: Final = 10_000
_BUSY_TIMEOUT_MS: Final = 5_000

_SCHEMA: Final = (
    """CREATE TABLE hallctl_schema (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        version INTEGER NOT NULL
    )""",
    """CREATE TABLE records (
        hall TEXT NOT NULL,
        seq INTEGER NOT NULL CHECK (seq > 0),
        payload BLOB NOT NULL,
        PRIMARY KEY (hall, seq)
    ) WITHOUT ROWID""",
    """CREATE TABLE snapshots (
        hall TEXT PRIMARY KEY NOT NULL,
        seq INTEGER NOT NULL,
        payload BLOB NOT NULL
    )""",
)

_PARTS_TABLE: Final = """CREATE TABLE IF NOT EXISTS snapshot_parts (
    hall TEXT NOT NULL,
    seq INTEGER NOT NULL,
    part INTEGER NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (hall, seq, part)
) WITHOUT ROWID"""
SNAPSHOT_PART_BYTES: Final = 1 << 17
"""A large snapshot is written in parts of this size, one transaction each, so appends queued
behind it wait for one part (about a millisecond), not for the whole snapshot (a second)."""
SNAPSHOT_CHECKPOINT_PARTS: Final = 32
"""While parts are written SQLite's automatic checkpoint is off: it would copy 4 MB of WAL into
the file and fsync it inside whichever commit crossed the mark, on the store's thread (the
20-140 ms stalls measured; checkpoints of 0.5 MB still took 8 ms each, mostly the fsync). The
writer checkpoints every this many parts (4 MB) instead, on a connection of its own in another
thread: in WAL mode a checkpoint does not block appends, so they never wait for one."""
SNAPSHOT_DROP_PARTS: Final = 4
"""Parts of the replaced snapshot dropped per transaction, after the new one is current
(dropping 95 MB in the final commit stalled appends for 0.8 s)."""
SNAPSHOT_YIELD: Final = 2.0
"""After each step the writer waits this many times as long as the step took: appends get
most of the store's thread (benchmarks/bench_snapshot_stall.py)."""
_AUTO_CHECKPOINT_PAGES: Final = 1000  # SQLite's default

_KV_TABLE: Final = """CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
) WITHOUT ROWID"""
_PUT_VALUE: Final = """INSERT INTO kv (key, value) VALUES (?, ?)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value"""

_CLAIMS_TABLE: Final = """CREATE TABLE IF NOT EXISTS idempotency_keys (
    hall TEXT NOT NULL,
    principal TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    PRIMARY KEY (hall, principal, key)
) WITHOUT ROWID"""
_CLAIMS_BY_AGE: Final = "CREATE INDEX IF NOT EXISTS idempotency_keys_at ON idempotency_keys (at_ms)"
# A key past its retention may be claimed again before the pruner has removed it.
_PUT_CLAIM: Final = """INSERT INTO idempotency_keys (hall, principal, key, fingerprint, seq, at_ms)
    VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (hall, principal, key) DO UPDATE SET
    fingerprint = excluded.fingerprint, seq = excluded.seq, at_ms = excluded.at_ms"""
_FIND_CLAIM: Final = """SELECT fingerprint, seq, at_ms FROM idempotency_keys
    WHERE hall = ? AND principal = ? AND key = ?"""
_PROBE_KEY: Final = "~store-probe"

_INSERT: Final = "INSERT INTO records (hall, seq, payload) VALUES (?, ?, ?)"
_READ_CHUNK: Final = (
    "SELECT seq, payload FROM records WHERE hall = ? AND seq > ? ORDER BY seq LIMIT ?"
)
_SAVE_SNAPSHOT: Final = """INSERT INTO snapshots (hall, seq, payload) VALUES (?, ?, ?)
    ON CONFLICT (hall) DO UPDATE SET seq = excluded.seq, payload = excluded.payload
    WHERE excluded.seq >= snapshots.seq"""

_T = TypeVar("_T")


class SqliteStore:
    """``EventStore`` on a single SQLite file; build it with ``await SqliteStore.open(path)``."""

    def __init__(
        self,
        path: Path,
        executor: ThreadPoolExecutor,
        connection: sqlite3.Connection,
        last_seqs: dict[str, int],
        read_chunk: int,
    ) -> None:
        # Private: only ``open`` has the connection and cache made in the worker thread.
        self.path = path
        self._executor = executor
        self._conn = connection
        self._last_seqs = last_seqs  # touched only in the worker thread
        self._read_chunk = read_chunk
        self._closed = False
        self.commit_count = 0
        """Append transactions committed since open (for tests and benchmarks of batching)."""

    @classmethod
    async def open(
        cls, path: str | os.PathLike[str], *, read_chunk: int = DEFAULT_READ_CHUNK
    ) -> SqliteStore:
        """Open or create the store; raise ``StoreError`` if the file is not a store we know."""
        if read_chunk < 1:
            raise ValueError(f"read_chunk must be positive, got {read_chunk}")
        db_path = Path(path)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hallctl-sqlite")
        opening = executor.submit(_open_database, db_path)
        try:
            connection, last_seqs = await asyncio.wrap_future(opening)
        except BaseException:
            # Cancelled or failed: the open may still finish in the thread; close what it made.
            executor.submit(_close_opened, opening)
            executor.shutdown(wait=False)
            raise
        return cls(db_path, executor, connection, last_seqs, read_chunk)

    async def append(self, hall_id: str, payloads: Sequence[bytes]) -> list[int]:
        """Durably append ``payloads`` to one hall in one transaction."""
        (seqs,) = await self.append_many([(hall_id, payloads)])
        return seqs

    async def append_many(
        self,
        batches: Sequence[tuple[str, Sequence[bytes]]],
        claims: Sequence[KeyClaim | None] = (),
    ) -> list[list[int]]:
        """Append several halls' records in one transaction (one fsync); all or nothing.

        ``claims`` (parallel to ``batches``) are written in the same transaction, so a key is
        durable exactly when its command's record is.

        If the awaiting task is cancelled the transaction still runs to its end in the store's
        thread: the outcome is then unknown to the caller, as after a crash, never half-done.
        """
        for hall_id, payloads in batches:
            check_append(hall_id, payloads)
        check_claims(batches, claims)
        frozen = [(hall_id, tuple(payloads)) for hall_id, payloads in batches]
        return await self._call(self._append_many_sync, frozen, tuple(claims))

    async def find_claim(self, hall_id: str, principal: str, key: str) -> ClaimedKey | None:
        """The recorded ``Idempotency-Key`` (a primary-key lookup in the store's thread)."""
        check_hall_id(hall_id)
        return await self._call(self._find_claim_sync, hall_id, principal, key)

    async def prune_claims(self, before_ms: int) -> int:
        """Delete keys recorded before ``before_ms`` (one small transaction)."""
        return await self._call(self._prune_claims_sync, before_ms)

    async def reopen(self) -> None:
        """Close and reopen the file, reloading the seq cache from what is really on disk.

        After a failed write the connection and the cache cannot be trusted (an fsync error may
        have left a commit on disk, or dropped pages the cache counted); the daemon reopens
        before it rebuilds its halls from the log. Calls made meanwhile queue behind it.
        """
        await self._call(self._reopen_sync)

    async def probe(self) -> None:
        """One real durable write beside the log: succeeds only when the store is writable."""
        await self._call(self._put_value_sync, _PROBE_KEY, str(time.time_ns()).encode())

    async def read(self, hall_id: str, after_seq: int = 0) -> AsyncIterator[list[StoredRecord]]:
        """Yield the hall's records with seq > after_seq in chunks, each fetched in the thread.

        Each chunk is its own short query (keyset paging), so a reader that stops early holds
        no cursor or read transaction open. (Prefetching the next chunk while the caller
        decodes was measured and does not pay: pysqlite takes the GIL back for every row.)
        """
        check_hall_id(hall_id)
        if after_seq < 0:
            raise ValueError(f"after_seq must be >= 0, got {after_seq}")
        last = after_seq
        while True:
            chunk = await self._call(self._read_chunk_sync, hall_id, last)
            if not chunk:
                return
            yield chunk
            if len(chunk) < self._read_chunk:
                return
            last = chunk[-1].seq

    async def last_seq(self, hall_id: str) -> int:
        """The hall's highest committed seq, 0 when empty."""
        check_hall_id(hall_id)
        return await self._call(self._last_seq_sync, hall_id)

    async def save_snapshot(self, hall_id: str, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` unless the hall already has a newer one (newest seq wins).

        A snapshot larger than ``SNAPSHOT_PART_BYTES`` is written in parts, each its own short
        transaction in the store's thread, then made current by one small transaction (its
        ``snapshots`` row with an empty payload); appends run between the parts. A crash
        midway leaves the previous snapshot current and the written parts unused (removed by
        the next save). Parts no longer used are then dropped, a few per transaction."""
        pieces = snapshot.pieces()
        check_append(hall_id, pieces)
        if sum(map(len, pieces)) <= SNAPSHOT_PART_BYTES:
            whole = Snapshot(seq=snapshot.seq, payload=b"".join(pieces))
            await self._call(self._save_snapshot_sync, hall_id, whole)
            await self._drop_old_parts(hall_id)
            return
        if not await self._call(self._start_parts_sync, hall_id, snapshot.seq):
            return
        try:
            part = 0
            for piece in pieces:
                view = memoryview(piece)
                for start in range(0, len(piece), SNAPSHOT_PART_BYTES):
                    chunk = bytes(view[start : start + SNAPSHOT_PART_BYTES])
                    await self._step(self._save_part_sync, hall_id, snapshot.seq, part, chunk)
                    part += 1
                    if part % SNAPSHOT_CHECKPOINT_PARTS == 0:
                        await asyncio.to_thread(_checkpoint, self.path)
            await self._call(self._save_snapshot_sync, hall_id, Snapshot(seq=snapshot.seq))
            await self._drop_old_parts(hall_id)
            # The WAL's tail too, before SQLite's own checkpoints resume: the first append
            # after would otherwise copy up to 4 MB inside its commit (a 62 ms stall, measured).
            await asyncio.to_thread(_checkpoint, self.path)
        finally:
            with contextlib.suppress(StoreError):
                await self._call(self._auto_checkpoint_sync, _AUTO_CHECKPOINT_PAGES)

    async def _drop_old_parts(self, hall_id: str) -> None:
        steps = 0
        while await self._step(self._drop_old_parts_sync, hall_id):
            steps += 1
            if steps % SNAPSHOT_CHECKPOINT_PARTS == 0:
                await asyncio.to_thread(_checkpoint, self.path)

    async def _step(self, function: Callable[..., _T], *args: object) -> _T:
        """One short step of a snapshot's writing, then a pause: appends arriving meanwhile
        run before the next step."""
        began = time.perf_counter()
        result = await self._call(function, *args)
        await asyncio.sleep((time.perf_counter() - began) * SNAPSHOT_YIELD)
        return result

    async def load_snapshot(self, hall_id: str) -> Snapshot | None:
        """The hall's newest snapshot, if any."""
        check_hall_id(hall_id)
        return await self._call(self._load_snapshot_sync, hall_id)

    async def halls(self) -> list[str]:
        """Every hall with records, sorted."""
        return await self._call(self._halls_sync)

    async def get_value(self, key: str) -> bytes | None:
        """A value kept beside the log (the ``kv`` table), None when never set."""
        check_key(key)
        return await self._call(self._get_value_sync, key)

    async def put_value(self, key: str, value: bytes) -> None:
        """Set ``key`` durably (its own small transaction, fsynced like an append)."""
        check_key(key, value)
        await self._call(self._put_value_sync, key, value)

    async def close(self) -> None:
        """Finish queued work, close the connection and the thread; later calls raise."""
        if self._closed:
            return
        self._closed = True
        closing = self._executor.submit(self._conn.close)
        self._executor.shutdown(wait=False)  # the thread exits once the queue is drained
        try:
            await asyncio.wrap_future(closing)
        except sqlite3.Error as exc:
            raise StoreError(f"closing {self.path} failed: {exc}") from exc

    async def _call(self, function: Callable[..., _T], *args: object) -> _T:
        if self._closed:
            raise StoreError(f"event store {self.path} is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, function, *args)
        except sqlite3.IntegrityError as exc:
            raise StoreError(
                f"{self.path}: seq conflict ({exc}); is another process writing this log?"
            ) from exc
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}", fault=self._fault(sqlite_fault(exc))) from exc
        except OSError as exc:
            raise StoreError(f"{self.path}: {exc}", fault=self._fault(fault_of(exc))) from exc

    def _fault(self, fault: StoreFault) -> StoreFault:
        """SQLite reports a write refused with EROFS as a plain I/O error; a file system that
        turned read-only under the daemon (ext4 ``errors=remount-ro``) is named as such."""
        if fault is StoreFault.IO_ERROR and _read_only_fs(self.path):
            return StoreFault.READ_ONLY
        return fault

    # --- worker-thread side -------------------------------------------------------------

    def _append_many_sync(
        self,
        batches: list[tuple[str, tuple[bytes, ...]]],
        claims: tuple[KeyClaim | None, ...] = (),
    ) -> list[list[int]]:
        new_last: dict[str, int] = {}
        rows: list[tuple[str, int, bytes]] = []
        assigned: list[list[int]] = []
        for hall_id, payloads in batches:
            first = new_last.get(hall_id, self._last_seqs.get(hall_id, 0)) + 1
            seqs = list(range(first, first + len(payloads)))
            rows.extend(zip(repeat(hall_id), seqs, payloads, strict=False))
            if seqs:
                new_last[hall_id] = seqs[-1]
            assigned.append(seqs)
        keys = [
            (c.hall, c.principal, c.key, c.fingerprint, seqs[0] if seqs else 0, c.at_ms)
            for c, seqs in zip(claims, assigned, strict=False)
            if c is not None
        ]
        if not rows and not keys:
            return assigned
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(_INSERT, rows)
            if keys:
                conn.executemany(_PUT_CLAIM, keys)
            conn.execute("COMMIT")
        except BaseException:
            _rollback_quietly(conn)
            raise
        self._last_seqs.update(new_last)
        self.commit_count += 1
        return assigned

    def _find_claim_sync(self, hall_id: str, principal: str, key: str) -> ClaimedKey | None:
        row = self._conn.execute(_FIND_CLAIM, (hall_id, principal, key)).fetchone()
        return None if row is None else ClaimedKey(fingerprint=row[0], seq=row[1], at_ms=row[2])

    def _prune_claims_sync(self, before_ms: int) -> int:
        cursor = self._conn.execute("DELETE FROM idempotency_keys WHERE at_ms < ?", (before_ms,))
        return cursor.rowcount

    def _reopen_sync(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()
        self._conn, self._last_seqs = _open_database(self.path)

    def _last_seq_sync(self, hall_id: str) -> int:
        return self._last_seqs.get(hall_id, 0)

    def _halls_sync(self) -> list[str]:
        return sorted(self._last_seqs)

    def _read_chunk_sync(self, hall_id: str, after_seq: int) -> list[StoredRecord]:
        rows = self._conn.execute(_READ_CHUNK, (hall_id, after_seq, self._read_chunk)).fetchall()
        return [StoredRecord(seq, payload) for seq, payload in rows]

    def _check_snapshot_seq_sync(self, hall_id: str, seq: int) -> None:
        last = self._last_seqs.get(hall_id, 0)
        if not 0 <= seq <= last:
            raise ValueError(
                f"snapshot seq {seq} of hall {hall_id!r} is outside its log (0..{last})"
            )

    def _start_parts_sync(self, hall_id: str, seq: int) -> bool:
        """Whether a parted snapshot at ``seq`` is wanted (none as new is current); clears
        parts a crash left at that seq."""
        self._check_snapshot_seq_sync(hall_id, seq)
        row = self._conn.execute("SELECT seq FROM snapshots WHERE hall = ?", (hall_id,)).fetchone()
        if row is not None and row[0] >= seq:
            return False
        self._conn.execute("DELETE FROM snapshot_parts WHERE hall = ? AND seq = ?", (hall_id, seq))
        self._auto_checkpoint_sync(0)
        return True

    def _auto_checkpoint_sync(self, pages: int) -> None:
        self._conn.execute(f"PRAGMA wal_autocheckpoint = {int(pages)}")

    def _drop_old_parts_sync(self, hall_id: str) -> bool:
        """Drop a few parts the current snapshot does not use (the replaced one's, a crashed
        attempt's); whether there were any."""
        current = self._conn.execute(
            "SELECT seq FROM snapshots WHERE hall = ? AND payload = x''", (hall_id,)
        ).fetchone()
        keep = -1 if current is None else current[0]  # a whole snapshot uses no parts
        # Two range seeks, not ``seq != ?``: that visits every row, and visiting a row of this
        # table reads its whole payload (85 ms for 725 parts of 128 KiB, measured).
        doomed = [
            *self._conn.execute(
                "SELECT seq, part FROM snapshot_parts WHERE hall = ? AND seq < ? LIMIT ?",
                (hall_id, keep, SNAPSHOT_DROP_PARTS),
            ),
            *self._conn.execute(
                "SELECT seq, part FROM snapshot_parts WHERE hall = ? AND seq > ? LIMIT ?",
                (hall_id, keep, SNAPSHOT_DROP_PARTS),
            ),
        ]
        if not doomed:
            return False
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "DELETE FROM snapshot_parts WHERE hall = ? AND seq = ? AND part = ?",
                [(hall_id, s, p) for s, p in doomed],
            )
            conn.execute("COMMIT")
        except BaseException:
            _rollback_quietly(conn)
            raise
        return True

    def _save_part_sync(self, hall_id: str, seq: int, part: int, payload: bytes) -> None:
        """One part, committed without its own fsync (``synchronous = NORMAL``: checkpoints
        still sync): the snapshot's final row commits with ``FULL``, and that fsync of the WAL
        makes every part before it durable too. Appends always commit with ``FULL``."""
        conn = self._conn
        conn.execute("PRAGMA synchronous = NORMAL")
        try:
            conn.execute(
                "INSERT OR REPLACE INTO snapshot_parts (hall, seq, part, payload) "
                "VALUES (?, ?, ?, ?)",
                (hall_id, seq, part, payload),
            )
        finally:
            conn.execute("PRAGMA synchronous = FULL")

    def _save_snapshot_sync(self, hall_id: str, snapshot: Snapshot) -> None:
        """The ``snapshots`` row (an empty payload: the snapshot is in ``snapshot_parts``). The
        parts it replaces are dropped afterwards, a few per transaction."""
        self._check_snapshot_seq_sync(hall_id, snapshot.seq)
        self._conn.execute(_SAVE_SNAPSHOT, (hall_id, snapshot.seq, snapshot.payload))

    def _get_value_sync(self, key: str) -> bytes | None:
        row = self._conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def _put_value_sync(self, key: str, value: bytes) -> None:
        self._conn.execute(_PUT_VALUE, (key, value))

    def _load_snapshot_sync(self, hall_id: str) -> Snapshot | None:
        row = self._conn.execute(
            "SELECT seq, payload FROM snapshots WHERE hall = ?", (hall_id,)
        ).fetchone()
        if row is None:
            return None
        seq, payload = row
        if payload:
            return Snapshot(seq=seq, payload=payload)
        parts = self._conn.execute(
            "SELECT payload FROM snapshot_parts WHERE hall = ? AND seq = ? ORDER BY part",
            (hall_id, seq),
        ).fetchall()
        if not parts:
            return None  # a cache lost: the log is replayed from its start
        return Snapshot(seq=seq, payload=b"".join(p[0] for p in parts))


def _open_database(path: Path) -> tuple[sqlite3.Connection, dict[str, int]]:
    """Runs in the store thread: connect, check or create the schema, load the seq cache."""
    is_new = not path.exists() or path.stat().st_size == 0
    try:
        conn = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open event store {path}: {exc}", fault=sqlite_fault(exc)) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise StoreError(f"{path}: cannot use WAL journal mode (got {mode!r})")
        conn.execute("PRAGMA synchronous = FULL")
        _check_or_create_schema(conn, path)
        for statement in (_KV_TABLE, _CLAIMS_TABLE, _CLAIMS_BY_AGE, _PARTS_TABLE):
            conn.execute(statement)  # added after version 1 shipped; older files gain them here
        if is_new:
            _fsync_directory(path.parent)
        return conn, _load_last_seqs(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        fault = StoreFault.READ_ONLY if _read_only_fs(path) else sqlite_fault(exc)
        if fault is not StoreFault.OTHER:
            raise StoreError(f"cannot write event store {path}: {exc}", fault=fault) from exc
        raise StoreError(f"{path} is not a usable SQLite event store: {exc}") from exc
    except BaseException:
        conn.close()
        raise


def _checkpoint(path: Path) -> None:
    """Copy the WAL into the file from a connection of this thread's own (PASSIVE: appends on
    the store's connection go on meanwhile)."""
    try:
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except sqlite3.Error as exc:
        raise StoreError(f"{path}: checkpoint failed: {exc}", fault=sqlite_fault(exc)) from exc


def _check_or_create_schema(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("BEGIN IMMEDIATE")  # two processes creating one file: the second sees tables
    try:
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
        }
        if not tables:
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute("INSERT INTO hallctl_schema VALUES (1, ?)", (SCHEMA_VERSION,))
        elif "hallctl_schema" not in tables:
            raise StoreError(
                f"{path} is an SQLite database but not a hallctl event store "
                f"(tables: {', '.join(sorted(tables))})"
            )
        else:
            row = conn.execute("SELECT version FROM hallctl_schema").fetchone()
            version = None if row is None else row[0]
            if version != SCHEMA_VERSION:
                raise StoreError(
                    f"{path} has event-store schema version {version!r}; this hallctl reads "
                    f"version {SCHEMA_VERSION} only (upgrade hallctl or migrate the file)"
                )
        conn.execute("COMMIT")
    except BaseException:
        _rollback_quietly(conn)
        raise


def _load_last_seqs(conn: sqlite3.Connection) -> dict[str, int]:
    """Highest seq per hall by hopping the primary key hall by hall (no full scan)."""
    last_seqs: dict[str, int] = {}
    row = conn.execute("SELECT MIN(hall) FROM records").fetchone()
    while row is not None and row[0] is not None:
        hall = row[0]
        last_seqs[hall] = conn.execute(
            "SELECT MAX(seq) FROM records WHERE hall = ?", (hall,)
        ).fetchone()[0]
        row = conn.execute("SELECT MIN(hall) FROM records WHERE hall > ?", (hall,)).fetchone()
    return last_seqs


def sqlite_fault(exc: sqlite3.Error) -> StoreFault:
    """Classify an SQLite error by its primary result code (SQLITE_FULL is ENOSPC)."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name == "SQLITE_FULL":
        return StoreFault.DISK_FULL
    if name.startswith("SQLITE_READONLY"):
        return StoreFault.READ_ONLY
    if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN")):
        return StoreFault.IO_ERROR
    text = str(exc).lower()
    if "disk is full" in text:
        return StoreFault.DISK_FULL
    if "readonly" in text or "read-only" in text:
        return StoreFault.READ_ONLY
    if "disk i/o error" in text:
        return StoreFault.IO_ERROR
    return fault_of(exc)


def _read_only_fs(path: Path) -> bool:
    """SQLite says only "unable to open database file" when it cannot create its WAL there."""
    try:
        return bool(os.statvfs(path.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _fsync_directory(directory: Path) -> None:
    """Make a newly created database file's directory entry durable (SQLite syncs the WAL's)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _rollback_quietly(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):  # the original error is the one to report
            conn.execute("ROLLBACK")


def _close_opened(opening: Future[tuple[sqlite3.Connection, dict[str, int]]]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result()[0].close()
