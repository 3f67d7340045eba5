"""An in-memory ``EventStore`` for engine tests and the simulator.

NOT DURABLE: everything is gone when the process ends, and "committed" only means "in this
dict". It keeps the same contract as the SQLite store otherwise (seq numbering, all-or-nothing
``append_many``, newest snapshot wins, typed errors on bad input), so code tested against it
behaves the same on a real store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Final

from controller.store.base import (
    ClaimedKey,
    KeyClaim,
    Snapshot,
    StoredRecord,
    StoreError,
    check_append,
    check_claims,
    check_hall_id,
    check_key,
)

DEFAULT_READ_CHUNK: Final = 10_000


class MemoryStore:
    """``EventStore`` kept in process memory; ``durable`` is False and means it."""

    durable: Final = False

    def __init__(self, *, read_chunk: int = DEFAULT_READ_CHUNK) -> None:
        if read_chunk < 1:
            raise ValueError(f"read_chunk must be positive, got {read_chunk}")
        self._records: dict[str, list[StoredRecord]] = {}
        self._snapshots: dict[str, Snapshot] = {}
        self._values: dict[str, bytes] = {}
        self._claims: dict[tuple[str, str, str], ClaimedKey] = {}
        self._read_chunk = read_chunk
        self._closed = False
        self.commit_count = 0
        """Append transactions committed (as ``SqliteStore.commit_count``)."""

    async def append(self, hall_id: str, payloads: Sequence[bytes]) -> list[int]:
        """Append ``payloads`` to one hall at once."""
        (seqs,) = await self.append_many([(hall_id, payloads)])
        return seqs

    async def append_many(
        self,
        batches: Sequence[tuple[str, Sequence[bytes]]],
        claims: Sequence[KeyClaim | None] = (),
    ) -> list[list[int]]:
        """Append several halls' records at once: all or nothing, like a transaction."""
        self._check_open()
        for hall_id, payloads in batches:
            check_append(hall_id, payloads)
        check_claims(batches, claims)
        frozen = [(hall_id, tuple(payloads)) for hall_id, payloads in batches]
        await asyncio.sleep(0)  # a real store's commit is a suspension point; so is ours
        self._check_open()
        assigned: list[list[int]] = []
        for hall_id, payloads in frozen:
            log = self._records.setdefault(hall_id, [])
            first = len(log) + 1
            log.extend(StoredRecord(first + i, payload) for i, payload in enumerate(payloads))
            assigned.append(list(range(first, first + len(payloads))))
        if any(payloads for _, payloads in frozen):
            self.commit_count += 1
        for claim, seqs in zip(claims, assigned, strict=False):
            if claim is not None:
                where = (claim.hall, claim.principal, claim.key)
                first = seqs[0] if seqs else 0
                self._claims[where] = ClaimedKey(claim.fingerprint, first, claim.at_ms)
        return assigned

    async def find_claim(self, hall_id: str, principal: str, key: str) -> ClaimedKey | None:
        check_hall_id(hall_id)
        self._check_open()
        return self._claims.get((hall_id, principal, key))

    async def prune_claims(self, before_ms: int) -> int:
        self._check_open()
        old = [where for where, claim in self._claims.items() if claim.at_ms < before_ms]
        for where in old:
            del self._claims[where]
        return len(old)

    async def read(self, hall_id: str, after_seq: int = 0) -> AsyncIterator[list[StoredRecord]]:
        """Yield the hall's records with seq > after_seq in chunks."""
        check_hall_id(hall_id)
        if after_seq < 0:
            raise ValueError(f"after_seq must be >= 0, got {after_seq}")
        self._check_open()
        position = after_seq  # seqs are 1, 2, 3…, so seq n sits at index n - 1
        while True:
            chunk = self._records.get(hall_id, [])[position : position + self._read_chunk]
            if not chunk:
                return
            yield chunk
            position += len(chunk)

    async def last_seq(self, hall_id: str) -> int:
        """The hall's highest seq, 0 when empty."""
        check_hall_id(hall_id)
        self._check_open()
        return len(self._records.get(hall_id, ()))

    async def save_snapshot(self, hall_id: str, snapshot: Snapshot) -> None:
        """Keep ``snapshot`` unless the hall already has a newer one (newest seq wins)."""
        pieces = snapshot.pieces()
        check_append(hall_id, pieces)
        self._check_open()
        if snapshot.parts:
            snapshot = Snapshot(seq=snapshot.seq, payload=b"".join(pieces))
        last = len(self._records.get(hall_id, ()))
        if not 0 <= snapshot.seq <= last:
            raise ValueError(
                f"snapshot seq {snapshot.seq} of hall {hall_id!r} is outside its log (0..{last})"
            )
        current = self._snapshots.get(hall_id)
        if current is None or snapshot.seq >= current.seq:
            self._snapshots[hall_id] = snapshot

    async def load_snapshot(self, hall_id: str) -> Snapshot | None:
        """The hall's newest snapshot, if any."""
        check_hall_id(hall_id)
        self._check_open()
        return self._snapshots.get(hall_id)

    async def halls(self) -> list[str]:
        """Every hall with records, sorted."""
        self._check_open()
        return sorted(hall for hall, log in self._records.items() if log)

    async def get_value(self, key: str) -> bytes | None:
        check_key(key)
        self._check_open()
        return self._values.get(key)

    async def put_value(self, key: str, value: bytes) -> None:
        check_key(key, value)
        self._check_open()
        await asyncio.sleep(0)
        self._values[key] = value

    async def close(self) -> None:
        """Refuse further calls; the data is dropped with the object."""
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("memory event store is closed")
