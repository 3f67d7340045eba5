"""MqttLink against a real private mosquitto: traffic, availability, reconnects, drop policy."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import gmqtt
import pytest

from devices.mqtt import (
    BackoffPolicy,
    Inbound,
    LinkBusy,
    LinkConfig,
    LinkDown,
    LinkState,
    MqttLink,
)
from devices.mqtt.identity import Identity
from devices.mqtt.mosquitto_process import MosquittoProcess, free_port
from firmware_protocols import mqtt_v1 as p
from tests.devices.fake_device import subscribe_acked

ROOT = Path(__file__).resolve().parents[3]
FAST = BackoffPolicy(initial=0.05, factor=2.0, cap=0.4, jitter=0.5)
HALL = "main"


class Peer:
    """A bare MQTT client standing in for a device or an observer; collects what it receives."""

    def __init__(self, login: tuple[str, str] | None = None) -> None:
        self.client = gmqtt.Client(f"peer-{uuid.uuid4().hex[:8]}")
        if login is not None:  # the broker then names the client after its user
            self.client.set_auth_credentials(*login)
        self.received: asyncio.Queue[tuple[str, bytes, bool]] = asyncio.Queue()
        self.client.on_message = self._on_message

    def _on_message(self, client: Any, topic: str, payload: bytes, qos: int, props: Any) -> int:
        self.received.put_nowait((topic, payload, bool(props.get("retain", 0))))
        return 0

    async def next(self, within: float = 3.0) -> tuple[str, bytes, bool]:
        return await asyncio.wait_for(self.received.get(), within)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain)


@asynccontextmanager
async def peer(
    broker: MosquittoProcess, *topics: str, device_id: str = "kp-1"
) -> AsyncIterator[Peer]:
    """A peer logged in as device ``device_id`` of the hall (on a secured broker)."""
    login = None
    if broker.secure:
        identity = Identity(HALL, device_id)
        await asyncio.to_thread(broker.grant, [identity])
        login = broker.login(identity)
    device = Peer(login)
    await device.client.connect(broker.host, broker.port)
    for topic in topics:
        await subscribe_acked(device.client, topic)  # before the test publishes
    try:
        yield device
    finally:
        await device.client.disconnect()


def controller_login(broker: MosquittoProcess) -> tuple[str, str]:
    if not broker.secure:
        return "", ""
    broker.grant([Identity(HALL)])
    return broker.login(Identity(HALL))


def link_for(broker: MosquittoProcess, **kwargs: Any) -> MqttLink:
    handler = kwargs.pop("handler", None)
    username, password = controller_login(broker)
    config = LinkConfig(
        host=broker.host,
        port=broker.port,
        hall=HALL,
        backoff=FAST,
        username=username,
        password=password,
        **kwargs,
    )
    return MqttLink(config, handler=handler)


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def next_status(observer: Peer) -> p.StatusMessage:
    topic, payload, _ = await observer.next()
    assert topic == p.controller_status_topic(HALL)
    return p.decode_status(payload)


# --- traffic ----------------------------------------------------------------------------------


async def test_press_in_reply_out(mosquitto: MosquittoProcess) -> None:
    async with link_for(mosquitto) as link:
        await asyncio.wait_for(link.wait_connected(), 3)
        async with peer(mosquitto, p.down_topic(HALL, "kp-1")) as device:
            press = p.Press(rid=5, op=p.PressOp.CALL_NEXT)
            device.publish(p.up_topic(HALL, "kp-1"), p.encode(press))
            assert link.inbound is not None
            got = await asyncio.wait_for(link.inbound.get(), 3)
            assert got == Inbound(HALL, "kp-1", p.Channel.UP, press, retained=False)

            reply = p.Reply(id=1, rid=5, ok=True, number="A001")
            link.publish("kp-1", reply)
            topic, payload, _ = await device.next()
            assert topic == p.down_topic(HALL, "kp-1")
            assert p.decode_down(payload) == reply
        assert link.stats.published >= 2  # the birth and the reply
        assert link.stats.delivered == 1


async def test_retained_device_status_is_delivered_as_retained(
    mosquitto: MosquittoProcess,
) -> None:
    async with peer(mosquitto, p.status_topic(HALL, "pad-7"), device_id="pad-7") as device:
        birth = p.Birth(session=3, kind=p.DeviceKind.EVALUATOR, fw="2.0")
        device.publish(p.status_topic(HALL, "pad-7"), p.encode(birth), retain=True)
        await device.next()  # our own birth back: the broker has it, retained
    got: list[Inbound] = []
    async with link_for(mosquitto, handler=got.append) as link:
        await eventually(lambda: len(got) == 1)
        assert got[0] == Inbound(HALL, "pad-7", p.Channel.STATUS, birth, retained=True)
        assert link.inbound is None


async def test_bad_payloads_and_handler_errors_are_counted(
    mosquitto: MosquittoProcess, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(item: Inbound) -> None:
        raise RuntimeError("driver bug")

    async with link_for(mosquitto, handler=explode) as link:
        await asyncio.wait_for(link.wait_connected(), 3)
        async with peer(mosquitto) as device:
            device.publish(p.up_topic(HALL, "kp-1"), b"\xc1garbage")
            device.publish(p.up_topic(HALL, "kp-1"), p.encode(p.RebirthRequest()))
            await eventually(lambda: link.stats.handler_errors == 1)
        assert link.stats.decode_errors == 1
        assert link.stats.delivered == 0
    assert "not_msgpack" in caplog.text and "driver bug" in caplog.text


async def test_the_gate_drops_unread_and_bad_payloads_are_logged_quietly(
    mosquitto: MosquittoProcess, caplog: pytest.LogCaptureFixture
) -> None:
    bad: list[tuple[str, p.PayloadError]] = []
    got: list[Inbound] = []
    username, password = controller_login(mosquitto)
    config = LinkConfig(
        host=mosquitto.host,
        port=mosquitto.port,
        hall=HALL,
        backoff=FAST,
        username=username,
        password=password,
    )
    link = MqttLink(
        config,
        handler=got.append,
        on_bad_message=lambda device, error: bad.append((device, error)),
        gate=lambda device: device != "flooder",
    )
    async with link:
        await asyncio.wait_for(link.wait_connected(), 3)
        # Each on its own login: the broker lets a device write only its own up topic.
        async with peer(mosquitto) as device, peer(mosquitto, device_id="flooder") as flooder:
            send, flood = device.client.publish, flooder.client.publish
            for _ in range(200):
                send(p.up_topic(HALL, "kp-1"), b"\xc1garbage", qos=0)
                flood(p.up_topic(HALL, "flooder"), b"\xc1garbage", qos=0)
            flood(p.up_topic(HALL, "flooder"), p.encode(p.RebirthRequest()), qos=0)
            truncated = p.encode(p.TakeTicket(rid=12, service="A"))[:-3]
            send(p.up_topic(HALL, "kp-1"), truncated, qos=0)
            await eventually(lambda: link.stats.gated + link.stats.decode_errors >= 402)
    assert link.stats.gated == 201 and not got  # the flooder's messages were never decoded
    assert link.stats.decode_errors == len(bad) == 201
    assert {d for d, _ in bad} == {"kp-1"}
    assert (bad[-1][1].reason, bad[-1][1].rid) == (p.PayloadErrorReason.TRUNCATED, 12)
    lines = [r for r in caplog.records if "dropped bad message" in r.getMessage()]
    assert len(lines) == 1 and "(1 bad messages since the last report)" in lines[0].getMessage()


# --- availability -----------------------------------------------------------------------------


async def test_birth_retained_and_clean_close_publishes_offline_in_time(
    mosquitto: MosquittoProcess,
) -> None:
    link = link_for(mosquitto)
    await link.start()
    await asyncio.wait_for(link.wait_connected(), 3)
    async with peer(mosquitto, p.controller_status_topic(HALL)) as observer:
        birth = await next_status(observer)
        assert birth == p.Birth(session=link.session, kind=p.DeviceKind.CONTROLLER, fw="hallctl")
        started = time.monotonic()
        await link.close()
        assert time.monotonic() - started < 2.0
        assert await next_status(observer) == p.Will(session=link.session)
    assert link.state is LinkState.CLOSED
    with pytest.raises(LinkDown):
        link.publish("kp-1", p.Rebirth(id=1))
    async with peer(mosquitto, p.controller_status_topic(HALL)) as late:
        assert await next_status(late) == p.Will(session=link.session)  # retained


_CRASHING_LINK = """
import asyncio, sys
from devices.mqtt import LinkConfig, MqttLink

