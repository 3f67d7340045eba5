"""Ids that never repeat, not even across restarts: command ids, state versions, sessions.

A device remembers the command ids it executed and the state version it shows; after the
controller restarts, an id or version it used before must not come back, or the device would
ignore the new command as a repeat or the new state as old. Seeding the counter with the wall
clock in microseconds gives that without storing anything: a run would have to issue more than
a million ids per second of its uptime to catch up with the next run's seed.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class MonotonicIds:
    """Strictly increasing integers starting at the wall clock in microseconds."""

    def __init__(self, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._last = clock_ns() // 1000

    def next(self) -> int:
        self._last += 1
        return self._last

    @property
    def last(self) -> int:
        return self._last
