"""Commands to devices that must be acknowledged: ids, retries with back-off, visible failure.

Every command carries an id that is never reused (``devices.mqtt.ids``), so a device that gets a
command twice executes it once and acks it twice. Un-acked commands are re-sent after 1, 2, 4
and 8 s (a first retry much sooner than 1 s turns a busy moment into a retry storm); after the
last try the failure is counted on the device and the command dropped: the device's next birth
or rebirth request re-sends its whole desired state anyway. A newer desired state for the same
device replaces an older one still waiting for its ack (only the newest state matters), so a
flapping display never builds a backlog."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from firmware_protocols import mqtt_v1 as proto

RETRY_DELAYS_S: Final = (1.0, 2.0, 4.0, 8.0)


@dataclass(slots=True)
class Pending:
    device: str
    message: proto.DownMessage
    tries: int
    due: float
    replaces_state: bool
    sent_at: float = 0.0  # first send, for the command-to-ack latency


class OutboundCommands:
    """What was sent and not yet acknowledged; the hub asks it what to re-send and when."""

    def __init__(self, delays: tuple[float, ...] = RETRY_DELAYS_S) -> None:
        self._delays = delays
        self._pending: dict[int, Pending] = {}
        self._by_device: dict[str, set[int]] = {}  # device -> ids of its pending commands
        self._state_command: dict[str, int] = {}  # device -> id of its pending Show
        self.sent = 0
        self.retried = 0
        self.failed = 0
        self.acked = 0
        self.observe_ack: Callable[[float], None] | None = None

    def __len__(self) -> int:
        return len(self._pending)

    def track(self, device: str, message: proto.DownMessage, now: float) -> None:
        command_id = message.id
        is_state = isinstance(message, proto.Show)
        if is_state:
            older = self._state_command.pop(device, None)
            if older is not None:
                self._drop(older)
            self._state_command[device] = command_id
        self._pending[command_id] = Pending(
            device, message, 1, now + self._delays[0], is_state, now
        )
        self._by_device.setdefault(device, set()).add(command_id)
        self.sent += 1

    def _drop(self, command_id: int) -> Pending | None:
        pending = self._pending.pop(command_id, None)
        if pending is not None:
            ids = self._by_device.get(pending.device)
            if ids is not None:
                ids.discard(command_id)
        return pending

    def ack(self, device: str, command_id: int, now: float | None = None) -> bool:
        """True when the ack matched a pending command of that device. ``now`` (same clock as
        ``track``): report the command-to-ack time to ``observe_ack`` (the metrics)."""
        pending = self._pending.get(command_id)
        if pending is None or pending.device != device:
            return False
        if now is not None and self.observe_ack is not None:
            self.observe_ack(now - pending.sent_at)
        self._drop(command_id)
        if pending.replaces_state and self._state_command.get(device) == command_id:
            del self._state_command[device]
        self.acked += 1
        return True

    def pending(self, device: str, command_id: int) -> proto.DownMessage | None:
        """The device's unacknowledged command ``command_id``, if there is one."""
        pending = self._pending.get(command_id)
        return pending.message if pending is not None and pending.device == device else None

    def forget_device(self, device: str) -> None:
        """The device went offline: its birth will bring a full re-send."""
        for command_id in self._by_device.pop(device, set()):
            self._pending.pop(command_id, None)
        self._state_command.pop(device, None)

    def due(self, now: float) -> Iterator[tuple[str, proto.DownMessage, bool]]:
        """Commands to re-send now, and ``(device, message, gave_up=True)`` for failures."""
        for command_id, pending in list(self._pending.items()):
            if pending.due > now:
                continue
            if pending.tries >= len(self._delays) + 1:
                self._drop(command_id)
                if self._state_command.get(pending.device) == command_id:
                    del self._state_command[pending.device]
                self.failed += 1
                yield pending.device, pending.message, True
                continue
            pending.due = now + self._delays[min(pending.tries, len(self._delays) - 1)]
            pending.tries += 1
            self.retried += 1
            yield pending.device, pending.message, False