async def main():
    link = MqttLink(LinkConfig(host=sys.argv[1], port=int(sys.argv[2]), hall="main",
                               username=sys.argv[3], password=sys.argv[4]))
    await link.start()
    await asyncio.wait_for(link.wait_connected(), 5)
    print(link.session, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_killed_controller_leaves_its_will(mosquitto: MosquittoProcess) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _CRASHING_LINK,
        mosquitto.host,
        str(mosquitto.port),
        *controller_login(mosquitto),
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        session = int(await asyncio.wait_for(proc.stdout.readline(), 10))
        async with peer(mosquitto, p.controller_status_topic(HALL)) as observer:
            assert await next_status(observer) == p.Birth(
                session=session, kind=p.DeviceKind.CONTROLLER, fw="hallctl"
            )
            os.kill(proc.pid, signal.SIGKILL)  # no DISCONNECT: the broker must publish the will
            assert await next_status(observer) == p.Will(session=session)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def test_stale_will_is_repaired_with_a_new_birth() -> None:
    # A stale will of our own earlier session: only the controller's identity may write it, and
    # a second client logged in as the controller would take over the link's client id. So this
    # test of the link's logic runs on an open broker, where any peer can play that will.
    with MosquittoProcess() as mosquitto:
        await _stale_will_is_repaired(mosquitto)


async def _stale_will_is_repaired(mosquitto: MosquittoProcess) -> None:
    async with link_for(mosquitto) as link:
        await asyncio.wait_for(link.wait_connected(), 3)
        async with peer(mosquitto, p.controller_status_topic(HALL)) as observer:
            assert isinstance(await next_status(observer), p.Birth)
            stale = p.Will(session=link.session - 1)
            observer.publish(p.controller_status_topic(HALL), p.encode(stale), retain=True)
            assert await next_status(observer) == stale
            assert await next_status(observer) == p.Birth(
                session=link.session, kind=p.DeviceKind.CONTROLLER, fw="hallctl"
            )


# --- reconnect --------------------------------------------------------------------------------


async def test_reconnects_after_broker_restart(mosquitto: MosquittoProcess) -> None:
    async with link_for(mosquitto) as link:
        await asyncio.wait_for(link.wait_connected(), 3)
        first_session = link.session
        await asyncio.to_thread(mosquitto.restart, 0.3)
        await eventually(lambda: link.stats.connects == 2 and link.connected)
        assert link.session > first_session
        async with peer(mosquitto, p.controller_status_topic(HALL)) as device:
            assert await next_status(device) == p.Birth(
                session=link.session, kind=p.DeviceKind.CONTROLLER, fw="hallctl"
            )
            device.publish(p.up_topic(HALL, "kp-1"), p.encode(p.RebirthRequest()))
            assert link.inbound is not None
            got = await asyncio.wait_for(link.inbound.get(), 3)
            assert got.device == "kp-1" and got.message == p.RebirthRequest()


async def test_no_broker_backs_off_quietly_and_refuses_publish(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="devices.mqtt.link")
    config = LinkConfig(host="127.0.0.1", port=free_port(), hall=HALL, backoff=FAST)
    link = MqttLink(config)
    await link.start()
    try:
        await eventually(lambda: link._reconnector.failures >= 4)
        with pytest.raises(LinkDown):
            link.publish("kp-1", p.Rebirth(id=1))
    finally:
        await link.close()
    failures = [r for r in caplog.records if "cannot connect" in r.getMessage()]
    assert len(failures) >= 4
    assert [r.levelno for r in failures].count(logging.WARNING) == 1
    assert failures[0].levelno == logging.WARNING


# --- inbound queue policy ---------------------------------------------------------------------


async def test_full_queue_drops_newest_counts_and_logs(
    mosquitto: MosquittoProcess, caplog: pytest.LogCaptureFixture
) -> None:
    async with link_for(mosquitto, queue_size=2) as link:
        await asyncio.wait_for(link.wait_connected(), 3)
        async with peer(mosquitto) as device:
            presses = [p.Press(rid=i, op=p.PressOp.RECALL) for i in range(5)]
            for press in presses:
                device.publish(p.up_topic(HALL, "kp-1"), p.encode(press))
            await eventually(lambda: link.stats.dropped == 3)
        assert link.inbound is not None
        kept = [link.inbound.get_nowait().message for _ in range(2)]
        assert kept == presses[:2]  # the oldest are kept, in order
        assert link.stats.delivered == 2
        assert "inbound queue full" in caplog.text and "3 in this burst" not in caplog.text
        async with peer(mosquitto) as device:
            device.publish(p.up_topic(HALL, "kp-1"), p.encode(presses[0]))
            await eventually(lambda: link.stats.delivered == 3)
        assert "accepts again after 3 drops" in caplog.text


# --- outbound flow control --------------------------------------------------------------------


async def test_bursts_beyond_the_brokers_receive_window_wait_in_order(
    mosquitto: MosquittoProcess,
) -> None:
    async with link_for(mosquitto, device_qos=1) as link:
        await asyncio.wait_for(link.wait_connected(), 3)
        async with peer(mosquitto, p.down_topic(HALL, "kp-1")) as device:
            commands = [p.Rebirth(id=i) for i in range(1, 201)]
            for command in commands:
                link.publish("kp-1", command)  # mosquitto grants 20 in flight
            got = [p.decode_down((await device.next())[1]) for _ in commands]
        assert got == commands
        assert link.stats.backlogged > 0
        assert link.stats.unsent == 0


async def test_qos0_commands_go_straight_out_in_order(mosquitto: MosquittoProcess) -> None:
    async with link_for(mosquitto) as link:  # device_qos 0, the default
        await asyncio.wait_for(link.wait_connected(), 3)
        async with peer(mosquitto, p.down_topic(HALL, "kp-1")) as device:
            commands = [p.Rebirth(id=i) for i in range(1, 201)]
            for command in commands:
                link.publish("kp-1", command)
            got = [p.decode_down((await device.next())[1]) for _ in commands]
        assert got == commands
        assert link.stats.backlogged == 0


async def test_full_backlog_refuses_with_link_busy(mosquitto: MosquittoProcess) -> None:
    async with link_for(mosquitto, backlog_size=5, device_qos=1) as link:
        await asyncio.wait_for(link.wait_connected(), 3)
        with pytest.raises(LinkBusy):
            for i in range(1, 100):
                link.publish("kp-1", p.Rebirth(id=i))
        assert link.stats.backlogged == 5


async def test_unexpected_connect_error_is_logged_and_retried(
    mosquitto: MosquittoProcess,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from devices.mqtt import link as link_module

    real_connect = link_module._OneShotClient.connect
    calls = 0

    async def flaky_connect(self: Any, *args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("gmqtt bug")
        await real_connect(self, *args, **kwargs)

    monkeypatch.setattr(link_module._OneShotClient, "connect", flaky_connect)
    async with link_for(mosquitto) as link:
        await asyncio.wait_for(link.wait_connected(), 3)
    assert calls == 2
    assert "unexpected error while connecting" in caplog.text
