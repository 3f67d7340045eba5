"""Token buckets and quiet warnings: how much a device may ask of the controller, and how much
a flood may write to the log.

A device's bucket is charged for everything that makes the controller work or answer (a
request, a birth, a rebirth request, a payload it cannot read); the link also asks it *before*
decoding, so a device whose bucket is empty costs a topic lookup per message, not a decode, an
exception and a reply. A refused message is answered at most once a second (``TELL``), so the
device learns why without the flood being echoed back.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Final

RATE: Final = 20.0  # messages per second a device may sustain
BURST: Final = 40.0
TELL_EVERY_S: Final = 1.0


class Verdict(enum.Enum):
    PASS = "pass"  # within the budget: handle it
    TELL = "tell"  # over budget; answer "rate_limited" (at most once a second)
    DROP = "drop"  # over budget; drop quietly


@dataclass(slots=True)
class TokenBucket:
    """``rate`` tokens a second up to ``burst``; one token per charged message."""

    stamp: float
    rate: float = RATE
    burst: float = BURST
    tokens: float = BURST
    told: float = -math.inf

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now

    def admits(self, now: float) -> bool:
        """Worth decoding: a token is left, or a refusal is due to be told (not charged)."""
        self._refill(now)
        return self.tokens >= 1.0 or now - self.told >= TELL_EVERY_S

    def take(self, now: float) -> Verdict:
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return Verdict.PASS
        if now - self.told >= TELL_EVERY_S:
            self.told = now
            return Verdict.TELL
        return Verdict.DROP


@dataclass(slots=True)
class QuietWarning:
    """A warning logged at most once per ``every`` seconds, with the count it stood for."""

    every: float
    last: float = -math.inf
    suppressed: int = 0

    def due(self, now: float) -> int | None:
        """The number of occurrences to report (this one included) when it is time to log,
        else ``None`` (counted for the next report)."""
        self.suppressed += 1
        if now - self.last < self.every:
            return None
        self.last = now
        count, self.suppressed = self.suppressed, 0
        return count
