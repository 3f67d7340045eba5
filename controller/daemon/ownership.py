"""One writer per hall: an exclusive lock on the log, so a second daemon cannot start on it.

The engine keeps a hall's state in memory and decides without locks because exactly one
process owns the hall. A second daemon pointed at the same log (a mistyped unit file, a
forgotten test instance) would decide on its own copy and the two would fight in the log; this
lock makes it refuse to start instead, naming the process that owns the hall. The lock is an
``flock`` on ``<db>.lock``: the kernel drops it when the owner dies, even by ``kill -9``.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path

from controller.store.base import StoreError, fault_of


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
