"""Requests that want a Reply: request ids, re-sends, and the outbox for ratings.

A request is re-sent with the SAME rid when no Reply came within ``retry_after`` real seconds,
up to ``RESENDS`` times; the controller answers a repeated rid with the same Reply, so re-sends
are always safe. A request that matters (a rating) goes into the ``Outbox`` instead: it survives
reconnects and is re-sent after each one (with a fresh rid, the same ``rating_id``) until a
Reply arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from firmware_protocols import mqtt_v1 as proto

RETRY_AFTER = 3.0  # docs/protocol/mqtt.md 6.2: re-send after 3 s
RESENDS = 5
_RID_COUNTER_BITS = 20


def make_rid(session: int, counter: int) -> int:
    """A rid unique per device for far longer than ten minutes: the session (which grows at
    every connect, so reboots included) in the high bits, a counter in the low ones."""
    return ((session << _RID_COUNTER_BITS) | (counter & ((1 << _RID_COUNTER_BITS) - 1))) & (
        2**32 - 1
    )


MakeRequest = Callable[[int], proto.UpMessage]


@dataclass(slots=True)
class RequestRecord:
    """One request as the device saw it, for the checker."""

    kind: str
    rid: int
    sends: int = 0
    reply: proto.Reply | None = None


class RequestTracker:
    """Allocates rids, sends, re-sends and matches Replies for one device."""

    def __init__(
        self,
        publish: Callable[[proto.UpMessage], bool],
        session: Callable[[], int],
        wait_connected: Callable[[], Awaitable[object]],
        *,
        retry_after: float = RETRY_AFTER,
        resends: int = RESENDS,
    ) -> None:
        self._publish = publish
        self._session = session
        self._wait_connected = wait_connected
        self.retry_after = retry_after
        self.resends = resends
        self._counter = 0
        self._pending: dict[int, asyncio.Future[proto.Reply]] = {}
        self.records: list[RequestRecord] = []
        self.unanswered: list[RequestRecord] = []
        # Every request sent and the first Reply to it, even one that came after its sender
        # gave up or was cancelled: what the controller did, as far as the device can know.
        self.sent: dict[int, proto.UpMessage] = {}
        self.answers: list[tuple[proto.UpMessage, proto.Reply]] = []
        self._answered: set[int] = set()
        self.late_replies = 0  # a Reply for a rid nobody waits for (a duplicate answer)

    def new_rid(self) -> int:
        self._counter += 1
        return make_rid(self._session(), self._counter)

    def resolve(self, reply: proto.Reply) -> None:
        request = self.sent.get(reply.rid)
        if request is not None and reply.rid not in self._answered:
            self._answered.add(reply.rid)
            self.answers.append((request, reply))
        future = self._pending.get(reply.rid)
        if future is None or future.done():
            self.late_replies += 1
            return
        future.set_result(reply)

    async def send(
        self, make: MakeRequest, *, rid: int | None = None, resends: int | None = None
    ) -> tuple[proto.Reply | None, RequestRecord]:
        """Send (and re-send) one request; the Reply, or None if every try went unanswered."""
        rid = self.new_rid() if rid is None else rid
        message = make(rid)
        record = RequestRecord(kind=str(message.__struct_config__.tag), rid=rid)
        self.records.append(record)
        tries = 1 + (self.resends if resends is None else resends)
        reply = await self.attempt(message, record, tries)
        if reply is None:
            self.unanswered.append(record)
        return reply, record

    async def attempt(
        self, message: proto.UpMessage, record: RequestRecord, tries: int
    ) -> proto.Reply | None:
        """Up to ``tries`` sends of ``message`` (rid ``record.rid``), ``retry_after`` apart."""
        future: asyncio.Future[proto.Reply] = asyncio.get_running_loop().create_future()
        self._pending[record.rid] = future
        self.sent[record.rid] = message
        try:
            for _ in range(tries):
                if not self._publish(message):
                    # Offline: this try is spent waiting for the link, not on the wire.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.retry_after):
                            await self._wait_connected()
                    continue
                record.sends += 1
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.retry_after):
                        record.reply = await asyncio.shield(future)
                        return record.reply
            return None
        finally:
            self._pending.pop(record.rid, None)
            if not future.done():
                future.cancel()


@dataclass(slots=True)
class OutboxEntry:
    """A request kept until answered; ``make`` builds it for a given rid."""

    key: str
    make: MakeRequest
    created: float  # loop time when it entered the outbox
    sends: int = 0
    rids: list[int] = field(default_factory=list)
    reply: proto.Reply | None = None


class Outbox:
    """Requests that must arrive: delivered in order, one at a time, across reconnects.

    After ``resends`` unanswered re-sends on one connection the entry waits for the next
    connect (or ``nudge``) instead of hammering a controller that does not answer."""

    def __init__(self, tracker: RequestTracker, connected_epoch: Callable[[], int]) -> None:
        self._tracker = tracker
        self._epoch = connected_epoch
        self.pending: list[OutboxEntry] = []
        self.delivered: list[OutboxEntry] = []
        self._wake = asyncio.Event()
        self._empty = asyncio.Event()
        self._empty.set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._deliver(), name="sim-outbox")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def put(self, entry: OutboxEntry) -> None:
        self.pending.append(entry)
        self._empty.clear()
        self._wake.set()

    def nudge(self) -> None:
        """Something changed (a reconnect): try the pending entries again now."""
        self._wake.set()

    async def drained(self) -> None:
        await self._empty.wait()

    async def _deliver(self) -> None:
        tracker = self._tracker
        while True:
            if not self.pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            entry = self.pending[0]
            epoch = self._epoch()
            rid = tracker.new_rid()
            entry.rids.append(rid)
            record = RequestRecord(kind=entry.key, rid=rid)
            tracker.records.append(record)
            self._wake.clear()
            reply = await tracker.attempt(entry.make(rid), record, 1 + tracker.resends)
            entry.sends += record.sends
            if reply is not None:
                entry.reply = reply
                self.pending.pop(0)
                self.delivered.append(entry)
                if not self.pending:
                    self._empty.set()
                continue
            if self._epoch() == epoch:  # same connection, no answer: wait for a change
                await self._wake.wait()
