"""One hall's single writer: engine in memory, events durable before anyone hears of them.

Theory of operation. ``submit`` runs the engine synchronously (microseconds, no lock needed:
one process owns the hall and asyncio runs one coroutine at a time), then awaits the group
commit of the command's events as one log record. Only when the record is durable does it tell
subscribers (device drivers, the console) and return to the caller, so no ticket is printed
and no display changes for an event that a crash could take back.

Later commands may decide on top of events still being committed; that is safe because records
commit in order: a crash keeps a prefix of the log, and nothing outside saw the lost suffix.
If a commit *fails*, memory is ahead of the log and can't be trusted: the runtime stops
accepting commands (``HallUnavailable``) until the daemon's store supervisor has reopened the
store, rebuilt the hall from its log (``rebuild``) and ``resume``d it.

Opening a hall folds its log (from the newest snapshot on) back into state; the first record
of a log, and every record after a configuration change, is a ``HallConfigured`` event holding
the configuration text, so ``hallctl replay --db FILE`` needs nothing but the database.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Final

from controller.config.model import HallConfig
from controller.core import commands as cmd
from controller.core import events as ev
from controller.core.engine import HallEngine
from controller.core.lifecycle import Rejected
from controller.core.ports import Annotation, HallUnavailable, Receipt
from controller.core.state import HallState
from controller.daemon.snapshots import SnapshotWriter, decode_snapshot
from controller.store.base import EventStore, KeyClaim, StoreFault, fault_of
from controller.store.base import Snapshot as StoredSnapshot
from controller.store.group_commit import GroupCommitter

log = logging.getLogger("hallctl.runtime")

Subscriber = Callable[[list[ev.AnyEvent], int], None]
"""Called with a record's events and its seq, after the record is durable, in log order."""

SNAPSHOT_MIN_INTERVAL_S: Final = 60.0


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def unavailable(message: str, fault: StoreFault) -> HallUnavailable:
    """The refusal of a hall whose log cannot be written, in the words of its staff."""
    text = f"大厅暂停受理：事件日志无法写入（{fault.label}），恢复后自动继续"
    return HallUnavailable(message, text, fault.value)


