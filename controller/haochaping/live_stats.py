"""A hall's statistics kept current in the daemon, so a request folds nothing.

``LiveStats`` subscribes to the hall's durable records before it reads the log once at start-up
(records committed meanwhile wait in a list and are applied after, each exactly once, by seq),
then applies every new record as it becomes durable. A report merges the day buckets of
``StatsFolder``: its cost follows the number of days and groups asked for, not the number of
services. It reads the log, never the live state, so days closed (whose finished tickets left
the state) count like any other.
"""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Final

from controller.config.model import HallConfig
from controller.core import events as ev
from controller.haochaping.records import read_log
from controller.haochaping.stats import StatsFolder, StatsReport
from controller.store.base import EventStore

_YIELD_EVERY: Final = 2000  # records read between two yields to the event loop at start-up


class LiveStats:
    def __init__(self, store: EventStore, hall: str, config: HallConfig) -> None:
        self.store = store
        self.hall = hall
        self.folder = StatsFolder(config)
        self.seq = 0  # the last log record applied
        self.ready = asyncio.Event()
        self._early: list[tuple[int, list[ev.AnyEvent]]] = []

    def notify(self, events: list[ev.AnyEvent], seq: int) -> None:
        """Runtime subscriber: a record is durable."""
        if not self.ready.is_set():
            self._early.append((seq, events))
        elif seq > self.seq:
            self.folder.apply(events)
            self.seq = seq

    async def build(self) -> None:
        """Read the log once (call after subscribing ``notify``)."""
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

    async def report(self, from_day: date, to_day: date) -> StatsReport:
        await self.ready.wait()
        return self.folder.report(from_day, to_day)
