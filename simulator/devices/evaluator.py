"""Simulated evaluator pad (评价器): invites, one press per invite, the rating outbox.

An applied ``invite`` state opens an invitation for its ticket: listeners (the simulated
citizen) may ``press`` once within ``seconds``; when the time runs out with no press, the pad
sends ``RatingTimeout``. The countdown runs on the simulation clock (``time_scale`` real seconds
per pad second), so a compressed run keeps the citizen's delay and the invite in proportion.

A press becomes a ``Rating`` with a ``rating_id`` made once on the pad. It goes into the outbox,
which keeps it across lost connections and re-sends it (same rating_id, fresh rid after a
reconnect) until the controller replies. ``lose_link_on_next_press`` is the fault "the pad
loses its link while holding a rating": the link drops just before the rating is sent.

With a ``key`` the pad signs every rating and rating_timeout (``firmware_protocols.rating_mac``)
with a counter that grows per message. A real pad keeps the counter in flash; the simulated one
starts it at the wall clock in milliseconds, so a second run against the same log still counts
upwards. The signature is made once, at the press, and kept on every re-send.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from firmware_protocols import mqtt_v1 as proto
from firmware_protocols import rating_mac
from firmware_protocols.rating_mac import DeviceKey
from simulator.devices.base import SimDevice
from simulator.devices.connection import Endpoint
from simulator.devices.requests import RETRY_AFTER, Outbox, OutboxEntry


@dataclass(slots=True)
class Invite:
    ticket: int
    seconds: int
    reasons: tuple[proto.ReasonTag, ...]
    pressed: bool = False
    timed_out: bool = False


@dataclass(frozen=True, slots=True)
class PressedRating:
    rating_id: str
    ticket: int
    level: proto.RatingLevel
    reasons: tuple[str, ...]


@dataclass(slots=True)
class TimeoutRecord:
    ticket: int
    reply: proto.Reply | None = None


@dataclass(slots=True)
class LinkLossPlan:
    offline_for: float
    fired: bool = False
    fired_with: list[str] = field(default_factory=list)


InviteListener = Callable[["SimEvaluator", Invite], None]


class SimEvaluator(SimDevice):
    kind = proto.DeviceKind.EVALUATOR

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        window: int,
        time_scale: float = 1.0,
        retry_after: float = RETRY_AFTER,
        key: DeviceKey | None = None,
    ) -> None:
        super().__init__(endpoint, retry_after=retry_after)
        self.window = window
        self.key = key
        self.hall_id = endpoint.hall
        self.counter = time.time_ns() // 1_000_000
        self.time_scale = time_scale
        self.state: proto.EvaluatorState | None = None
        self.invite: Invite | None = None
        self.invites: list[Invite] = []
        self.pressed: list[PressedRating] = []
        self.timeouts: list[TimeoutRecord] = []
        self.invite_listeners: list[InviteListener] = []
        self.link_loss: LinkLossPlan | None = None
        self._epoch = 0
        self.outbox = Outbox(self.requests, lambda: self._epoch)
        self._rating_prefix = f"{self.id[:40]}-{secrets.token_hex(4)}"
        self._ratings_made = 0
        self._timer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.outbox.start()
        await super().start()

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        await self.outbox.close()
        await super().close()

    def on_connected(self, session: int) -> None:
        self._epoch += 1
        self.outbox.nudge()

    # --- state ---------------------------------------------------------------------------------

    def accepts(self, state: proto.DeviceState) -> bool:
        return isinstance(state, proto.EvaluatorState)

    def apply(self, state: proto.DeviceState) -> None:
        assert isinstance(state, proto.EvaluatorState)
        self.state = state
        if state.mode is proto.EvaluatorMode.INVITE and state.ticket is not None:
            if self.invite is not None and self.invite.ticket == state.ticket:
                return  # the same invite shown again (e.g. after a rebirth)
            self._open(Invite(state.ticket, state.seconds, tuple(state.reasons)))
        elif self.invite is not None:
            self._close_invite()

    def _open(self, invite: Invite) -> None:
        self._close_invite()
        self.invite = invite
        self.invites.append(invite)
        self._timer = asyncio.create_task(self._countdown(invite), name=f"invite-{self.id}")
        for listener in self.invite_listeners:
            listener(self, invite)

    def _close_invite(self) -> None:
        self.invite = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _countdown(self, invite: Invite) -> None:
        await asyncio.sleep(invite.seconds * self.time_scale)
        if self.invite is not invite or invite.pressed:
            return
        invite.timed_out = True
        self.invite = None
        record = TimeoutRecord(invite.ticket)
        self.timeouts.append(record)
        signed = self._sign(proto.RatingTimeout(rid=0, ticket=invite.ticket))
        record.reply, _ = await self.requests.send(
            lambda rid: msgspec.structs.replace(signed, rid=rid)
        )

    # --- the citizen's press -------------------------------------------------------------------

    def press(self, level: proto.RatingLevel, reasons: tuple[str, ...] = ()) -> bool:
        """Press a level on the open invite; False when there is none or it was pressed."""
        invite = self.invite
        if invite is None or invite.pressed or invite.timed_out:
            return False
        invite.pressed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._ratings_made += 1
        rating = PressedRating(
            rating_id=f"{self._rating_prefix}-{self._ratings_made}",
            ticket=invite.ticket,
            level=level,
            reasons=reasons,
        )
        self.pressed.append(rating)
        plan = self.link_loss
        if plan is not None and not plan.fired:
            plan.fired = True
            plan.fired_with.append(rating.rating_id)
            self.drop(plan.offline_for)
        self.outbox.put(self._entry(rating))
        return True

    def _entry(self, rating: PressedRating) -> OutboxEntry:
        loop = asyncio.get_running_loop()
        created = loop.time()

        signed = self._sign(
            proto.Rating(
                rid=0,
                rating_id=rating.rating_id,
                ticket=rating.ticket,
                level=rating.level,
                reasons=list(rating.reasons),
            )
        )

        def make(rid: int) -> proto.Rating:
            age_ms = int((loop.time() - created) * 1000)
            return msgspec.structs.replace(signed, rid=rid, age_ms=age_ms)

        return OutboxEntry(key=rating.rating_id, make=make, created=created)

    def _sign(self, message: rating_mac.S) -> rating_mac.S:
        """Signed with the next counter (unsigned when the pad has no key)."""
        if self.key is None:
            return message
        self.counter += 1
        return rating_mac.sign(self.key, self.hall_id, self.id, self.counter, message)

    def lose_link_on_next_press(self, offline_for: float) -> LinkLossPlan:
        self.link_loss = LinkLossPlan(offline_for)
        return self.link_loss

    async def settle(self, within: float) -> bool:
        """Wait until the outbox is empty; False if it is not within ``within`` seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self.outbox.drained()
                return True
        return False
