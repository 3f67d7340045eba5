"""A bare MQTT device for hub tests: speaks protocol v1 by hand, records what it is sent.

Deliberately not the simulator's device classes: these tests check the controller against the
protocol document, so the peer is as thin as the document allows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import gmqtt  # type: ignore[import-untyped]

from devices.mqtt.identity import device_client_id
from firmware_protocols import mqtt_v1 as proto
from firmware_protocols import rating_mac
from firmware_protocols.rating_mac import DeviceKey


async def subscribe_acked(client: Any, topic: str, qos: int = 1, within: float = 5.0) -> None:
    """Subscribe and return once the broker's SUBACK is in: what is published after this
    reaches ``client`` (a fixed sleep would be a guess that fails on a busy machine)."""
    subscription = gmqtt.Subscription(topic, qos=qos)
    client.subscribe(subscription)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not subscription.acknowledged:
        if loop.time() > deadline:
            raise AssertionError(f"no SUBACK for {topic!r} within {within} s")
        await asyncio.sleep(0.005)


class FakeDevice:
    """``device``'s topics; ``login`` (user name, password) is whose identity it logs in with:
    its own, or another device's for the attack tests (docs/security.md)."""

    def __init__(
        self,
        host: str,
        port: int,
        hall: str,
        device: str,
        kind: str,
        login: tuple[str, str] | None = None,
    ) -> None:
        self.host, self.port, self.hall, self.device = host, port, hall, device
        self.login = login
        self.kind = proto.DeviceKind(kind)
        self.session = 0
        self.received: list[proto.DownMessage] = []
        self._changed = asyncio.Event()
        self.client: Any = None
        self.rid = 0
        self.auto_ack = True
        self.drop_shows = False  # lose every show (a display behind a bad link)
        self.dropped_shows = 0
        self.key: DeviceKey | None = None  # a pad's signing key (docs/protocol/mqtt.md 6.5)
        self.counter = 0

    def signed(self, message: rating_mac.S, counter: int | None = None) -> rating_mac.S:
        """``message`` signed with the pad's key and its next counter (or ``counter``)."""
        assert self.key is not None, "this fake device has no key"
        if counter is None:
            self.counter += 1
            counter = self.counter
        return rating_mac.sign(self.key, self.hall, self.device, counter, message)

    async def connect(self, *, birth: bool = True) -> None:
        self.session += 1
        will = gmqtt.Message(
            proto.status_topic(self.hall, self.device),
            proto.encode(proto.Will(session=self.session)),
            qos=1,
            retain=True,
        )
        self.client = gmqtt.Client(device_client_id(self.hall, self.device), will_message=will)
        self.client.on_message = self._on_message
        if self.login is not None:
            self.client.set_auth_credentials(*self.login)
        await self.client.connect(self.host, self.port, keepalive=30)
        await subscribe_acked(self.client, proto.down_topic(self.hall, self.device))
        if birth:
            self.birth()

    def birth(self) -> None:
        self.client.publish(
            proto.status_topic(self.hall, self.device),
            proto.encode(proto.Birth(session=self.session, kind=self.kind, fw="fake-1.0")),
            qos=1,
            retain=True,
        )

    async def drop(self) -> None:
        """Unclean disconnect: the broker publishes our will."""
        transport = self.client._connection._transport
        transport.abort()
        await asyncio.sleep(0.1)

    async def disconnect(self) -> None:
        await self.client.disconnect()

    def _on_message(self, client: Any, topic: str, payload: bytes, qos: int, props: Any) -> int:
        message = proto.decode_down(payload)
        if self.drop_shows and isinstance(message, proto.Show):
            self.dropped_shows += 1  # lost on the way: never seen, never acked
            return 0
        self.received.append(message)
        if self.auto_ack and isinstance(message, proto.Show | proto.PrintTicket | proto.Rebirth):
            self.send(proto.Ack(id=message.id, ok=True))
        if self.auto_ack and isinstance(message, proto.Rebirth):
            self.birth()  # re-announce the same session (protocol 3.2)
        self._changed.set()
        return 0

    def send(self, message: proto.UpMessage, qos: int = 1) -> None:
        self.client.publish(proto.up_topic(self.hall, self.device), proto.encode(message), qos=qos)

    def send_raw(self, payload: bytes) -> None:
        self.client.publish(proto.up_topic(self.hall, self.device), payload, qos=1)

    def next_rid(self) -> int:
        self.rid += 1
        return self.rid

    async def wait_for(
        self, predicate: Callable[[proto.DownMessage], bool], within: float = 3.0
    ) -> proto.DownMessage:
        async with asyncio.timeout(within):
            while True:
                for message in reversed(self.received):
                    if predicate(message):
                        return message
                self._changed.clear()
                await self._changed.wait()

    async def reply_to(self, rid: int, within: float = 3.0) -> proto.Reply:
        reply = await self.wait_for(lambda m: isinstance(m, proto.Reply) and m.rid == rid, within)
        assert isinstance(reply, proto.Reply)
        return reply

    def last_state(self) -> Any:
        shows = [m for m in self.received if isinstance(m, proto.Show)]
        return shows[-1].state if shows else None

    async def state_where(self, predicate: Callable[[Any], bool], within: float = 3.0) -> Any:
        show = await self.wait_for(
            lambda m: isinstance(m, proto.Show) and predicate(m.state), within
        )
        assert isinstance(show, proto.Show)
        return show.state
