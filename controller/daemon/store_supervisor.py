"""Keeping the hall alive through a log that cannot be written (disk full, I/O error, read-only).

Theory of operation. A failed commit stops the group committer (fail-stop: memory may be ahead
of the log). The committer tells the supervisor, which stops every hall at once (commands get
``HallUnavailable``: HTTP 503, device reply ``unavailable``), records the fault in
``StoreHealth`` (``/healthz``, ``/metrics``, the console's alert) and logs one error. Then it
tries to recover, first after ``first_retry_s`` and backing off to ``max_retry_s``: reopen the
store (the connection and its seq cache cannot be trusted after a failed write), make one real
durable write (``probe``), fold every hall again from its log, and resume the committer and the
halls. Nothing acknowledged is lost: a failed commit answered nobody, and the rebuilt state is
exactly what is on disk. While the outage lasts, a reminder is logged every ``remind_s``; a
failed attempt is not logged (the next reminder says how long it has been).

The supervisor also prunes idempotency keys past their retention, every ``prune_every_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

from controller.daemon.runtime import HallRuntime, wall_clock_ms
from controller.http.idempotency import RETENTION_MS
from controller.store.base import StoreError, StoreFault, fault_of
from controller.store.group_commit import GroupCommitter

log = logging.getLogger("hallctl.store")

FIRST_RETRY_S: Final = 0.5
MAX_RETRY_S: Final = 5.0
REMIND_S: Final = 60.0
PRUNE_EVERY_S: Final = 600.0


class StoreStatus(enum.Enum):
    WRITABLE = "writable"
    FAILING = "failing"


@dataclass
class StoreHealth:
    """What the daemon knows about its log's writability, read by healthz, metrics, console."""

    status: StoreStatus = StoreStatus.WRITABLE
    fault: StoreFault | None = None
    reason: str = ""
    since_ms: int = 0
    outages: int = 0
    recoveries: int = 0
    last_outage_s: float = 0.0

    @property
    def failing(self) -> bool:
        return self.status is StoreStatus.FAILING

    @property
    def text(self) -> str:
        """The alert the hall's staff read."""
        label = (self.fault or StoreFault.OTHER).label
        return f"事件日志无法写入（{label}），大厅暂停受理；恢复后自动继续"


class RecoverableStore(Protocol):
    """The part of ``SqliteStore`` the supervisor needs."""

    async def reopen(self) -> None: ...

    async def probe(self) -> None: ...

    async def prune_claims(self, before_ms: int) -> int: ...


class StoreSupervisor:
    """See the module docstring. ``run`` until ``stop``; install with ``attach``."""

    def __init__(
        self,
        store: RecoverableStore,
        committer: GroupCommitter,
        halls: Mapping[str, HallRuntime],
        health: StoreHealth,
        *,
        first_retry_s: float = FIRST_RETRY_S,
        max_retry_s: float = MAX_RETRY_S,
        remind_s: float = REMIND_S,
        prune_every_s: float = PRUNE_EVERY_S,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self._store = store
        self._committer = committer
        self._halls = halls
        self.health = health
        self._first_retry_s = first_retry_s
        self._max_retry_s = max_retry_s
        self._remind_s = remind_s
        self._prune_every_s = prune_every_s
        self._clock_ms = clock_ms
        self._wake = asyncio.Event()
        self._failure: BaseException | None = None

    def attach(self) -> None:
        self._committer.on_failure = self.on_failure

    def on_failure(self, exc: BaseException) -> None:
        """A commit failed: stop every hall now, say so once, and start recovering."""
        for runtime in self._halls.values():
            runtime.halt(exc)
        if self.health.failing:
            return
        self._failure = exc
        health = self.health
        health.status = StoreStatus.FAILING
        health.fault = fault_of(exc)
        health.reason = str(exc)[:300]
        health.since_ms = self._clock_ms()
        health.outages += 1
        log.error(
            "event log cannot be written; halls refuse commands until it can",
            extra={"fault": health.fault.value, "reason": health.reason},
        )
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        last_prune = -self._prune_every_s
        while not stop.is_set():
            if self.health.failing:
                await self._recover(stop)
                continue
            if time.monotonic() - last_prune >= self._prune_every_s:
                last_prune = time.monotonic()
                await self._prune()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_either(self._wake, stop), self._prune_every_s)

    async def _recover(self, stop: asyncio.Event) -> None:
        delay = self._first_retry_s
        started = time.monotonic()
        reminded = started
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return
            try:
                await self._attempt()
            except Exception as exc:  # still failing: note why, remind now and then
                self.health.fault = fault_of(exc)
                self.health.reason = str(exc)[:300]
                delay = min(self._max_retry_s, delay * 2)
                if time.monotonic() - reminded >= self._remind_s:
                    reminded = time.monotonic()
                    log.warning(
                        "event log still cannot be written",
                        extra={
                            "fault": self.health.fault.value,
                            "reason": self.health.reason,
                            "seconds": round(reminded - started),
                        },
                    )
                continue
            outage = time.monotonic() - started
            health = self.health
            health.status = StoreStatus.WRITABLE
            health.fault = None
            health.reason = ""
            health.recoveries += 1
            health.last_outage_s = outage
            self._failure = None
            log.warning(
                "event log writable again; halls rebuilt from the log and resumed",
                extra={
                    "seconds": round(outage, 3),
                    "seqs": {h: r.state.seq for h, r in self._halls.items()},
                },
            )
            return

    async def _attempt(self) -> None:
        """Reopen, prove a durable write, rebuild every hall, resume; raises while failing."""
        await self._store.reopen()
        await self._store.probe()
        for runtime in self._halls.values():
            runtime.halt(self._failure or StoreError("store recovering"))
            await runtime.rebuild()
        self._committer.resume()
        for runtime in self._halls.values():
            runtime.resume()

    async def _prune(self) -> None:
        try:
            removed = await self._store.prune_claims(self._clock_ms() - RETENTION_MS)
        except StoreError as exc:
            log.warning("idempotency keys not pruned: %s", exc)
            return
        if removed:
            log.info("idempotency keys pruned", extra={"removed": removed})


async def _either(first: asyncio.Event, second: asyncio.Event) -> None:
    waits = {asyncio.ensure_future(first.wait()), asyncio.ensure_future(second.wait())}
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
