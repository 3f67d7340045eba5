"""The event store on PostgreSQL (asyncpg): the same contract as the SQLite store.

Theory of operation. One *writer* connection, held for the store's life and used under one
lock, carries every append: ``append_many`` (a group commit's batch) is ONE statement — the
records as ``unnest`` arrays into an ``INSERT``, the batch's idempotency keys in a
data-modifying CTE of the same statement — so a batch is one round trip and one implicit
transaction: it commits (WAL flushed, ``synchronous_commit = on`` forced per connection) or
leaves nothing. Sequence numbers are ``last+1…`` per hall from a cache filled from the table
the first time a hall is appended to and advanced only after the commit; the primary key
(hall, seq) turns any disagreement (another writer) into an error, never a duplicate.
Everything else (reads in keyset-paged chunks, snapshots, values, keys) runs on a small pool,
so a large snapshot or a long replay never waits behind, nor stalls, the appends.

A cancelled caller does not cancel its append: the statement runs to its end (shielded) and
the cache stays true, exactly as the SQLite store's thread does. After any failed append the
cache of the batch's halls is dropped (the outcome may be unknown, e.g. a connection lost
during COMMIT) and reloaded from the table on the next append. See
docs/decisions/0008-postgres-store.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Final, TypeAlias, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from controller.store import pg_schema
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
)

DEFAULT_READ_CHUNK: Final = 10_000
SNAPSHOT_PART_BYTES: Final = 1 << 20
"""A snapshot is kept in parts of at most this size (one bytea each)."""
POOL_SIZE: Final = 4
CONNECT_TIMEOUT_S: Final = 10.0
_PROBE_KEY: Final = "~store-probe"

# One statement, so one implicit transaction and one round trip: the records, the batch's
# idempotency keys, and the fencing check (data-modifying CTEs always run to completion; the
# check raising aborts the whole statement).
_APPEND: Final = """
WITH claims AS (
    INSERT INTO hallctl.idempotency_keys (hall, principal, key, fingerprint, seq, at_ms)
    SELECT * FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[],
                         $9::bigint[])
    ON CONFLICT (hall, principal, key) DO UPDATE SET
        fingerprint = excluded.fingerprint, seq = excluded.seq, at_ms = excluded.at_ms
), appended AS (
    INSERT INTO hallctl.records (hall, seq, payload)
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[])
)
SELECT hallctl.check_fence($10::text[], $11::bigint[])
"""
_LAST_SEQS: Final = """SELECT hall, max(seq) FROM hallctl.records
    WHERE hall = ANY($1::text[]) GROUP BY hall"""
_LAST_SEQ: Final = "SELECT coalesce(max(seq), 0) FROM hallctl.records WHERE hall = $1"
_READ_CHUNK: Final = """SELECT seq, payload FROM hallctl.records
    WHERE hall = $1 AND seq > $2 ORDER BY seq LIMIT $3"""
# Every distinct hall by hopping the primary key (a loose index scan, no full scan).
_HALLS: Final = """
WITH RECURSIVE h AS (
    (SELECT hall FROM hallctl.records ORDER BY hall LIMIT 1)
    UNION ALL
    SELECT (SELECT r.hall FROM hallctl.records r WHERE r.hall > h.hall ORDER BY r.hall LIMIT 1)
    FROM h WHERE h.hall IS NOT NULL
)
SELECT hall FROM h WHERE hall IS NOT NULL
"""
_CLAIM_SNAPSHOT: Final = """INSERT INTO hallctl.snapshots (hall, seq) VALUES ($1, $2)
    ON CONFLICT (hall) DO UPDATE SET seq = excluded.seq
    WHERE excluded.seq >= hallctl.snapshots.seq RETURNING seq"""
_PUT_VALUE: Final = """INSERT INTO hallctl.kv (key, value) VALUES ($1, $2)
    ON CONFLICT (key) DO UPDATE SET value = excluded.value"""
_FIND_CLAIM: Final = """SELECT fingerprint, seq, at_ms FROM hallctl.idempotency_keys
    WHERE hall = $1 AND principal = $2 AND key = $3"""

_T = TypeVar("_T")
_Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


def connection_settings() -> dict[str, str]:
    """Per-connection settings: durability is ours to decide, never the server default's."""
    return {
        "synchronous_commit": "on",
        "application_name": f"hallctl pid {os.getpid()} on {socket.gethostname()}"[:63],
    }


