"""Simulated time: how people's minutes map onto real seconds.

People (arrivals, service times, rating delays, the pad's invite countdown) live on the
simulated clock so that ``speed=60`` shows an hour of a hall in a real minute. Protocol timers
(request retries, reconnect back-off) stay in real seconds: they are the devices' firmware
behaviour and the controller answers in real time.
"""

from __future__ import annotations

import asyncio
import random


class SimClock:
    """Simulated seconds since the start of the run; ``start_hour`` is the hall time at zero."""

    def __init__(self, speed: float, *, start_hour: float = 9.0) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0, got {speed!r}")
        if not 0 <= start_hour < 24:
            raise ValueError(f"start_hour must be in [0, 24), got {start_hour!r}")
        self.speed = speed
        self.start_hour = start_hour
        self._t0: float | None = None

    def start(self) -> None:
        self._t0 = asyncio.get_running_loop().time()

    def now(self) -> float:
        """Simulated seconds since ``start`` (0 before it)."""
        if self._t0 is None:
            return 0.0
        return (asyncio.get_running_loop().time() - self._t0) * self.speed

    def hour(self) -> float:
        """Hall time of day in hours, wrapping at midnight."""
        return (self.start_hour + self.now() / 3600.0) % 24.0

    def real(self, sim_seconds: float) -> float:
        """Real seconds that ``sim_seconds`` of simulated time take."""
        return max(0.0, sim_seconds) / self.speed

    async def sleep(self, sim_seconds: float) -> None:
        await asyncio.sleep(self.real(sim_seconds))

    async def sleep_until(self, sim_time: float) -> None:
        """Wake at simulated time ``sim_time``: a process drawing many short gaps stays on
        schedule instead of adding up each sleep's overshoot."""
        await asyncio.sleep(self.real(sim_time - self.now()))

    def hour_at(self, sim_time: float) -> float:
        return (self.start_hour + sim_time / 3600.0) % 24.0


def child_rng(seed: int, name: str) -> random.Random:
    """An independent, reproducible random stream per component, so adding a device or a
    clerk does not shift every other component's draws."""
    return random.Random(f"{seed}:{name}")
