"""The durable outbox: every rating, 办件 and case record of a hall's log, to one destination.

Theory of operation. The log is the queue: an outbox keeps only a cursor, the seq of the last
log record whose outgoing records were all settled (delivered, or rejected for good), stored
beside the log (``EventStore.put_value``) under the destination's name, so several destinations
of one hall each keep their own. It reads the log after the cursor, turns each record into
outgoing records (``records.RecordMaker``: ratings, 办件, case steps), keeps those its adapter
wants, and sends them in log order: one per request, or, to a platform taking batches
(``BatchAdapter``), up to ``max_batch`` per request, gathered across log records while the
outbox is behind and sent at once when it has caught up. A batch the platform refuses whole
is sent again record by record, so one bad record cannot sink the others. A failure is
retried with capped, jittered exponential backoff until it succeeds; nothing later overtakes
it, so the platform sees updates in order. A record the platform refuses for good is set
aside (counted, its id kept under ``…:rejected``) and the outbox goes on. The cursor is saved
after each settled log record, at most every ``SAVE_EVERY_S`` while busy, and at once when
caught up or stopping.

After a restart the outbox resumes at its cursor; records between the last save and the crash
are sent again with the same ``record_id``, which the platform uses to drop duplicates
(at-least-once delivery, idempotent at the receiver). New records wake it through the runtime's
subscriber hook (``notify``) once they are durable. An ``Acknowledging`` adapter's answer (the
12345 hotline's 工单号) is recorded on the case through ``acknowledge`` (a command to the hall).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

import aiohttp
import msgspec

from controller.config.model import HallConfig
from controller.core import commands as cmd
from controller.core import events as ev
from controller.daemon.logs import Reminder
from controller.haochaping.adapters.base import (
    Acknowledging,
    Adapter,
    BatchAdapter,
    BatchAnswer,
    Request,
    Verdict,
)
from controller.haochaping.records import AnyRecord, RecordMaker, read_log, record_time
from controller.store.base import EventStore, StoreError

log = logging.getLogger("hallctl.haochaping.outbox")

SAVE_EVERY_S: Final = 1.0
_SAVE_REMINDER: Final = Reminder(60.0)
FIRST_BACKOFF_S: Final = 0.5
MAX_REJECTED_KEPT: Final = 1000
_OBSERVED: Final = (b"case_opened", b"ticket_", b"service_", b"case_number_set")

Send = Callable[[Request, float], Awaitable[tuple[int, bytes]]]
"""Performs one request with a timeout: (status, body); raises OSError/aiohttp errors."""
Acknowledge = Callable[[cmd.RecordHandOver], Awaitable[bool]]
"""Records a destination's acknowledgement on the hall (submits the command): True when done
(or refused for good), False when the hall cannot record now (try again)."""


class OutboxStatus(msgspec.Struct, kw_only=True):
    """What the console and the metrics show of one outbox."""

    adapter: str
    hall: str
    cursor: int = 0  # log seq settled
    log_seq: int = 0  # newest log seq known
    lag_records: int = 0  # log records not yet settled
    oldest_unsent_ms: int | None = None  # time of the record being tried, if any
    delivered: int = 0
    retries: int = 0
    rejected: int = 0
    consecutive_failures: int = 0
    last_error: str = ""
    last_delivered_ms: int | None = None


class Outbox:
    def __init__(
        self,
        store: EventStore,
        config: HallConfig,
        adapter: Adapter,
        send: Send,
        *,
        timeout_s: float = 10.0,
        max_backoff_s: float = 300.0,
        first_backoff_s: float = FIRST_BACKOFF_S,
        clock: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        acknowledge: Acknowledge | None = None,
    ) -> None:
        self.store = store
        self.hall = config.hall.id
        self.adapter = adapter
        self.maker = RecordMaker(config)
        self._send = send
        self._timeout_s = timeout_s
        self._max_backoff_s = max_backoff_s
        self._first_backoff_s = first_backoff_s
        self._clock = clock
        self._acknowledge = acknowledge
        self._batch = adapter if isinstance(adapter, BatchAdapter) else None
        self._wake = asyncio.Event()
        self._saved_cursor = 0
        self._last_save = 0.0
        self.status = OutboxStatus(adapter=adapter.name, hall=self.hall)

    @property
    def key(self) -> str:
        return f"outbox:{self.adapter.name}:{self.hall}"

    def notify(self, events: list[ev.AnyEvent], seq: int) -> None:
        """Runtime subscriber: a record is durable; wake up if it may concern us."""
        self.status.log_seq = max(self.status.log_seq, seq)
        self.status.lag_records = self.status.log_seq - self.status.cursor
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        await self._load()
        while not stop.is_set():
            self._wake.clear()
            await self._drain(stop)
            await self._save(force=True)
            if stop.is_set():
                break
            waiting = asyncio.ensure_future(self._wake.wait())
            stopping = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiting.cancel()
                stopping.cancel()

    async def _load(self) -> None:
        saved = await self.store.get_value(self.key)
        cursor = int(saved) if saved else 0
        self._saved_cursor = self.status.cursor = cursor
        self.status.log_seq = max(self.status.log_seq, await self.store.last_seq(self.hall))
        self.status.lag_records = self.status.log_seq - cursor
        if cursor:  # before the cursor: cases' departments, open tickets, for later records
            async for chunk in self.store.read(self.hall, 0):
                for stored in chunk:
                    if stored.seq > cursor:
                        return
                    if any(tag in stored.payload for tag in _OBSERVED):  # skip the rest
                        self.maker.observe(ev.decode_record(stored.payload))

    async def _drain(self, stop: asyncio.Event) -> None:
        pending: list[AnyRecord] = []  # gathered for one batch, all from log records <= seq
        seq = self.status.cursor
        async for seq, events in read_log(self.store, self.hall, self.status.cursor):
            for record in self.maker.records(seq, events):
                if not self.adapter.wants(record):
                    continue
                if self._batch is not None:
                    pending.append(record)
                    continue
                await self._deliver(record, stop)
                if stop.is_set():
                    return
            if self._batch is not None and pending:
                if len(pending) < self._batch.max_batch:
                    continue  # the cursor stays before records not yet sent
                if not await self._flush(pending, stop):
                    return
                pending = []
            self._settled(seq)
            await self._save(force=False)
        if pending and not await self._flush(pending, stop):
            return
        if pending:
            self._settled(seq)
        self.status.oldest_unsent_ms = None

    def _settled(self, seq: int) -> None:
        self.status.cursor = seq
        self.status.log_seq = max(self.status.log_seq, seq)
        self.status.lag_records = self.status.log_seq - seq

    async def _flush(self, records: list[AnyRecord], stop: asyncio.Event) -> bool:
        """Sends gathered records in batches; False when stopping before all were settled."""
        assert self._batch is not None
        size = self._batch.max_batch
        for start in range(0, len(records), size):
            await self._deliver_batch(records[start : start + size], stop)
            if stop.is_set():
                return False
        return True

    async def _deliver_batch(self, records: Sequence[AnyRecord], stop: asyncio.Event) -> None:
        batch = self._batch
        assert batch is not None
        self.status.oldest_unsent_ms = record_time(records[0])
        answered = await self._until_answered(
            lambda: batch.batch_request(records),
            lambda s, b: batch.batch_verdict(s, b, records).verdict,
            stop,
        )
        if answered is None:
            return
        status, body, error = answered
        answer: BatchAnswer = batch.batch_verdict(status, body, records)
        if answer.verdict is Verdict.REJECTED and len(records) > 1:
            for record in records:  # find the bad ones: the rest still go through
                await self._deliver_batch([record], stop)
                if stop.is_set():
                    return
            return
        for record in records:
            if answer.verdict is Verdict.REJECTED or record.record_id in answer.rejected:
                await self._set_aside(record, answer.rejected.get(record.record_id) or error)
            else:
                self._count_delivered()

    async def _deliver(self, record: AnyRecord, stop: asyncio.Event) -> None:
        self.status.oldest_unsent_ms = record_time(record)
        answered = await self._until_answered(
            lambda: self.adapter.request(record), self.adapter.verdict, stop
        )
        if answered is None:
            return
        status, body, error = answered
        if self.adapter.verdict(status, body) is Verdict.REJECTED:
            await self._set_aside(record, error)
            return
        self._count_delivered()
        if self._acknowledge is None or not isinstance(self.adapter, Acknowledging):
            return
        command = self.adapter.acknowledgement(record, body)
        attempt = 0
        while command is not None and not await self._acknowledge(command):
            attempt += 1  # the hall cannot record it now: again, and never past it unrecorded
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._backoff(attempt))
            if stop.is_set():
                return  # the cursor stays before it: re-sent after the restart, same number

    def _count_delivered(self) -> None:
        self.status.delivered += 1
        self.status.consecutive_failures = 0
        self.status.last_delivered_ms = self._clock()

    async def _until_answered(
        self,
        request: Callable[[], Request],
        judge: Callable[[int, bytes], Verdict],
        stop: asyncio.Event,
    ) -> tuple[int, bytes, str] | None:
        """Sends the request (made anew each attempt: a fresh timestamp and nonce to sign) until
        its answer is not "retry": (status, body, error text); None when stopping first."""
        attempt = 0
        while not stop.is_set():
            status, body, error = await self._attempt(request())
            if status and judge(status, body) is not Verdict.RETRY:
                return status, body, error
            attempt += 1
            self.status.retries += 1
            self.status.consecutive_failures += 1
            self.status.last_error = error
            if self.status.consecutive_failures == 1:  # one line per outage, not per retry
                log.warning(
                    "outbox: delivery failing, retrying",
                    extra={"hall": self.hall, "adapter": self.adapter.name, "error": error},
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._backoff(attempt))
        return None

    async def _attempt(self, request: Request) -> tuple[int, bytes, str]:
        """(status, body, error text); status 0 when no answer came."""
        try:
            status, body = await self._send(request, self._timeout_s)
        except (OSError, aiohttp.ClientError, TimeoutError) as exc:
            return 0, b"", f"{type(exc).__name__}: {exc}"[:300]
        return status, body, f"HTTP {status}: {body[:200].decode('utf-8', 'replace')}"

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._max_backoff_s, self._first_backoff_s * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)

    async def _set_aside(self, record: AnyRecord, error: str) -> None:
        self.status.rejected += 1
        self.status.last_error = error
        self.status.consecutive_failures = 0
        log.error(
            "outbox: record rejected by the platform, set aside",
            extra={"hall": self.hall, "record": record.record_id, "error": error},
        )
        key = self.key + ":rejected"
        kept = json.loads(await self.store.get_value(key) or b"[]")
        kept = [*kept, {"record_id": record.record_id, "error": error}][-MAX_REJECTED_KEPT:]
        try:
            await self.store.put_value(key, json.dumps(kept, ensure_ascii=False).encode("utf-8"))
        except StoreError as exc:  # the log line above keeps what the list could not
            log.warning("outbox: set-aside list not saved: %s", exc, extra={"hall": self.hall})

    async def rejected(self) -> list[dict[str, str]]:
        """The records set aside, newest last (for the console)."""
        kept: list[dict[str, str]] = json.loads(
            await self.store.get_value(self.key + ":rejected") or b"[]"
        )
        return kept

    async def _save(self, *, force: bool) -> None:
        cursor = self.status.cursor
        if cursor == self._saved_cursor:
            return
        now = time.monotonic()
        if not force and now - self._last_save < SAVE_EVERY_S:
            return
        self._last_save = now
        try:
            await self.store.put_value(self.key, str(cursor).encode("ascii"))
        except StoreError as exc:  # the store supervisor reports the outage; saved next time
            if _SAVE_REMINDER.due():
                log.warning("outbox: cursor not saved: %s", exc, extra={"hall": self.hall})
            return
        self._saved_cursor = cursor


def aiohttp_sender(session: aiohttp.ClientSession) -> Send:
    """``Send`` over an aiohttp session (the daemon's; tests may pass their own)."""

    async def send(request: Request, timeout_s: float) -> tuple[int, bytes]:
        async with session.request(
            request.method,
            request.url,
            data=request.body,
            headers=request.headers,
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as response:
            return response.status, await response.read()

    return send