class HallRuntime:
    """Owns one hall's engine and its log; the only writer of that hall."""

    def __init__(
        self,
        engine: HallEngine,
        store: EventStore,
        committer: GroupCommitter,
        *,
        clock: Callable[[], int] = wall_clock_ms,
        config_text: str = "",
        snapshot_interval_s: float = SNAPSHOT_MIN_INTERVAL_S,
    ) -> None:
        self.engine = engine
        self.hall_id = engine.config.hall.id
        self._store = store
        self._committer = committer
        self._clock = clock
        self._subscribers: list[Subscriber] = []
        self._failed: BaseException | None = None
        self._config_text = config_text
        self._events_since_snapshot = 0
        self._decided_seq = engine.state.seq  # seq the last record decided will have
        self._durable = asyncio.Event()  # set whenever the durable seq advances
        self._snapshot: SnapshotWriter | None = None
        self._snapshot_task: asyncio.Task[None] | None = None
        self._last_snapshot_at = 0.0
        self._snapshot_interval_s = snapshot_interval_s
        self.rejected_count = 0
        self.accepted_count = 0

    @property
    def state(self) -> HallState:
        return self.engine.state

    @property
    def store(self) -> EventStore:
        """The hall's log, for read models of what the live state no longer holds."""
        return self._store

    @property
    def failure(self) -> BaseException | None:
        """The log write failure that stopped the hall, until it is resumed."""
        return self._failed

    @classmethod
    async def open(
        cls,
        config: HallConfig,
        store: EventStore,
        committer: GroupCommitter,
        *,
        config_text: str = "",
        clock: Callable[[], int] = wall_clock_ms,
        snapshot_interval_s: float = SNAPSHOT_MIN_INTERVAL_S,
    ) -> HallRuntime:
        """Rebuild the hall from its log and record the configuration if it changed."""
        state = await load_state(config, store)
        runtime = cls(
            HallEngine(config, state),
            store,
            committer,
            clock=clock,
            config_text=config_text,
            snapshot_interval_s=snapshot_interval_s,
        )
        digest = config_digest(config_text)
        if config_text and state.config_digest != digest:
            event = ev.HallConfigured(at=runtime.now(), text=config_text, digest=digest)
            state.apply(event)
            await runtime._commit([event])
        return runtime

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    def now(self) -> int:
        # Never let the log's clock run backwards (an NTP step, a VM pause).
        return max(self._clock(), self.engine.state.clock_ms)

    async def submit(
        self,
        command: cmd.AnyCommand,
        *,
        claim: KeyClaim | None = None,
        annotate: Annotation | None = None,
    ) -> Receipt:
        """Decide, make durable, notify; raises ``Rejected`` (nothing changed) or
        ``HallUnavailable``. ``claim``: an idempotency key, recorded in the same transaction
        as the command's record (alone when the command logs nothing). ``annotate``: see
        ``Annotation`` (not called when the command caused no events)."""
        if self._failed is not None:
            stopped = f"hall {self.hall_id} stopped: {self._failed}"
            raise unavailable(stopped, fault_of(self._failed))
        try:
            events = self.engine.decide(command, self.now())
        except Rejected:
            self.rejected_count += 1
            raise
        if self._snapshot is not None:
            self._snapshot.preserve(events)
        self.engine.state.apply_all(events)
        self.accepted_count += 1
        if not events:
            if claim is not None:
                await self._append([], claim)
            return Receipt(events, 0)
        if annotate is not None:
            note = annotate(events, self.now())
            self.engine.state.apply(note)
            events = [*events, note]
        return Receipt(events, await self._commit(events, claim))

    async def _append(self, payloads: list[bytes], claim: KeyClaim | None) -> list[int]:
        try:
            return await self._committer.append_records(self.hall_id, payloads, claim=claim)
        except Exception as exc:
            if self._failed is None:
                self._failed = exc
                log.error("hall %s: log write failed, refusing commands: %s", self.hall_id, exc)
            self._durable.set()
            raise unavailable(f"hall {self.hall_id}: log write failed", fault_of(exc)) from exc

    async def rebuild(self) -> None:
        """Fold the hall again from its log (after a failed write memory may be ahead of it).

        Only while the hall is stopped, so no command decides on the state being replaced."""
        if self._failed is None:
            raise RuntimeError(f"hall {self.hall_id}: rebuild only a stopped hall")
        state = await load_state(self.engine.config, self._store)
        self.engine = HallEngine(self.engine.config, state)
        self._decided_seq = state.seq
        self._events_since_snapshot = 0

    def halt(self, cause: BaseException) -> None:
        """Refuse commands from now on: the shared log failed (told by the store supervisor)."""
        if self._failed is None:
            self._failed = cause

    def resume(self) -> None:
        """Accept commands again (the store is writable and the hall rebuilt)."""
        self._failed = None

    async def _commit(self, events: list[ev.AnyEvent], claim: KeyClaim | None = None) -> int:
        self._decided_seq += 1  # records commit in the order they are decided
        (seq,) = await self._append([ev.encode_record(events)], claim)
        if seq > self.engine.state.seq:
            self.engine.state.seq = seq
            self._durable.set()
        for subscriber in self._subscribers:
            try:
                subscriber(events, seq)
            except Exception:  # a broken display must not break the hall
                log.exception("hall %s: subscriber %r failed", self.hall_id, subscriber)
        self._events_since_snapshot += len(events)
        self._maybe_snapshot()
        return seq

    def _maybe_snapshot(self) -> None:
        every = self.engine.config.store.snapshot_every_events
        if self._events_since_snapshot < every or self._snapshot_task is not None:
            return
        if time.monotonic() - self._last_snapshot_at < self._snapshot_interval_s:
            return
        self.start_snapshot()

    @property
    def snapshot_in_progress(self) -> bool:
        return self._snapshot_task is not None

    def start_snapshot(self) -> None:
        """Cut a snapshot now and write it in the background (one at a time)."""
        if self._snapshot_task is not None:
            return
        self._events_since_snapshot = 0
        self._last_snapshot_at = time.monotonic()
        # The cut includes records decided but still committing: its seq is the last decided.
        writer = self._snapshot = SnapshotWriter(self.engine.state, self._decided_seq)
        self._snapshot_task = asyncio.get_running_loop().create_task(
            self._save_snapshot(writer), name=f"hallctl-snapshot-{self.hall_id}"
        )

    async def _save_snapshot(self, writer: SnapshotWriter) -> None:
        """Encode a slice per turn of the loop, wait until the cut is durable, then let the
        store write it (in parts, between appends)."""
        try:
            parts = await writer.encode()
            self._snapshot = None
            while self.engine.state.seq < writer.seq and self._failed is None:
                self._durable.clear()
                await self._durable.wait()
            if self._failed is not None:
                return  # memory may be ahead of the log: nothing to keep
            snapshot = StoredSnapshot(seq=writer.seq, parts=parts)
            await self._store.save_snapshot(self.hall_id, snapshot)
            size = sum(map(len, parts))
            log.info("hall %s: snapshot at seq %d (%d bytes)", self.hall_id, writer.seq, size)
        except Exception:
            log.exception("hall %s: snapshot failed (the log is intact)", self.hall_id)
        finally:
            self._snapshot = None
            self._snapshot_task = None

    async def aclose(self) -> None:
        """Wait for a snapshot in flight; the committer is closed by its owner."""
        task = self._snapshot_task
        if task is not None:
            await asyncio.shield(task)


def config_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


async def load_state(config: HallConfig, store: EventStore) -> HallState:
    """Fold a hall's log, from its newest snapshot on, into state."""
    hall_id = config.hall.id
    snapshot = await store.load_snapshot(hall_id)
    if snapshot is not None:
        state = HallState.from_snapshot(config, decode_snapshot(snapshot.payload))
        after = snapshot.seq
    else:
        state = HallState(config)
        after = 0
    await fold_log(state, store, hall_id, after)
    return state


async def fold_log(state: HallState, store: EventStore, hall_id: str, after: int) -> None:
    """Fold the hall's records after ``after`` into ``state``.

    The cyclic garbage collector is paused while folding: a replay allocates millions of
    short-lived objects and no cycles, and the collector's passes over the growing state would
    otherwise cost more than the fold itself.
    """
    decode = ev.RECORD_DECODER.decode
    handlers = state.handlers
    collecting = gc.isenabled()
    gc.disable()
    try:
        async for chunk in store.read(hall_id, after):
            last: ev.AnyEvent | None = None
            for record in chunk:  # the fold's hot loop, inlined: no call per record
                for last in decode(record.payload):
                    handlers[type(last)](last)
            if last is not None:
                state.clock_ms = last.at
            if chunk:
                state.seq = chunk[-1].seq
    finally:
        if collecting:
            gc.enable()


async def read_configuration(store: EventStore, hall_id: str) -> str | None:
    """The newest configuration text recorded in a hall's log (for ``hallctl replay``)."""
    text: str | None = None
    async for chunk in store.read(hall_id, 0):
        for record in chunk:
            if b"hall_configured" not in record.payload:  # skip decoding the other records
                continue
            for event in ev.decode_record(record.payload):
                if isinstance(event, ev.HallConfigured):
                    text = event.text
    return text