def pg_fault(exc: BaseException) -> StoreFault:
    """Classify a PostgreSQL or connection error for health, metrics and the console."""
    if isinstance(exc, asyncpg.DiskFullError):
        return StoreFault.DISK_FULL
    if isinstance(exc, asyncpg.ReadOnlySQLTransactionError):
        return StoreFault.READ_ONLY
    if isinstance(exc, asyncpg.PostgresError) and str(exc.sqlstate).startswith("58"):
        return StoreFault.IO_ERROR  # class 58: system error (I/O error on the server)
    if isinstance(
        exc,
        OSError
        | TimeoutError
        | asyncpg.PostgresConnectionError
        | asyncpg.InterfaceError
        | asyncpg.OperatorInterventionError,
    ):
        return StoreFault.UNREACHABLE
    return StoreFault.OTHER


def describe_dsn(dsn: str) -> str:
    """The DSN without its password, for messages and logs."""
    scheme, sep, rest = dsn.partition("://")
    if not sep or "@" not in rest:
        return dsn
    userinfo, _, where = rest.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}@{where}"


async def connect(dsn: str) -> asyncpg.Connection:
    """One connection with our settings; a failure is a ``StoreError`` naming the server."""
    try:
        return await asyncpg.connect(
            dsn, timeout=CONNECT_TIMEOUT_S, server_settings=connection_settings()
        )
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        raise StoreError(
            f"cannot connect to PostgreSQL event store {describe_dsn(dsn)}: {exc}",
            fault=pg_fault(exc),
        ) from exc


async def upgrade_database(dsn: str) -> list[int]:
    """Apply the missing schema migrations (``hallctl db upgrade``); return those applied."""
    conn = await connect(dsn)
    try:
        return await pg_schema.upgrade(conn)
    except asyncpg.PostgresError as exc:
        raise StoreError(f"{describe_dsn(dsn)}: schema upgrade failed: {exc}") from exc
    finally:
        await conn.close()


class Fenced(StoreError):
    """An append for a hall whose lease is now held with another token: this writer lost the
    hall (it was paused or cut off and another process took over) and must step down."""

    def __init__(self, message: str) -> None:
        super().__init__(message, fault=StoreFault.FENCED)


