"""One hall's single writer: engine in memory, events durable before anyone hears of them.

Theory of operation. ``submit`` runs the engine synchronously (microseconds, no lock needed:
one process owns the hall and asyncio runs one coroutine at a time), then awaits the group
commit of the command's events as one log record. Only when the record is durable does it tell
subscribers (device drivers, the console) and return to the caller, so no ticket is printed
and no display changes for an event that a crash could take back.

Later commands may decide on top of events still being committed; that is safe because records
commit in order: a crash keeps a prefix of the log, and nothing outside saw the lost suffix.
If a commit *fails*, memory is ahead of the log and can't be trusted: the runtime stops
accepting commands (fail-stop) and the daemon restarts it from the log.

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
from dataclasses import dataclass
from typing import Final

from controller import commands as cmd
from controller import events as ev
from controller.config.model import HallConfig
from controller.engine import HallEngine
from controller.lifecycle import Rejected
from controller.state import SNAPSHOT_DECODER, SNAPSHOT_ENCODER, HallState
from controller.store.base import EventStore
from controller.store.base import Snapshot as StoredSnapshot
from controller.store.group_commit import GroupCommitter

log = logging.getLogger("hallctl.runtime")

Subscriber = Callable[[list[ev.AnyEvent], int], None]
"""Called with a record's events and its seq, after the record is durable, in log order."""
Annotation = Callable[[list[ev.AnyEvent], int], ev.AnyEvent]
"""Given a command's events and the time, one more event for the same record: where the
command came from (``ev.RequestAnswered``), durable with what it caused or not at all."""

SNAPSHOT_MIN_INTERVAL_S: Final = 60.0


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Receipt:
    """What an accepted command caused, and where it sits in the log (0: nothing logged)."""

    events: list[ev.AnyEvent]
    seq: int


class HallUnavailable(Exception):
    """The hall stopped accepting commands (its log could not be written)."""


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
        self._snapshot_task: asyncio.Task[None] | None = None
        self._last_snapshot_at = 0.0
        self.rejected_count = 0
        self.accepted_count = 0

    @property
    def state(self) -> HallState:
        return self.engine.state

    @classmethod
    async def open(
        cls,
        config: HallConfig,
        store: EventStore,
        committer: GroupCommitter,
        *,
        config_text: str = "",
        clock: Callable[[], int] = wall_clock_ms,
    ) -> HallRuntime:
        """Rebuild the hall from its log and record the configuration if it changed."""
        state = await load_state(config, store)
        runtime = cls(
            HallEngine(config, state), store, committer, clock=clock, config_text=config_text
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
        self, command: cmd.AnyCommand, *, annotate: Annotation | None = None
    ) -> Receipt:
        """Decide, make durable, notify; raises ``Rejected`` (nothing changed) or
        ``HallUnavailable``. ``annotate``: see ``Annotation`` (not called when the command
        caused no events)."""
        if self._failed is not None:
            raise HallUnavailable(f"hall {self.hall_id} stopped: {self._failed}")
        try:
            events = self.engine.handle(command, self.now())
        except Rejected:
            self.rejected_count += 1
            raise
        self.accepted_count += 1
        if not events:
            return Receipt(events, 0)
        if annotate is not None:
            note = annotate(events, self.now())
            self.engine.state.apply(note)
            events = [*events, note]
        return Receipt(events, await self._commit(events))

    async def _commit(self, events: list[ev.AnyEvent]) -> int:
        try:
            seq = await self._committer.append(self.hall_id, ev.encode_record(events))
        except Exception as exc:
            if self._failed is None:
                self._failed = exc
                log.error("hall %s: log write failed, refusing commands: %s", self.hall_id, exc)
            raise HallUnavailable(f"hall {self.hall_id}: log write failed") from exc
        if seq > self.engine.state.seq:
            self.engine.state.seq = seq
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
        if time.monotonic() - self._last_snapshot_at < SNAPSHOT_MIN_INTERVAL_S:
            return
        self._events_since_snapshot = 0
        self._last_snapshot_at = time.monotonic()
        payload = SNAPSHOT_ENCODER.encode(self.engine.state.to_snapshot())
        seq = self.engine.state.seq
        self._snapshot_task = asyncio.get_running_loop().create_task(
            self._save_snapshot(seq, payload), name=f"hallctl-snapshot-{self.hall_id}"
        )

    async def _save_snapshot(self, seq: int, payload: bytes) -> None:
        try:
            await self._store.save_snapshot(self.hall_id, StoredSnapshot(seq=seq, payload=payload))
            log.info("hall %s: snapshot at seq %d (%d bytes)", self.hall_id, seq, len(payload))
        except Exception:
            log.exception("hall %s: snapshot failed (the log is intact)", self.hall_id)
        finally:
            self._snapshot_task = None

    async def aclose(self) -> None:
        """Wait for a snapshot in flight; the committer is closed by its owner."""
        task = self._snapshot_task
        if task is not None:
            await asyncio.shield(task)


def config_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


async def load_state(config: HallConfig, store: EventStore) -> HallState:
    """Fold a hall's log, from its newest snapshot on, into state.

    The cyclic garbage collector is paused while folding: a replay allocates millions of
    short-lived objects and no cycles, and the collector's passes over the growing state would
    otherwise cost more than the fold itself.
    """
    hall_id = config.hall.id
    snapshot = await store.load_snapshot(hall_id)
    if snapshot is not None:
        state = HallState.from_snapshot(config, SNAPSHOT_DECODER.decode(snapshot.payload))
        after = snapshot.seq
    else:
        state = HallState(config)
        after = 0
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
    return state


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
