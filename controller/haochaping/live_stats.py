"""A hall's statistics kept current in the daemon, so a request folds nothing.

``LiveStats`` subscribes to the hall's durable records before it catches up with the log once
at start-up (records committed meanwhile wait in a list and are applied after, each exactly
once, by seq), then applies every new record as it becomes durable. A report merges the day
buckets of ``StatsFolder``: its cost follows the number of days and groups asked for, not the
number of services. It reads the log, never the live state, so days closed (whose finished
tickets left the state) count like any other.

Catching up starts from a snapshot of the folder (``stats:<hall>`` in the store's key-value
table) when one exists for the same configuration, and reads only the log after it; the
snapshot is saved after catching up, after each daily close and when the daemon stops.
``hallctl report`` starts from the same snapshot (``load_folder``).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import Final

import msgspec

from controller.config.model import HallConfig
from controller.core import events as ev
from controller.haochaping.records import read_log
from controller.haochaping.stats import StatsFolder, StatsReport, StatsSnapshot
from controller.store.base import EventStore, StoreError

log = logging.getLogger("hallctl.haochaping.stats")

_YIELD_EVERY: Final = 2000  # records read between two yields to the event loop at start-up


def snapshot_key(hall: str) -> str:
    return f"stats:{hall}"


async def load_folder(store: EventStore, hall: str, config: HallConfig) -> tuple[StatsFolder, int]:
    """A folder from the hall's snapshot (and the seq it covers), or an empty one (0)."""
    saved = await store.get_value(snapshot_key(hall))
    if saved:
        try:
            snapshot = msgspec.msgpack.decode(saved, type=StatsSnapshot)
            return StatsFolder.restore(config, snapshot), snapshot.seq
        except (msgspec.DecodeError, ValueError, KeyError) as exc:  # read the whole log instead
            log.info("statistics snapshot not used: %s", exc, extra={"hall": hall})
    return StatsFolder(config), 0


class LiveStats:
    def __init__(self, store: EventStore, hall: str, config: HallConfig) -> None:
        self.store = store
        self.hall = hall
        self.config = config
        self.folder = StatsFolder(config)
        self.seq = 0  # the last log record applied
        self.ready = asyncio.Event()
        self._early: list[tuple[int, list[ev.AnyEvent]]] = []
        self._closed = asyncio.Event()  # a daily close was applied: time to save

    def notify(self, events: list[ev.AnyEvent], seq: int) -> None:
        """Runtime subscriber: a record is durable."""
        if not self.ready.is_set():
            self._early.append((seq, events))
        elif seq > self.seq:
            self.folder.apply(events)
            self.seq = seq
            if any(isinstance(e, ev.DayClosed) for e in events):
                self._closed.set()

    async def build(self) -> None:
        """Catch up with the log (call after subscribing ``notify``)."""
        self.folder, self.seq = await load_folder(self.store, self.hall, self.config)
        read = 0
        async for seq, events in read_log(self.store, self.hall, self.seq):
            self.folder.apply(events)
            self.seq = seq
            read += 1
            if read % _YIELD_EVERY == 0:
                await asyncio.sleep(0)  # the hall keeps serving while its history is read
        for seq, events in self._early:
            if seq > self.seq:
                self.folder.apply(events)
                self.seq = seq
        self._early.clear()
        self.ready.set()

    async def save(self) -> None:
        body = msgspec.msgpack.encode(self.folder.snapshot(self.seq))
        try:
            await self.store.put_value(snapshot_key(self.hall), body)
        except StoreError as exc:  # the next save tries again; the log has everything
            log.warning("statistics snapshot not saved: %s", exc, extra={"hall": self.hall})

    async def run(self, stop: asyncio.Event) -> None:
        """Build, then save the snapshot after catching up, each daily close and at stop."""
        await self.build()
        await self.save()
        while not stop.is_set():
            closed = asyncio.ensure_future(self._closed.wait())
            stopping = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({closed, stopping}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                closed.cancel()
                stopping.cancel()
            self._closed.clear()
            await self.save()

    async def report(self, from_day: date, to_day: date) -> StatsReport:
        await self.ready.wait()
        return self.folder.report(from_day, to_day)
