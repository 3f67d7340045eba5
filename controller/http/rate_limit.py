"""A per-address limit for the public pages: at most N actions a minute from one address.

Fixed one-minute windows, counted in memory (a restart forgets them: the limit slows abuse,
it is not a record). Bounded: past ``MAX_ADDRESSES`` addresses the table starts afresh, so a
spray of forged sources costs memory only up to that bound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

MAX_ADDRESSES: Final = 50_000
WINDOW_MS: Final = 60_000


@dataclass
class RateLimiter:
    _windows: dict[str, tuple[int, int]] = field(default_factory=dict)  # address -> (minute, n)

    def allow(self, address: str, per_minute: int, now_ms: int) -> bool:
        """Count one action of ``address`` at ``now_ms``; False when over the limit."""
        minute = now_ms // WINDOW_MS
        current, count = self._windows.get(address, (minute, 0))
        if current != minute:
            count = 0
        if count >= per_minute:
            return False
        if len(self._windows) >= MAX_ADDRESSES and address not in self._windows:
            self._windows.clear()
        self._windows[address] = (minute, count + 1)
        return True
