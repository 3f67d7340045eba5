"""The durable event log's storage interface.

The log is the source of truth: a hall's state is a fold over its events. A store keeps, per
hall, an append-only sequence of *records*; each record is one commit's worth of encoded
events (opaque bytes to the store), numbered by a strictly increasing sequence. Snapshots are a
cache of the fold at a sequence number; losing them loses nothing.

Stores are asynchronous: the SQLite store runs its blocking calls in one dedicated thread (the
event loop never waits on an fsync), the PostgreSQL store uses asyncpg. Group commit sits above
the store (``controller.store.group_commit``): it gathers the appends that arrive while a commit
is in flight and hands them to ``append_many`` as one transaction.
"""

from __future__ import annotations

import enum
import errno
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import msgspec


class StoredRecord(msgspec.Struct, frozen=True, gc=False):
    """One committed record of a hall's log.

    A msgspec Struct rather than a frozen dataclass because replay builds one per record: a
    frozen dataclass costs ~0.65 s per million, this ~0.14 s (benchmarks/bench_store.py).
    """

    seq: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The fold of a hall's log up to and including ``seq``, encoded by the caller.

    A large snapshot may come as ``parts`` (the payload is their concatenation), so it is never
    copied into one buffer on the event loop; a store may write it part by part, letting appends
    through in between. ``load_snapshot`` always returns it whole, in ``payload``."""

    seq: int
    payload: bytes = b""
    parts: tuple[bytes, ...] = ()

    def pieces(self) -> tuple[bytes, ...]:
        """The payload as one or more pieces, in order."""
        return self.parts or (self.payload,)


class StoreFault(enum.Enum):
    """Why the store cannot write: what ``/healthz``, metrics and the console report."""

    DISK_FULL = "disk_full"
    READ_ONLY = "read_only"
    IO_ERROR = "io_error"
    UNREACHABLE = "unreachable"
    FENCED = "fenced"
    OTHER = "store_error"

    @property
    def label(self) -> str:
        """The fault in the words of the hall's staff."""
        return _FAULT_LABELS[self]


_FAULT_LABELS: dict[StoreFault, str] = {
    StoreFault.DISK_FULL: "磁盘已满",
    StoreFault.READ_ONLY: "存储只读",
    StoreFault.IO_ERROR: "磁盘读写错误",
    StoreFault.UNREACHABLE: "数据库无法连接",
    StoreFault.FENCED: "大厅已由其他进程接管",
    StoreFault.OTHER: "存储故障",
}

_ERRNO_FAULTS: dict[int, StoreFault] = {
    errno.ENOSPC: StoreFault.DISK_FULL,
    errno.EDQUOT: StoreFault.DISK_FULL,
    errno.EROFS: StoreFault.READ_ONLY,
    errno.EACCES: StoreFault.READ_ONLY,
    errno.EPERM: StoreFault.READ_ONLY,
    errno.EIO: StoreFault.IO_ERROR,
}


class StoreError(Exception):
    """The store cannot do what was asked (corrupt file, wrong schema version, disk full)."""

    def __init__(self, message: str, *, fault: StoreFault = StoreFault.OTHER) -> None:
        super().__init__(message)
        self.fault = fault


def fault_of(exc: BaseException | None) -> StoreFault:
    """The first classified fault along ``exc``'s causes (a store error wraps the OS one)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, StoreError) and exc.fault is not StoreFault.OTHER:
            return exc.fault
        if isinstance(exc, OSError) and exc.errno in _ERRNO_FAULTS:
            return _ERRNO_FAULTS[exc.errno]
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return StoreFault.OTHER


class KeyClaim(msgspec.Struct, frozen=True):
    """An ``Idempotency-Key`` recorded in the same transaction as its command's record.

    Scoped by hall and principal (the authenticated user, "" without authentication);
    ``fingerprint`` identifies the request body so a reuse with another body is refused.
    """

    hall: str
    principal: str
    key: str
    fingerprint: str
    at_ms: int


class ClaimedKey(msgspec.Struct, frozen=True):
    """A recorded key: the record its command wrote (``seq`` 0: the command logged nothing)."""

    fingerprint: str
    seq: int
    at_ms: int


class EventStore(Protocol):
    """Append-only per-hall record log with snapshots."""

    async def append(self, hall_id: str, payloads: Sequence[bytes]) -> list[int]:
        """Durably append records in order, in one transaction; return their seq numbers.

        When this returns, the records survive a crash (power loss included, as far as the
        backing store's fsync promises).
        """
        ...

    async def append_many(
        self,
        batches: Sequence[tuple[str, Sequence[bytes]]],
        claims: Sequence[KeyClaim | None] = (),
    ) -> list[list[int]]:
        """Append several halls' records in a single transaction (group commit).

        ``claims``, when given, is parallel to ``batches``: each key is recorded in the same
        transaction, pointing at its batch's first seq (0 for an empty batch).
        """
        ...

    async def find_claim(self, hall_id: str, principal: str, key: str) -> ClaimedKey | None:
        """The recorded ``Idempotency-Key``, if any (expired ones too, until pruned)."""
        ...

    async def prune_claims(self, before_ms: int) -> int:
        """Forget keys recorded before ``before_ms``; return how many."""
        ...

    def read(self, hall_id: str, after_seq: int = 0) -> AsyncIterator[list[StoredRecord]]:
        """Yield the hall's records with seq > after_seq in order, in chunks."""
        ...

    async def last_seq(self, hall_id: str) -> int:
        """The hall's highest committed seq, 0 when empty."""
        ...

    async def save_snapshot(self, hall_id: str, snapshot: Snapshot) -> None:
        """Keep a snapshot (replacing older ones for the hall)."""
        ...

    async def load_snapshot(self, hall_id: str) -> Snapshot | None:
        """The newest snapshot of the hall, if any."""
        ...

    async def halls(self) -> list[str]:
        """Every hall with records."""
        ...

    async def get_value(self, key: str) -> bytes | None:
        """A small durable value beside the log (outbox cursors), None when never set."""
        ...

    async def put_value(self, key: str, value: bytes) -> None:
        """Durably set ``key`` (one small transaction; callers batch their updates)."""
        ...

    async def close(self) -> None:
        """Release files and connections."""
        ...


def check_hall_id(hall_id: str) -> None:
    """Reject a hall id no store would file records under."""
    if not isinstance(hall_id, str) or not hall_id:
        raise ValueError(f"hall id must be a non-empty string, got {hall_id!r}")


def check_key(key: str, value: bytes | None = None) -> None:
    """Reject a key-value call no store could honour."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"key must be a non-empty string, got {key!r}")
    if value is not None and not isinstance(value, bytes):
        raise TypeError(f"value must be bytes, got {type(value).__name__}")


def check_claims(batches: Sequence[object], claims: Sequence[KeyClaim | None]) -> None:
    """Reject claims that do not line up with their batches."""
    if claims and len(claims) != len(batches):
        raise ValueError(f"{len(claims)} claims for {len(batches)} batches")
    for claim in claims:
        if claim is not None and not isinstance(claim, KeyClaim):
            raise TypeError(f"claim must be a KeyClaim, got {type(claim).__name__}")


def check_append(hall_id: str, payloads: Sequence[bytes]) -> None:
    """Reject a malformed append before it can join (and spoil) a shared transaction."""
    check_hall_id(hall_id)
    if isinstance(payloads, (bytes, bytearray, memoryview, str)):
        raise TypeError("payloads must be a sequence of bytes objects, not a single bytes/str")
    for payload in payloads:
        if not isinstance(payload, bytes):
            raise TypeError(f"record payload must be bytes, got {type(payload).__name__}")