class PostgresStore:
    """``EventStore`` on PostgreSQL; build it with ``await PostgresStore.open(dsn)``."""

    def __init__(
        self, dsn: str, writer: asyncpg.Connection, pool: asyncpg.Pool, read_chunk: int
    ) -> None:
        # Private: ``open`` makes the connections and checks the schema.
        self.dsn = dsn
        self.where = describe_dsn(dsn)
        self._writer = writer
        self._pool = pool
        self._read_chunk = read_chunk
        self._write_lock = asyncio.Lock()
        self._last_seqs: dict[str, int] = {}  # halls appended to since open; under the lock
        self._fences: dict[str, int] = {}  # hall -> the lease token our appends must carry
        self._closed = False
        self.commit_count = 0
        """Append transactions committed since open (for tests and benchmarks of batching)."""

    @classmethod
    async def open(
        cls, dsn: str, *, read_chunk: int = DEFAULT_READ_CHUNK, migrate: bool = True
    ) -> PostgresStore:
        """Connect; apply missing migrations (``migrate``) or refuse a database not at
        this hallctl's schema version. Raises ``StoreError`` naming the server."""
        if read_chunk < 1:
            raise ValueError(f"read_chunk must be positive, got {read_chunk}")
        if not isinstance(dsn, str) or not dsn.strip():
            raise ValueError("a PostgreSQL store needs a DSN, e.g. postgresql://hallctl@db/hallctl")
        writer, pool = await cls._connect(dsn, migrate=migrate)
        return cls(dsn, writer, pool, read_chunk)

    @staticmethod
    async def _connect(dsn: str, *, migrate: bool) -> tuple[asyncpg.Connection, asyncpg.Pool]:
        writer = await connect(dsn)
        try:
            try:
                if migrate:
                    await pg_schema.upgrade(writer)
                else:
                    await pg_schema.check_version(writer)
            except asyncpg.PostgresError as exc:
                raise StoreError(
                    f"{describe_dsn(dsn)} is not a usable hallctl event store: {exc}",
                    fault=pg_fault(exc),
                ) from exc
            try:
                pool = await asyncpg.create_pool(
                    dsn,
                    min_size=1,
                    max_size=POOL_SIZE,
                    timeout=CONNECT_TIMEOUT_S,
                    server_settings=connection_settings(),
                )
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
                raise StoreError(
                    f"cannot connect to PostgreSQL event store {describe_dsn(dsn)}: {exc}",
                    fault=pg_fault(exc),
                ) from exc
        except BaseException:
            await _close_quietly(writer)
            raise
        return writer, pool

    def set_fence(self, hall_id: str, token: int) -> None:
        """From now on, appends to ``hall_id`` commit only while ``hallctl.hall_leases`` holds
        the hall with ``token`` (checked in the append's own transaction); else ``Fenced``."""
        check_hall_id(hall_id)
        if not isinstance(token, int) or isinstance(token, bool) or token < 1:
            raise ValueError(f"a fencing token is a positive integer, got {token!r}")
        self._fences[hall_id] = token

    def clear_fence(self, hall_id: str) -> None:
        """Appends to ``hall_id`` are no longer checked against a lease."""
        self._fences.pop(hall_id, None)

    async def append(self, hall_id: str, payloads: Sequence[bytes]) -> list[int]:
        """Durably append ``payloads`` to one hall in one transaction."""
        (seqs,) = await self.append_many([(hall_id, payloads)])
        return seqs

    async def append_many(
        self,
        batches: Sequence[tuple[str, Sequence[bytes]]],
        claims: Sequence[KeyClaim | None] = (),
    ) -> list[list[int]]:
        """Append several halls' records in one statement (one round trip, one commit).

        If the awaiting task is cancelled the statement still runs to its end: the outcome is
        then unknown to the caller, as after a crash, never half-done."""
        for hall_id, payloads in batches:
            check_append(hall_id, payloads)
        check_claims(batches, claims)
        self._check_open()
        frozen = [(hall_id, tuple(payloads)) for hall_id, payloads in batches]
        work = asyncio.ensure_future(self._append_locked(frozen, tuple(claims)))
        work.add_done_callback(_retrieve)
        return await asyncio.shield(work)

    async def _append_locked(
        self, batches: list[tuple[str, tuple[bytes, ...]]], claims: tuple[KeyClaim | None, ...]
    ) -> list[list[int]]:
        async with self._write_lock:
            self._check_open()
            halls = {hall_id for hall_id, payloads in batches if payloads}
            try:
                await self._load_last_seqs(halls)
                assigned, rows, keys = self._number(batches, claims)
                if not rows[0] and not keys[0]:
                    return assigned
                fenced = sorted({h for h, _ in batches if h in self._fences})
                tokens = [self._fences[h] for h in fenced]
                await self._writer.execute(_APPEND, *rows, *keys, fenced, tokens)
            except BaseException as exc:
                for hall_id in halls:  # the outcome may be unknown: reload on the next append
                    self._last_seqs.pop(hall_id, None)
                if getattr(exc, "sqlstate", None) == pg_schema.FENCED_SQLSTATE:
                    raise Fenced(f"{self.where}: {exc}; nothing of this batch was written") from exc
                if isinstance(exc, asyncpg.UniqueViolationError):
                    raise StoreError(
                        f"{self.where}: seq conflict ({exc}); is another process writing this log?"
                    ) from exc
                if self._writer.is_closed() and not isinstance(exc, StoreError):
                    # the server or the network dropped us, whatever the client made of it
                    raise StoreError(
                        f"{self.where}: connection lost: {exc}", fault=StoreFault.UNREACHABLE
                    ) from exc
                raise self._error(exc) from exc
            for hall_id, seqs in zip(rows[0], rows[1], strict=True):
                self._last_seqs[hall_id] = seqs  # rows are in seq order per hall
            self.commit_count += 1
            return assigned

    async def _load_last_seqs(self, halls: set[str]) -> None:
        missing = [hall_id for hall_id in halls if hall_id not in self._last_seqs]
        if not missing:
            return
        known = {row[0]: int(row[1]) for row in await self._writer.fetch(_LAST_SEQS, missing)}
        for hall_id in missing:
            self._last_seqs[hall_id] = known.get(hall_id, 0)

    def _number(
        self, batches: list[tuple[str, tuple[bytes, ...]]], claims: tuple[KeyClaim | None, ...]
    ) -> tuple[list[list[int]], tuple[list[Any], ...], tuple[list[Any], ...]]:
        """Seq numbers per batch, the records as column arrays, the keys as column arrays
        (a key claimed twice in one batch: the last claim wins, as in sequential writes)."""
        last = dict(self._last_seqs)
        halls: list[str] = []
        seqs: list[int] = []
        payloads: list[bytes] = []
        assigned: list[list[int]] = []
        for hall_id, batch in batches:
            first = last.get(hall_id, 0) + 1
            numbers = list(range(first, first + len(batch)))
            if numbers:
                last[hall_id] = numbers[-1]
            halls.extend([hall_id] * len(batch))
            seqs.extend(numbers)
            payloads.extend(batch)
            assigned.append(numbers)
        keyed: dict[tuple[str, str, str], tuple[str, int, int]] = {}
        for claim, numbers in zip(claims, assigned, strict=False):
            if claim is not None:
                where = (claim.hall, claim.principal, claim.key)
                keyed.pop(where, None)
                keyed[where] = (claim.fingerprint, numbers[0] if numbers else 0, claim.at_ms)
        keys: tuple[list[Any], ...] = ([], [], [], [], [], [])
        for (hall_id, principal, key), (fingerprint, seq, at_ms) in keyed.items():
            for column, value in zip(
                keys, (hall_id, principal, key, fingerprint, seq, at_ms), strict=True
            ):
                column.append(value)
        return assigned, (halls, seqs, payloads), keys

    async def find_claim(self, hall_id: str, principal: str, key: str) -> ClaimedKey | None:
        """The recorded ``Idempotency-Key`` (a primary-key lookup)."""
        check_hall_id(hall_id)
        row = await self._fetchrow(_FIND_CLAIM, hall_id, principal, key)
        return None if row is None else ClaimedKey(fingerprint=row[0], seq=row[1], at_ms=row[2])

    async def prune_claims(self, before_ms: int) -> int:
        """Delete keys recorded before ``before_ms``; return how many."""
        status = await self._run(
            lambda c: c.execute("DELETE FROM hallctl.idempotency_keys WHERE at_ms < $1", before_ms)
        )
        return int(status.rsplit(" ", 1)[-1])

    async def reopen(self) -> None:
        """Drop the connections and the seq cache and connect again (after a failed write)."""
        self._check_open()
        async with self._write_lock:
            await _close_quietly(self._writer)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pool.close(), CONNECT_TIMEOUT_S)
            self._pool.terminate()
            self._last_seqs.clear()
            self._writer, self._pool = await self._connect(self.dsn, migrate=False)

    async def probe(self) -> None:
        """One real durable write beside the log: succeeds only when the store is writable."""
        await self.put_value(_PROBE_KEY, str(asyncio.get_running_loop().time()).encode())

    async def read(self, hall_id: str, after_seq: int = 0) -> AsyncIterator[list[StoredRecord]]:
        """Yield the hall's records with seq > after_seq in chunks (keyset paging: each chunk
        is its own short query, so a reader that stops early holds nothing open).

        The next chunk is fetched while the caller works on this one: the server runs in
        another process, so the two overlap (unlike SQLite's thread, which needs the GIL)."""
        check_hall_id(hall_id)
        if after_seq < 0:
            raise ValueError(f"after_seq must be >= 0, got {after_seq}")
        ahead = asyncio.ensure_future(self._fetch_chunk(hall_id, after_seq))
        try:
            while True:
                chunk = await ahead
                if not chunk:
                    return
                if len(chunk) == self._read_chunk:
                    ahead = asyncio.ensure_future(self._fetch_chunk(hall_id, chunk[-1].seq))
                yield chunk
                if len(chunk) < self._read_chunk:
                    return
        finally:
            if not ahead.done():
                ahead.cancel()
                with contextlib.suppress(asyncio.CancelledError, StoreError):
                    await ahead

    async def _fetch_chunk(self, hall_id: str, after: int) -> list[StoredRecord]:
        rows = await self._fetch(_READ_CHUNK, hall_id, after, self._read_chunk)
        return [StoredRecord(seq, payload) for seq, payload in rows]

    async def last_seq(self, hall_id: str) -> int:
        """The hall's highest committed seq, 0 when empty (from the table: true for any
        writer)."""
        check_hall_id(hall_id)
        return int(await self._run(lambda c: c.fetchval(_LAST_SEQ, hall_id)))

    async def save_snapshot(self, hall_id: str, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` unless the hall already has a newer one (newest seq wins).

        One transaction on a pool connection, in parts of ``SNAPSHOT_PART_BYTES``: appends go
        on the writer connection meanwhile and never wait for it."""
        pieces = snapshot.pieces()
        check_append(hall_id, pieces)
        last = await self.last_seq(hall_id)
        if not 0 <= snapshot.seq <= last:
            raise ValueError(
                f"snapshot seq {snapshot.seq} of hall {hall_id!r} is outside its log (0..{last})"
            )
        parts = list(_parts(pieces))

        async def save(conn: _Conn) -> None:
            async with conn.transaction():
                if await conn.fetchval(_CLAIM_SNAPSHOT, hall_id, snapshot.seq) is None:
                    return  # a newer snapshot is current (its row is now locked by us: kept)
                await conn.execute("DELETE FROM hallctl.snapshot_parts WHERE hall = $1", hall_id)
                await conn.executemany(
                    "INSERT INTO hallctl.snapshot_parts (hall, part, payload) VALUES ($1, $2, $3)",
                    [(hall_id, number, part) for number, part in enumerate(parts)],
                )

        await self._run(save)

    async def load_snapshot(self, hall_id: str) -> Snapshot | None:
        """The hall's newest snapshot, if any (its row and parts read in one snapshot)."""
        check_hall_id(hall_id)

        async def load(conn: _Conn) -> Snapshot | None:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                seq = await conn.fetchval(
                    "SELECT seq FROM hallctl.snapshots WHERE hall = $1", hall_id
                )
                if seq is None:
                    return None
                rows = await conn.fetch(
                    "SELECT payload FROM hallctl.snapshot_parts WHERE hall = $1 ORDER BY part",
                    hall_id,
                )
            return Snapshot(seq=seq, payload=b"".join(row[0] for row in rows))

        return await self._run(load)

    async def halls(self) -> list[str]:
        """Every hall with records, sorted."""
        rows = await self._run(lambda c: c.fetch(_HALLS))
        return [row[0] for row in rows]

    async def get_value(self, key: str) -> bytes | None:
        """A value kept beside the log (``hallctl.kv``), None when never set."""
        check_key(key)
        row = await self._fetchrow("SELECT value FROM hallctl.kv WHERE key = $1", key)
        return None if row is None else bytes(row[0])

    async def put_value(self, key: str, value: bytes) -> None:
        """Set ``key`` durably (its own small transaction)."""
        check_key(key, value)
        await self._run(lambda c: c.execute(_PUT_VALUE, key, value))

    async def close(self) -> None:
        """Wait for the append in flight, close the connections; later calls raise."""
        if self._closed:
            return
        self._closed = True
        async with self._write_lock:  # the append in flight (if any) has answered
            await asyncio.gather(_close_quietly(self._writer), self._close_pool())

    async def _close_pool(self) -> None:
        try:
            await asyncio.wait_for(self._pool.close(), CONNECT_TIMEOUT_S)
        except (TimeoutError, asyncpg.InterfaceError, OSError):
            self._pool.terminate()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"event store {self.where} is closed")

    def _error(self, exc: BaseException) -> BaseException:
        if isinstance(exc, StoreError | asyncio.CancelledError | ValueError | TypeError):
            return exc
        return StoreError(f"{self.where}: {exc}", fault=pg_fault(exc))

    async def _run(self, work: Callable[[_Conn], Awaitable[_T]]) -> _T:
        """Run ``work`` on a pool connection, errors as ``StoreError``."""
        self._check_open()
        try:
            async with self._pool.acquire(timeout=CONNECT_TIMEOUT_S) as conn:
                return await work(conn)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise self._error(exc) from exc

    async def _fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        return await self._run(lambda c: c.fetch(query, *args))

    async def _fetchrow(self, query: str, *args: object) -> asyncpg.Record | None:
        return await self._run(lambda c: c.fetchrow(query, *args))


def _parts(pieces: Sequence[bytes]) -> list[bytes]:
    """The pieces cut to at most ``SNAPSHOT_PART_BYTES`` each (at least one part)."""
    parts: list[bytes] = []
    for piece in pieces:
        view = memoryview(piece)
        parts.extend(
            bytes(view[start : start + SNAPSHOT_PART_BYTES])
            for start in range(0, len(piece), SNAPSHOT_PART_BYTES)
        )
    return parts or [b""]


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark a shielded append's error as seen (its caller may have been cancelled)."""
    if not task.cancelled():
        task.exception()


async def _close_quietly(conn: asyncpg.Connection) -> None:
    try:
        await asyncio.wait_for(conn.close(), CONNECT_TIMEOUT_S)
    except Exception:  # a broken connection: drop it without the goodbye
        conn.terminate()
