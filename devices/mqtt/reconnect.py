"""When to (re)connect: the one reconnect state machine every link uses (after aioesphomeapi).

The machine owns no socket and no clock. The link tells it what happened (``start``,
``connected``, ``failed``, ``lost``, ``close``) and gets back a ``Retry`` telling how long to wait
and whether this is worth a loud log line. Delays grow exponentially up to a cap, with random
jitter so that devices or controllers restarted together do not hammer the broker in step. Only
the first failure of an outage is loud; the rest are debug lines until the link is back, when
one line says how long the outage took in attempts.

Transitions (state, event) -> state are the table ``TRANSITIONS``; anything else is a bug in
the caller and raises ``IllegalTransition``.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass


class LinkState(enum.Enum):
    IDLE = "idle"  # created, not started
    CONNECTING = "connecting"
    CONNECTED = "connected"
    WAITING = "waiting"  # backing off before the next attempt
    CLOSED = "closed"


class LinkEvent(enum.Enum):
    START = "start"
    CONNECTED = "connected"
    FAILED = "failed"  # an attempt did not reach CONNACK
    LOST = "lost"  # an established connection dropped
    RETRY = "retry"  # the back-off delay is over
    CLOSE = "close"


S, E = LinkState, LinkEvent
TRANSITIONS: dict[tuple[LinkState, LinkEvent], LinkState] = {
    (S.IDLE, E.START): S.CONNECTING,
    (S.CONNECTING, E.CONNECTED): S.CONNECTED,
    (S.CONNECTING, E.FAILED): S.WAITING,
    (S.CONNECTED, E.LOST): S.WAITING,
    (S.WAITING, E.RETRY): S.CONNECTING,
    **{(state, E.CLOSE): S.CLOSED for state in LinkState},
}


class IllegalTransition(RuntimeError):
    """The caller reported an event that cannot happen in the current state."""


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Delay before attempt n (n = 1 after the first failure): initial * factor**(n-1), capped,
    then reduced by a random fraction up to ``jitter``."""

    initial: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not (0 < self.initial <= self.cap and self.factor >= 1 and 0 <= self.jitter < 1):
            raise ValueError(f"unusable back-off policy {self}")

    def delay(self, attempt: int, rand: float) -> float:
        base = min(self.cap, self.initial * self.factor ** min(attempt - 1, 64))
        return base * (1 - self.jitter * rand)


@dataclass(frozen=True, slots=True)
class Retry:
    """What to do after a failure or loss: wait ``delay`` seconds; log loudly only if ``loud``."""

    delay: float
    attempt: int
    loud: bool


class Reconnector:
    """The reconnect state machine; see the module docstring."""

    def __init__(self, policy: BackoffPolicy, rand: Callable[[], float] = random.random) -> None:
        self.policy = policy
        self._rand = rand
        self.state = LinkState.IDLE
        self.failures = 0  # failed attempts in the current outage
        self._outage_reported = False

    def _go(self, event: LinkEvent) -> None:
        try:
            self.state = TRANSITIONS[(self.state, event)]
        except KeyError:
            raise IllegalTransition(f"{event.value} in state {self.state.value}") from None

    def _retry(self) -> Retry:
        loud = not self._outage_reported
        self._outage_reported = True
        attempt = max(self.failures, 1)
        return Retry(self.policy.delay(attempt, self._rand()), attempt, loud)

    def start(self) -> None:
        self._go(E.START)

    def connected(self) -> int:
        """Returns how many attempts failed before this success (0: first try)."""
        self._go(E.CONNECTED)
        failures, self.failures, self._outage_reported = self.failures, 0, False
        return failures

    def failed(self) -> Retry:
        self._go(E.FAILED)
        self.failures += 1
        return self._retry()

    def lost(self) -> Retry:
        self._go(E.LOST)
        return self._retry()

    def retry(self) -> None:
        self._go(E.RETRY)

    def close(self) -> None:
        self._go(E.CLOSE)

    @property
    def closed(self) -> bool:
        return self.state is LinkState.CLOSED
