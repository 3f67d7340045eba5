"""SimDevice: what every simulated MQTT device does, whatever its family.

It owns a ``DeviceConnection`` (sessions, will, birth, reconnects) and a ``RequestTracker``
(rids, re-sends), and implements the command side of the contract:

- ``show``: applied only when its ``ver`` is newer than the shown one; always acked.
- every command (show, print_ticket, rebirth) is acked with ``Ack(id)``; a repeated id gets the
  remembered ack again without being executed again.
- ``rebirth``: publish the birth again (same session) and ack.
- a new controller birth on the controller status topic (the controller restarted) makes the
  device send ``RebirthRequest`` so it gets its desired state again.

Families subclass it and override ``accepts`` / ``apply`` (the state they show) and, for the
kiosk, ``execute`` (printing).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from firmware_protocols import mqtt_v1 as proto
from simulator.devices.connection import DeviceConnection, Endpoint
from simulator.devices.requests import RETRY_AFTER, RequestTracker

log = logging.getLogger(__name__)

ACK_MEMORY = 64  # docs/protocol/mqtt.md 6.1: the last 64 command ids
PROTOCOL_ERROR_CODES = frozenset(
    {"bad_payload", "wrong_version", "unknown_device", "rate_limited", "not_allowed_for_kind"}
)

Command = proto.Show | proto.PrintTicket | proto.Rebirth


@dataclass(slots=True)
class DeviceStats:
    shows_applied: int = 0
    shows_stale: int = 0  # ver not newer than the shown one: acked, not applied
    commands: int = 0  # distinct command ids executed
    duplicate_commands: int = 0  # re-acked without executing
    acks_failed: int = 0  # acks with ok=False
    decode_errors: int = 0
    protocol_errors: int = 0  # Replies with a protocol error code
    rebirth_requests: int = 0
    rebirths: int = 0  # Rebirth commands obeyed
    errors: list[str] = field(default_factory=list)


class SimDevice:
    """See the module docstring."""

    kind: proto.DeviceKind

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        retry_after: float = RETRY_AFTER,
    ) -> None:
        if endpoint.kind is not self.kind:
            raise ValueError(f"{type(self).__name__} cannot play a {endpoint.kind.value}")
        self.id = endpoint.device
        self.endpoint = endpoint
        self.link = DeviceConnection(
            endpoint, on_message=self._on_message, on_connected=self._connected
        )
        self.requests = RequestTracker(
            self._publish_up,
            lambda: self.link.session,
            self.link.wait_connected,
            retry_after=retry_after,
        )
        self.ver = 0  # version of the state shown; 0 = nothing since power-on
        self.stats = DeviceStats()
        self.acks: OrderedDict[int, proto.Ack] = OrderedDict()
        self.controller_session: int | None = None
        self.controller_online = False
        self.listeners: list[Callable[[proto.DeviceState], None]] = []

    # --- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self.link.start()

    async def close(self) -> None:
        await self.link.close()

    @property
    def online(self) -> bool:
        return self.link.connected

    def drop(self, offline_for: float) -> None:
        """Unclean connection loss (the broker publishes the will)."""
        self.link.drop(offline_for)

    def request_rebirth(self) -> bool:
        """Ask the controller for the full desired state (e.g. after a display reboot)."""
        self.stats.rebirth_requests += 1
        return self._publish_up(proto.RebirthRequest())

    # --- hooks for families --------------------------------------------------------------------

    def accepts(self, state: proto.DeviceState) -> bool:
        """Whether this family can show ``state``."""
        return False

    def apply(self, state: proto.DeviceState) -> None:
        """Show ``state`` (already checked by ``accepts`` and ``ver``)."""

    def execute(self, command: proto.PrintTicket) -> proto.Ack:
        """Families that print override this; others do not know the command."""
        return proto.Ack(id=command.id, ok=False, code=proto.AckError.UNSUPPORTED)

    def on_connected(self, session: int) -> None:
        """After every connect and birth (the kiosk reports its printer here)."""

    # --- inbound -------------------------------------------------------------------------------

    def _connected(self, session: int) -> None:
        self.on_connected(session)

    def _publish_up(self, message: proto.UpMessage) -> bool:
        return self.link.publish(message)

    def _on_message(self, topic: str, payload: bytes) -> None:
        try:
            if topic == self.link.controller_status:
                self._controller_status(proto.decode_status(payload))
                return
            message = proto.decode_down(payload)
        except proto.PayloadError as exc:
            self.stats.decode_errors += 1
            self.stats.errors.append(f"bad payload on {topic}: {exc}")
            log.warning("%s: bad payload on %s: %s", self.id, topic, exc)
            return
        if isinstance(message, proto.Reply):
            if message.code in PROTOCOL_ERROR_CODES:
                self.stats.protocol_errors += 1
                self.stats.errors.append(f"reply {message.rid}: {message.code} {message.text}")
            self.requests.resolve(message)
            return
        self._command(message)

    def _command(self, command: Command) -> None:
        known = self.acks.get(command.id)
        if known is not None:
            self.stats.duplicate_commands += 1
            self._publish_up(known)
            return
        self.stats.commands += 1
        if isinstance(command, proto.Show):
            ack = self._show(command)
        elif isinstance(command, proto.Rebirth):
            self.stats.rebirths += 1
            self.link.publish(self.link.birth(), status=True)
            self.on_connected(self.link.session)
            ack = proto.Ack(id=command.id, ok=True)
        else:
            ack = self.execute(command)
        if not ack.ok:
            self.stats.acks_failed += 1
        self.acks[command.id] = ack
        while len(self.acks) > ACK_MEMORY:
            self.acks.popitem(last=False)
        self._publish_up(ack)

    def _show(self, show: proto.Show) -> proto.Ack:
        if not self.accepts(show.state):
            return proto.Ack(
                id=show.id,
                ok=False,
                code=proto.AckError.UNSUPPORTED,
                text=f"a {self.kind.value} cannot show {type(show.state).__name__}",
            )
        if show.ver <= self.ver:
            self.stats.shows_stale += 1
            return proto.Ack(id=show.id, ok=True)
        self.ver = show.ver
        self.stats.shows_applied += 1
        self.apply(show.state)
        for listener in self.listeners:
            listener(show.state)
        return proto.Ack(id=show.id, ok=True)

    def _controller_status(self, message: proto.Birth | proto.Will) -> None:
        if isinstance(message, proto.Will):
            self.controller_online = False
            return
        self.controller_online = True
        previous, self.controller_session = self.controller_session, message.session
        if previous is not None and previous != message.session:
            # The controller was born again: it may have lost what it sent us.
            self.request_rebirth()
