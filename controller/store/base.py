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


class StoreError(Exception):
    """The store cannot do what was asked (corrupt file, wrong schema version, disk full)."""


class EventStore(Protocol):
    """Append-only per-hall record log with snapshots."""

    async def append(self, hall_id: str, payloads: Sequence[bytes]) -> list[int]:
        """Durably append records in order, in one transaction; return their seq numbers.

        When this returns, the records survive a crash (power loss included, as far as the
        backing store's fsync promises).
        """
        ...

    async def append_many(self, batches: Sequence[tuple[str, Sequence[bytes]]]) -> list[list[int]]:
        """Append several halls' records in a single transaction (group commit)."""
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


def check_append(hall_id: str, payloads: Sequence[bytes]) -> None:
    """Reject a malformed append before it can join (and spoil) a shared transaction."""
    check_hall_id(hall_id)
    if isinstance(payloads, (bytes, bytearray, memoryview, str)):
        raise TypeError("payloads must be a sequence of bytes objects, not a single bytes/str")
    for payload in payloads:
        if not isinstance(payload, bytes):
            raise TypeError(f"record payload must be bytes, got {type(payload).__name__}")
