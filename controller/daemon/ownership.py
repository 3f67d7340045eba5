"""One writer per hall: an exclusive lock on the log, so a second daemon cannot start on it.

On SQLite the lock is an ``flock`` of the file; on PostgreSQL, an advisory lock per hall
(``acquire_stream_locks``).

The engine keeps a hall's state in memory and decides without locks because exactly one
process owns the hall. A second daemon pointed at the same log (a mistyped unit file, a
forgotten test instance) would decide on its own copy and the two would fight in the log; this
lock makes it refuse to start instead, naming the process that owns the hall. The lock is an
``flock`` on ``<db>.lock``: the kernel drops it when the owner dies, even by ``kill -9``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from pathlib import Path

import asyncpg

from controller.store.base import StoreError, fault_of
from controller.store.postgres import connect, describe_dsn

log = logging.getLogger("hallctl.daemon")


class HallOwned(Exception):
    """Another process owns this log."""


class LogLock:
    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = -1


def _acquire(db_path: Path) -> LogLock:
    path = db_path.with_name(db_path.name + ".lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:  # a read-only or full file system: say which file, in one line
        raise StoreError(
            f"cannot write event store {db_path}: its lock file {path}: {exc.strerror}",
            fault=fault_of(exc),
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.read(fd, 64).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise HallOwned(f"{db_path} is in use by pid {owner}; one writer per hall") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return LogLock(path, fd)


async def acquire_log_lock(db_path: Path) -> LogLock:
    """Take the lock (in a thread: opening files never blocks the event loop)."""
    return await asyncio.to_thread(_acquire, db_path)


class StreamLocks:
    """Session advisory locks on a PostgreSQL store, one per stream (hall, ``~access``).

    The PostgreSQL counterpart of the ``flock``: held by one connection for the daemon's life,
    dropped by the server when that connection ends (the process died, even by ``kill -9``).
    A lock lost while running (the server restarted, the network cut) is logged; leases with
    a fencing token checked in every append replace these in central mode (issue 12)."""

    def __init__(self, conn: asyncpg.Connection[asyncpg.Record], streams: list[str]) -> None:
        self._conn = conn
        self.streams = streams
        conn.add_termination_listener(self._lost)

    def _lost(self, conn: object) -> None:
        log.error("lost the PostgreSQL session holding the hall locks", extra={
            "halls": ",".join(self.streams)})

    async def release(self) -> None:
        self._conn.remove_termination_listener(self._lost)
        with contextlib.suppress(Exception):
            await self._conn.close()


def stream_lock_key(stream: str) -> str:
    """The text hashed to a stream's advisory lock key."""
    return f"hallctl:stream:{stream}"


async def acquire_stream_locks(dsn: str, streams: list[str]) -> StreamLocks:
    """Lock every stream or none; ``HallOwned`` names the connection holding one."""
    conn = await connect(dsn)
    try:
        for stream in sorted(set(streams)):
            key = await conn.fetchval("SELECT hashtextextended($1, 0)", stream_lock_key(stream))
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
                owner = await conn.fetchval(
                    """SELECT a.application_name FROM pg_locks l
                       JOIN pg_stat_activity a ON a.pid = l.pid
                       WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                         AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid""",
                    (key >> 32) & 0xFFFFFFFF,
                    key & 0xFFFFFFFF,
                )
                raise HallOwned(
                    f"hall {stream!r} in {describe_dsn(dsn)} is in use by "
                    f"{owner or 'another process'}; one writer per hall"
                )
    except BaseException:
        await conn.close()  # drops the locks taken so far
        raise
    return StreamLocks(conn, sorted(set(streams)))
