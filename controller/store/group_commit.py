"""Group commit: many concurrent appends, one transaction and one fsync per batch.

Theory of operation. ``append`` checks its input, takes a slot in the bounded pending buffer,
queues an entry with a future and waits on it. One task owned by the committer loops: take
everything queued (up to ``max_batch`` entries), hand it to ``store.append_many`` as one
transaction, then resolve the entries' futures in queue order with their seqs. Appends that
arrive while a commit is in flight wait in the queue and form the next batch, so the batch size
grows with load by itself; there is no timer and no added latency when idle.

Policies (docs/decisions/0001-event-store.md):

* Backpressure: at most ``max_pending`` appends are accepted but not yet committed. A further
  ``append`` waits for a slot (FIFO); nothing is dropped and nothing errors because of load.
* Failure is fail-stop until resumed: when a commit raises, that batch's callers get
  ``CommitFailed``, every queued append gets ``CommitterClosed``, and so does every later
  append; ``on_failure`` is told once. After a failed commit the in-memory state built on the
  log can no longer be trusted (the failed batch may even be on disk, e.g. after an fsync
  error), so the owner rebuilds from the log and then calls ``resume`` (the daemon's
  ``StoreSupervisor`` does, once the store is writable again).
* An accepted append is not withdrawn if its caller is cancelled: the record is still committed
  and the caller simply does not learn its seq, exactly as when the process dies after commit.
* ``aclose`` stops intake and flushes everything accepted. If ``aclose`` itself is cancelled it
  stops waiting at once: the committer task is cancelled and awaited, entries not yet committed
  get ``CommitterClosed`` (for the one in flight: outcome unknown), and the cancellation
  propagates. No task outlives the committer.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Final, Self

from controller.store.base import EventStore, KeyClaim, StoreError, check_append

DEFAULT_MAX_PENDING: Final = 10_000
DEFAULT_MAX_BATCH: Final = 2_000


class CommitFailed(StoreError):
    """The transaction carrying this append failed; ``__cause__`` is the store's error."""


class CommitterClosed(StoreError):
    """The committer is closed (or failed earlier); this append was not committed by it."""


@dataclass(slots=True)
class _Entry:
    hall_id: str
    payloads: tuple[bytes, ...]
    future: asyncio.Future[list[int]]
    claim: KeyClaim | None = None


