"""The attacks of issue 11 against a real Mosquitto run as a hall's broker (docs/security.md).

Each attacker is a real MQTT client holding a real device's password (a compromised device, or
its password copied by a clerk), or none (a laptop in the waiting area). Every attack is shown
to fail where it must: the broker refuses the login, the publish or the subscription, and the
controller never sees the message; then a positive control on the same connection proves the
attacker was really connected and heard (no test here passes because nothing happened).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import gmqtt  # type: ignore[import-untyped]
import pytest

from devices.mqtt.identity import Identity, controller_client_id, device_client_id
from devices.mqtt.link import LinkConfig, MqttLink
from devices.mqtt.mosquitto_process import MosquittoProcess, try_login
from devices.mqtt.tls import client_context
from firmware_protocols import mqtt_v1 as proto
from tests.devices.fake_device import FakeDevice
from tests.devices.test_hub import Hall, hall, press, until

__all__ = ["hall"]  # the fixture, imported for these tests

P = proto.PressOp
NOT_AUTHORIZED = 0x87


class Attacker:
    """A raw MQTT client logged in as ``login_as`` (or anonymous), free to try any topic."""

    def __init__(
        self,
        broker: MosquittoProcess,
        login_as: str | None,
        client_id: str,
        will: gmqtt.Message | None = None,
    ) -> None:
        self.broker = broker
        self.login_as = login_as
        self.client = gmqtt.Client(client_id, will_message=will)
        self.received: list[tuple[str, bytes]] = []
        self.client.on_message = self._on_message

    async def connect(self) -> None:
        if self.login_as is not None:
            self.client.set_auth_credentials(*self.broker.login(Identity("demo", self.login_as)))
        await self.client.connect(self.broker.host, self.broker.port, keepalive=30)

    def send(self, device: str, message: proto.UpMessage) -> None:
        self.client.publish(proto.up_topic("demo", device), proto.encode(message), qos=1)

    def _on_message(self, client: Any, topic: str, payload: bytes, qos: int, props: Any) -> int:
        self.received.append((topic, payload))
        return 0

    async def close(self) -> None:
        await self.client.disconnect()


@pytest.fixture
async def attackers(hall: Hall) -> AsyncIterator[Callable[..., Any]]:
    made: list[Attacker] = []

    async def make(login_as: str | None, client_id: str = "attacker") -> Attacker:
        attacker = Attacker(hall.broker, login_as, client_id)
        made.append(attacker)
        await attacker.connect()
        return attacker

    yield make
    for attacker in made:
        if attacker.client.is_connected:
            await attacker.close()


async def invite_on_pad_1(hall: Hall) -> tuple[FakeDevice, FakeDevice]:
    """Ticket A001 served at window 1 and finished: pad-1 invites its citizen to rate."""
    kiosk = await hall.device("kiosk-1", "kiosk")
    caller = await hall.device("caller-1", "caller")
    pad = await hall.device("pad-1", "evaluator")
    kiosk.send(proto.TakeTicket(rid=1, service="A"))
    assert (await kiosk.reply_to(1)).ok
    assert (await press(caller, P.LOGIN, staff="1001")).ok
    assert (await press(caller, P.CALL_NEXT)).ok
    assert (await press(caller, P.FINISH)).ok
    await pad.state_where(lambda s: s.mode is proto.EvaluatorMode.INVITE)
    return caller, pad


async def heard(hall: Hall, attacker: Attacker, own: str) -> None:
    """Positive control: a press the attacker sends on its OWN topic reaches the hub (and is
    refused for its kind). The broker handles one connection's packets in order, so a forged
    message sent before it has been decided by then."""
    before = hall.hub.stats.wrong_kind + hall.hub.stats.requests
    attacker.send(own, proto.Press(rid=999, op=P.ONE_METRE_LINE))
    await until(lambda: hall.hub.stats.wrong_kind + hall.hub.stats.requests > before)


async def _no_reconnect(*args: object, **kwargs: object) -> None:
    return None


# --- logins --------------------------------------------------------------------------------


async def test_a_wrong_password_or_no_login_is_refused(mosquitto: MosquittoProcess) -> None:
    granted = mosquitto.grant([Identity("demo", "pad-1")])
    user = device_client_id("demo", "pad-1")
    assert try_login(mosquitto.host, mosquitto.port, user, granted[Identity("demo", "pad-1")]) == 0
    assert try_login(mosquitto.host, mosquitto.port, user, "guessed-password") == 5
    assert try_login(mosquitto.host, mosquitto.port, "", "") == 5
    laptop = gmqtt.Client("laptop")
    with pytest.raises(gmqtt.MQTTConnectError) as refused:
        await laptop.connect(mosquitto.host, mosquitto.port)
    assert refused.value._code in (0x86, NOT_AUTHORIZED)


async def test_a_rotated_password_stops_working(mosquitto: MosquittoProcess) -> None:
    """A replaced (stolen, lost) device: its session ends at the reload, its password dies."""
    pad = Identity("demo", "pad-1")
    old = mosquitto.grant([pad])[pad]
    stolen = gmqtt.Client("stolen")
    ended = asyncio.Event()
    stolen.on_disconnect = lambda *args, **kwargs: ended.set()
    stolen.set_auth_credentials(pad.client_id, old)
    await stolen.connect(mosquitto.host, mosquitto.port, keepalive=30)
    stolen.reconnect = _no_reconnect  # gmqtt would otherwise try again by itself
    new = await asyncio.to_thread(mosquitto.rotate, pad)
    async with asyncio.timeout(5):
        await ended.wait()
    assert try_login(mosquitto.host, mosquitto.port, pad.client_id, old) == 5
    assert try_login(mosquitto.host, mosquitto.port, pad.client_id, new) == 0


async def test_the_controller_connects_over_tls_with_the_generated_ca(
    mosquitto: MosquittoProcess,
) -> None:
    assert mosquitto.tls_port is not None and mosquitto.tls_files is not None
    mosquitto.grant([Identity("demo")])
    user, password = mosquitto.login(Identity("demo"))
    config = LinkConfig(
        host="localhost",
        port=mosquitto.tls_port,
        hall="demo",
        username=user,
        password=password,
        tls=client_context(mosquitto.tls_files.ca_file),
    )
    async with MqttLink(config) as link:
        async with asyncio.timeout(5):
            await link.wait_connected()
        assert link.refusal is None and link.stats.connects == 1
    # A client that does not trust the hall's CA does not talk to this broker at all.
    stranger = gmqtt.Client("stranger")
    with pytest.raises(ssl.SSLError):
        await stranger.connect(
            "localhost", mosquitto.tls_port, ssl=ssl.create_default_context(), keepalive=5
        )


async def test_a_refused_controller_login_is_reported_not_retried_silently(
    mosquitto: MosquittoProcess,
) -> None:
    mosquitto.grant([Identity("demo")])
    config = LinkConfig(
        host=mosquitto.host, port=mosquitto.port, hall="demo", username="c/demo", password="bad"
    )
    async with MqttLink(config) as link:
        await until(lambda: link.refusal is not None)
        assert link.refusal is not None and link.refusal.reason in (
            "bad_credentials",
            "not_authorized",
        )
        assert not link.connected and link.stats.refused >= 1


# --- the attacks of issue 11 ----------------------------------------------------------------


async def test_forged_bad_rating_as_another_windows_pad_fails(hall: Hall, attackers: Any) -> None:
    _, pad = await invite_on_pad_1(hall)
    attacker = await attackers("pad-2")  # window 2's pad, or its password
    attacker.send(
        "pad-1",
        proto.Rating(
            rid=1, rating_id="forged", ticket=1, level=proto.RatingLevel.VERY_DISSATISFIED
        ),
    )
    await heard(hall, attacker, "pad-2")
    state = hall.daemon.halls["demo"].state
    assert state.tickets[1].rating is None and state.totals.rated == 0
    # The citizen's own press on the real pad (signed, as pads sign) is taken (no
    # `already_evaluated`).
    pad.send(
        pad.signed(proto.Rating(rid=2, rating_id="r1", ticket=1, level=proto.RatingLevel.SATISFIED))
    )
    assert (await pad.reply_to(2)).ok
    assert hall.daemon.halls["demo"].state.tickets[1].rating is not None


async def test_fake_rating_timeout_fails(hall: Hall, attackers: Any) -> None:
    _, pad = await invite_on_pad_1(hall)
    attacker = await attackers("kiosk-1")
    attacker.send("pad-1", proto.RatingTimeout(rid=1, ticket=1))
    await heard(hall, attacker, "kiosk-1")
    assert hall.daemon.halls["demo"].state.totals.not_evaluated == 0
    pad.send(
        pad.signed(proto.Rating(rid=2, rating_id="r1", ticket=1, level=proto.RatingLevel.SATISFIED))
    )
    assert (await pad.reply_to(2)).ok


async def test_fake_will_cannot_mark_a_live_device_offline(hall: Hall, attackers: Any) -> None:
    led = await hall.device("led-1", "window_display")
    await led.state_where(lambda s: True)
    status = hall.hub.availability.devices["led-1"]
    assert status.online
    # 1. A will on led-1's status topic, set by another identity. Mosquitto 2.0 checks a will
    #    against the ACL when it would publish it: it is dropped when the connection dies.
    will = gmqtt.Message(
        proto.status_topic("demo", "led-1"), proto.encode(proto.Will(session=1)), retain=True
    )
    forger = Attacker(hall.broker, "kiosk-1", "forger", will)
    await forger.connect()
    forger.client._connection._transport.abort()  # unclean: the broker would send the will
    # The real kiosk-1 logs in next (same client id): by its CONNACK the broker has dealt with
    # the forger's will, and its birth reaches the hub after whatever that will did.
    kiosk = await hall.device("kiosk-1", "kiosk")
    await until(lambda: hall.hub.availability.devices["kiosk-1"].online)
    assert hall.hub.availability.devices["led-1"].online
    await kiosk.disconnect()
    # 2. Publishing the will directly, retained: dropped by the broker.
    attacker = await attackers("kiosk-1")
    attacker.client.publish(
        proto.status_topic("demo", "led-1"),
        proto.encode(proto.Will(session=status.session)),
        qos=1,
        retain=True,
    )
    await heard(hall, attacker, "kiosk-1")
    assert hall.hub.availability.devices["led-1"].online


async def test_ticket_exhaustion_from_a_non_kiosk_identity_fails(
    hall: Hall, attackers: Any
) -> None:
    attacker = await attackers("caller-1")
    for rid in range(1, 16):  # within the broker's receive window of 20
        attacker.send("kiosk-1", proto.TakeTicket(rid=rid, service="A"))
    await heard(hall, attacker, "caller-1")
    # On its own topic the hub refuses: a keypad does not issue tickets.
    before = hall.hub.stats.wrong_kind
    attacker.send("caller-1", proto.TakeTicket(rid=50, service="A"))
    await until(lambda: hall.hub.stats.wrong_kind > before)
    assert hall.daemon.halls["demo"].state.totals.issued == 0


async def test_logging_out_another_windows_keypad_fails(hall: Hall, attackers: Any) -> None:
    caller = await hall.device("caller-1", "caller")
    assert (await press(caller, P.LOGIN, staff="1001")).ok
    attacker = await attackers("pad-2")
    attacker.send("caller-1", proto.Press(rid=7, op=P.LOGOUT))
    await heard(hall, attacker, "pad-2")
    window = hall.daemon.halls["demo"].state.windows[1]
    assert window.staff == "1001"
    assert (await press(caller, P.CALL_NEXT)).code != "window_logged_out"


async def test_reading_another_devices_commands_fails(hall: Hall, attackers: Any) -> None:
    pad = await hall.device("pad-1", "evaluator")
    await pad.state_where(lambda s: True)
    attacker = await attackers("pad-2")
    refused = gmqtt.Subscription(proto.down_topic("demo", "pad-1"), qos=1)
    own = gmqtt.Subscription(proto.down_topic("demo", "pad-2"), qos=1)
    attacker.client.subscribe([refused, own])
    await until(lambda: own.acknowledged)
    pad.received.clear()
    pad.send(proto.RebirthRequest())
    # Its own birth, which the controller answers with a show on pad-2's down topic.
    attacker.client.publish(
        proto.status_topic("demo", "pad-2"),
        proto.encode(proto.Birth(session=1, kind=proto.DeviceKind.EVALUATOR, fw="x")),
        qos=1,
        retain=True,
    )
    await pad.state_where(lambda s: True)
    await until(lambda: any(t.endswith("pad-2/down") for t, _ in attacker.received))
    assert not [t for t, _ in attacker.received if t.endswith("/pad-1/down")]


async def test_taking_over_the_controllers_client_id_fails(hall: Hall, attackers: Any) -> None:
    link = hall.hub.link
    connects = link.stats.connects  # type: ignore[attr-defined]
    # Without a login: refused. With a device's login: the broker names it after its user.
    with pytest.raises(gmqtt.MQTTConnectError):
        await attackers(None, controller_client_id("demo"))
    attacker = await attackers("kiosk-1", controller_client_id("demo"))
    attacker.send("kiosk-1", proto.TakeTicket(rid=1, service="A"))  # a round trip through us
    await until(lambda: hall.daemon.halls["demo"].state.totals.issued == 1)
    assert link.connected and link.stats.connects == connects  # type: ignore[attr-defined]


def test_every_test_named_in_security_md_exists() -> None:
    """docs/security.md lists each attack with its test; a renamed test must not orphan it."""
    root = Path(__file__).resolve().parents[2]
    doc = (root / "docs" / "security.md").read_text(encoding="utf-8")
    named = re.findall(r"`(?:(tests/[\w/]+\.py)|…)(?:::(test_\w+))?`", doc)
    assert len(named) >= 12
    module = "tests/devices/test_broker_security.py"
    for path, test in named:
        source = (root / (path or module)).read_text(encoding="utf-8")
        if test:
            assert f"def {test}(" in source, (path or module, test)
