"""Bus statistics: counters the master updates, and the immutable snapshot it hands out."""

from __future__ import annotations

import enum
from collections import Counter

import msgspec

from firmware_protocols.base import ErrorReason


class FailureReason(enum.Enum):
    """Why an attempt failed, on top of the codecs' ``ErrorReason``s for discarded bytes."""

    TIMEOUT = "timeout"  # nothing at all came back
    NO_VALID_REPLY = "no_valid_reply"  # bytes came back, none of them the reply
    COLLISION = "collision"  # more than one device talked
    UNEXPECTED = "unexpected"  # bytes heard while no reply was due, on a polled bus
    UNKNOWN_ADDRESS = "unknown_address"  # an unsolicited frame from an address we do not know
    PORT_LOST = "port_lost"
    BUS_CLOSED = "bus_closed"  # queued work dropped by close()


class BusStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot. ``utilization`` is busy line time (bytes sent and received times the
    character time) over wall time since the bus started; ``cycle_*`` cover complete poll
    cycles (every polled device had its turn)."""

    bus: str
    frames_sent: int
    frames_received: int
    bytes_sent: int
    bytes_received: int
    retries: int
    timeouts: int
    errors: dict[str, int]
    commands_done: int
    commands_failed: int
    commands_refused: int
    display_updates_coalesced: int
    port_opens: int
    port_open_failures: int
    cycles: int
    cycle_last_s: float
    cycle_mean_s: float
    utilization: float
    busy_s: float
    wall_s: float


class Counters:
    """The mutable side, owned by the bus task."""

    def __init__(self) -> None:
        self.frames_sent = 0
        self.frames_received = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.retries = 0
        self.timeouts = 0
        self.errors: Counter[str] = Counter()
        self.commands_done = 0
        self.commands_failed = 0
        self.commands_refused = 0
        self.coalesced = 0
        self.port_opens = 0
        self.port_open_failures = 0
        self.cycles = 0
        self.cycle_last = 0.0
        self.cycle_total = 0.0
        self.busy = 0.0

    def error(self, reason: ErrorReason | FailureReason) -> None:
        self.errors[reason.value] += 1

    def cycle(self, seconds: float) -> None:
        self.cycles += 1
        self.cycle_last = seconds
        self.cycle_total += seconds

    def snapshot(self, bus: str, wall: float) -> BusStatistics:
        return BusStatistics(
            bus=bus,
            frames_sent=self.frames_sent,
            frames_received=self.frames_received,
            bytes_sent=self.bytes_sent,
            bytes_received=self.bytes_received,
            retries=self.retries,
            timeouts=self.timeouts,
            errors=dict(self.errors),
            commands_done=self.commands_done,
            commands_failed=self.commands_failed,
            commands_refused=self.commands_refused,
            display_updates_coalesced=self.coalesced,
            port_opens=self.port_opens,
            port_open_failures=self.port_open_failures,
            cycles=self.cycles,
            cycle_last_s=self.cycle_last,
            cycle_mean_s=self.cycle_total / self.cycles if self.cycles else 0.0,
            utilization=min(1.0, self.busy / wall) if wall > 0 else 0.0,
            busy_s=self.busy,
            wall_s=wall,
        )