class GroupCommitter:
    """Batches concurrent appends to an ``EventStore`` into shared transactions.

    Use as ``async with GroupCommitter(store) as committer: ...`` (or ``start``/``aclose``).
    The store is not closed by the committer.
    """

    def __init__(
        self,
        store: EventStore,
        *,
        max_pending: int = DEFAULT_MAX_PENDING,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        if max_pending < 1 or max_batch < 1:
            raise ValueError(
                f"max_pending and max_batch must be positive: {max_pending=} {max_batch=}"
            )
        self._store = store
        self._max_batch = max_batch
        self._slots = asyncio.Semaphore(max_pending)
        self._queue: deque[_Entry] = deque()
        self._in_flight: list[_Entry] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._failure: BaseException | None = None
        self.commits = 0
        """Successful transactions made by this committer."""
        self.records_committed = 0
        """Records in those transactions (``records_committed / commits`` = mean batch size)."""
        self.observe_commit: Callable[[float, int], None] | None = None
        """Told (seconds, records) after each successful transaction (the metrics)."""
        self.on_failure: Callable[[BaseException], None] | None = None
        """Told the store's error when a commit fails (the daemon's store supervisor)."""

    @property
    def failure(self) -> BaseException | None:
        """The store error that stopped the committer, if one did."""
        return self._failure

    @property
    def pending(self) -> int:
        """Appends accepted but not yet resolved (queued plus in flight)."""
        return len(self._queue) + len(self._in_flight)

    def start(self) -> None:
        """Start the commit task on the running loop."""
        if self._task is not None:
            raise RuntimeError("GroupCommitter already started")
        self._task = asyncio.get_running_loop().create_task(
            self._commit_loop(), name="hallctl-group-commit"
        )

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def append(self, hall_id: str, payload: bytes) -> int:
        """Durably append one record; return its seq once it is committed."""
        (seq,) = await self.append_records(hall_id, (payload,))
        return seq

    async def append_records(
        self, hall_id: str, payloads: Sequence[bytes], *, claim: KeyClaim | None = None
    ) -> list[int]:
        """Durably append records to one hall, atomically and with consecutive seqs.

        ``claim``: an idempotency key recorded in the same transaction (``payloads`` may then
        be empty: the key alone is recorded, with seq 0)."""
        check_append(hall_id, payloads)
        if claim is not None and not isinstance(claim, KeyClaim):
            raise TypeError(f"claim must be a KeyClaim, got {type(claim).__name__}")
        self._check_accepting()
        await self._slots.acquire()  # backpressure: wait while max_pending appends are queued
        try:
            self._check_accepting()
        except StoreError:
            self._slots.release()
            raise
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Entry(hall_id, tuple(payloads), future, claim))
        self._wakeup.set()
        return await future

    async def aclose(self) -> None:
        """Stop accepting appends and wait until everything accepted is committed."""
        self._closing = True
        self._wakeup.set()
        task = self._task
        if task is None or task.done():
            return
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is None or current.cancelling() == 0:
                return  # the commit task was cancelled by someone else; it has cleaned up
            task.cancel()
            await asyncio.wait([task])
            raise

    def resume(self) -> None:
        """Accept appends again after a failure; the owner has rebuilt its state from the log.

        Only once the commit task has ended (every entry of the failed run is resolved)."""
        if self._failure is None:
            return
        if self._task is None or not self._task.done():
            raise RuntimeError("resume() before the failed commit task has ended")
        if self._closing:
            raise CommitterClosed("committer is closed")
        self._failure = None
        self._task = None
        self.start()

    def _check_accepting(self) -> None:
        if self._task is None:
            raise RuntimeError("GroupCommitter not started (use 'async with' or start())")
        if self._failure is not None:
            raise CommitterClosed(f"committer stopped by an earlier failure: {self._failure}")
        if self._closing:
            raise CommitterClosed("committer is closed")

    async def _commit_loop(self) -> None:
        try:
            while True:
                while not self._queue:
                    if self._closing:
                        return
                    self._wakeup.clear()
                    await self._wakeup.wait()
                batch = [
                    self._queue.popleft() for _ in range(min(len(self._queue), self._max_batch))
                ]
                self._in_flight = batch
                await self._commit(batch)
                self._in_flight = []
                if self._failure is not None:
                    return
        finally:
            self._fail(self._in_flight, "committer stopped during this commit; outcome unknown")
            self._fail(self._queue, "committer stopped before this append was committed")
            self._in_flight = []
            self._queue.clear()

    async def _commit(self, batch: list[_Entry]) -> None:
        started = time.perf_counter()
        try:
            batches = [(entry.hall_id, entry.payloads) for entry in batch]
            claims = [entry.claim for entry in batch]
            if any(claim is not None for claim in claims):
                seqs = await self._store.append_many(batches, claims)
            else:
                seqs = await self._store.append_many(batches)
            if len(seqs) != len(batch):
                raise StoreError(f"store returned {len(seqs)} seq lists for {len(batch)} appends")
        except Exception as exc:
            self._failure = exc
            if self.on_failure is not None:
                self.on_failure(exc)
            for entry in batch:
                if not entry.future.done():
                    failed = CommitFailed(f"commit failed: {exc}")
                    failed.__cause__ = exc
                    entry.future.set_exception(failed)
                self._slots.release()
            return
        self.commits += 1
        if self.observe_commit is not None:
            self.observe_commit(time.perf_counter() - started, len(batch))
        for entry, entry_seqs in zip(batch, seqs, strict=False):
            self.records_committed += len(entry_seqs)
            if not entry.future.done():  # done = its caller was cancelled and stopped waiting
                entry.future.set_result(entry_seqs)
            self._slots.release()

    def _fail(self, entries: Sequence[_Entry] | deque[_Entry], reason: str) -> None:
        for entry in entries:
            if not entry.future.done():
                closed = CommitterClosed(reason)
                closed.__cause__ = self._failure
                entry.future.set_exception(closed)
            self._slots.release()
