"""The closed loop through a real Mosquitto: daemon + hub in-process, bare protocol-v1 devices.

ticket (kiosk) -> call (keypad) -> display -> finish -> pad invite -> rating -> thanks, and the
bad-input paths: unknown device, wrong kind, duplicate request, re-sent rating, flood, stale
will, reconnect reconciliation.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import msgspec
import pytest

from controller.auth.device_keys import DeviceKeys, device_keys_path
from controller.config.model import Device, DeviceKind, LinkKind
from controller.core import commands as c
from controller.daemon.device_links import mqtt_devices
from controller.daemon.process import Daemon, HallSource
from devices.hub import DeviceHub
from devices.mqtt.identity import Identity
from devices.mqtt.mosquitto_process import MosquittoProcess
from firmware_protocols import mqtt_v1 as proto
from tests.controller.halls import small_hall
from tests.devices.fake_device import FakeDevice
from tests.devices.mqtt.test_link import eventually

P = proto.PressOp


@dataclass
class Hall:
    daemon: Daemon
    broker: MosquittoProcess

    @property
    def hub(self) -> DeviceHub:
        hub = self.daemon.hubs["demo"]
        assert isinstance(hub, DeviceHub)
        return hub

    async def device(
        self, device: str, kind: str, *, birth: bool = True, login_as: str | None = None
    ) -> FakeDevice:
        """A device on ``device`'s topics, logged in as itself or as ``login_as``; a pad holds
        its signing key."""
        identity = Identity("demo", login_as or device)
        login = self.broker.login(identity) if identity in self.broker.passwords else None
        fake = FakeDevice(self.broker.host, self.broker.port, "demo", device, kind, login)
        fake.key = DeviceKeys(device_keys_path(self.daemon.db_path)).get("demo", device)
        await fake.connect(birth=birth)
        return fake


DEVICES = (
    Device(id="kiosk-1", kind=DeviceKind.KIOSK, link=LinkKind.MQTT),
    Device(id="caller-1", kind=DeviceKind.CALLER, link=LinkKind.MQTT, window=1),
    Device(id="led-1", kind=DeviceKind.WINDOW_DISPLAY, link=LinkKind.MQTT, window=1),
    Device(id="pad-1", kind=DeviceKind.EVALUATOR, link=LinkKind.MQTT, window=1),
    Device(id="pad-2", kind=DeviceKind.EVALUATOR, link=LinkKind.MQTT, window=2),
    Device(id="screen", kind=DeviceKind.HALL_SCREEN, link=LinkKind.MQTT),
)


@pytest.fixture
async def hall(mosquitto: MosquittoProcess, tmp_path: Path) -> AsyncIterator[Hall]:
    config = replace(small_hall(), devices=DEVICES)
    config = replace(config, mqtt=mosquitto.settings(config))
    daemon = Daemon(
        [HallSource(config, "")],
        db_path=tmp_path / "hall.db",
        http_port=0,
        extensions=[mqtt_devices(retry_delays=(0.3, 0.6, 1.2))],
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(daemon.run(stop, ready))
    await asyncio.wait_for(ready.wait(), 5)
    hall = Hall(daemon, mosquitto)
    # The link subscribes right after publishing its retained birth on its own status topic;
    # that birth coming back means the subscription (device topics included) is in place.
    await until(lambda: hall.hub.link.stats.received >= 1)  # type: ignore[attr-defined]
    try:
        yield hall
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)


async def until(condition: Callable[[], object], within: float = 5.0) -> None:
    """Wait for ``condition()`` with a deadline (the hub works in the background)."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def settled(value: Callable[[], int], quiet: float = 0.3, within: float = 10.0) -> None:
    """Wait until ``value()`` has not changed for ``quiet`` seconds (a burst has drained)."""
    deadline = time.monotonic() + within
    last, since = value(), time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, "still changing"
        await asyncio.sleep(0.02)
        now = value()
        if now != last:
            last, since = now, time.monotonic()


async def _no_reconnect(*args: object, **kwargs: object) -> None:
    """Stands in for gmqtt's automatic reconnect of a client that must stay gone."""


async def press(device: FakeDevice, op: proto.PressOp, **fields: object) -> proto.Reply:
    rid = device.next_rid()
    device.send(proto.Press(rid=rid, op=op, **fields))  # type: ignore[arg-type]
    return await device.reply_to(rid)


async def test_the_closed_loop(hall: Hall) -> None:
    kiosk = await hall.device("kiosk-1", "kiosk")
    caller = await hall.device("caller-1", "caller")
    led = await hall.device("led-1", "window_display")
    pad = await hall.device("pad-1", "evaluator")
    screen = await hall.device("screen", "hall_screen")

    # Birth answered with the full desired state.
    await led.state_where(lambda s: s.mode is proto.DisplayMode.PAUSED and s.lines == ["暂停服务"])
    await pad.state_where(
        lambda s: s.mode is proto.EvaluatorMode.STAFF_CARD and s.staff_name is None
    )

    rid = kiosk.next_rid()
    kiosk.send(proto.TakeTicket(rid=rid, service="A"))
    reply = await kiosk.reply_to(rid)
    assert reply.ok and reply.number == "A001"
    printed = await kiosk.wait_for(lambda m: isinstance(m, proto.PrintTicket))
    assert isinstance(printed, proto.PrintTicket)
    assert printed.number == "A001" and printed.service == "不动产登记" and printed.ahead == 0

    assert (await press(caller, P.LOGIN, staff="1001")).ok
    await pad.state_where(lambda s: s.staff_name == "王芳" and s.staff_id == "1001")
    called = await press(caller, P.CALL_NEXT)
    assert called.ok and called.number == "A001"
    await led.state_where(lambda s: s.lines == ["请A001号到1号窗口办理"] and s.blink)
    await caller.state_where(
        lambda s: s.current == "A001" and s.window is proto.WindowState.CALLING
    )
    await screen.state_where(lambda s: s.calls and s.calls[0].number == "A001")

    assert (await press(caller, P.RECALL)).ok
    await led.state_where(lambda s: s.lines == ["请A001号到1号窗口办理", "(重呼)"])
    assert (await press(caller, P.START)).ok
    await led.state_where(lambda s: s.mode is proto.DisplayMode.SERVING)
    assert (await press(caller, P.FINISH)).ok
    invite = await pad.state_where(lambda s: s.mode is proto.EvaluatorMode.INVITE)
    assert invite.ticket == 1 and 25 <= invite.seconds <= 30 and invite.reasons

    rid = pad.next_rid()
    rating = pad.signed(
        proto.Rating(
            rid=rid,
            rating_id="pad1-r1",
            ticket=1,
            level=proto.RatingLevel.DISSATISFIED,
            reasons=["wait"],
        )
    )
    pad.send(rating)
    assert (await pad.reply_to(rid)).ok
    await pad.state_where(lambda s: s.mode is proto.EvaluatorMode.THANKS)
    await pad.state_where(lambda s: s.mode is proto.EvaluatorMode.STAFF_CARD, within=8)
    ticket = hall.daemon.halls["demo"].state.tickets[1]
    assert ticket.rating is not None and ticket.rating.value == "dissatisfied"
    assert ticket.staff == "1001" and ticket.window == 1

    # The pad lost the reply and re-sends the same rating under a new request id: recorded once.
    rid = pad.next_rid()
    pad.send(msgspec.structs.replace(rating, rid=rid))
    assert (await pad.reply_to(rid)).ok
    assert hall.daemon.halls["demo"].state.totals.rated == 1
    # A second, different rating for the same service is refused (一次一评).
    rid = pad.next_rid()
    pad.send(
        pad.signed(
            proto.Rating(
                rid=rid, rating_id="pad1-r2", ticket=1, level=proto.RatingLevel.VERY_SATISFIED
            )
        )
    )
    refused = await pad.reply_to(rid)
    assert not refused.ok and refused.code == "already_evaluated"


async def test_refusals_carry_the_engine_reason(hall: Hall) -> None:
    caller = await hall.device("caller-1", "caller")
    reply = await press(caller, P.CALL_NEXT)
    assert not reply.ok and reply.code == "window_logged_out"
    assert (await press(caller, P.LOGIN, staff="1001")).ok
    reply = await press(caller, P.CALL_NEXT)
    assert not reply.ok and reply.code == "queue_empty"
    await caller.state_where(lambda s: s.window is proto.WindowState.IDLE and s.staff == "王芳")


async def test_duplicate_request_is_answered_not_executed(hall: Hall) -> None:
    kiosk = await hall.device("kiosk-1", "kiosk")
    message = proto.TakeTicket(rid=77, service="B")
    kiosk.send(message)
    first = await kiosk.reply_to(77)
    kiosk.received.clear()
    kiosk.send(message)
    second = await kiosk.reply_to(77)
    assert first.number == second.number == "B001"
    assert hall.daemon.halls["demo"].state.totals.issued == 1
    assert hall.hub.stats.duplicates >= 1


async def test_unknown_device_and_wrong_kind_are_refused(hall: Hall) -> None:
    # The broker knows ghost-9 (its files are older than the configuration), the hall does not.
    await asyncio.to_thread(hall.broker.grant, [Identity("demo", "ghost-9")])
    stranger = await hall.device("ghost-9", "kiosk")
    rid = stranger.next_rid()
    stranger.send(proto.TakeTicket(rid=rid, service="A"))
    reply = await stranger.reply_to(rid)
    assert not reply.ok and reply.code == "unknown_device"

    pad = await hall.device("pad-1", "evaluator")
    rid = pad.next_rid()
    pad.send(proto.Press(rid=rid, op=P.CALL_NEXT))
    reply = await pad.reply_to(rid)
    assert not reply.ok and reply.code == "not_allowed_for_kind"
    assert hall.daemon.halls["demo"].state.totals.issued == 0
    # the stranger's birth and its request; the pad's press
    assert hall.hub.stats.unknown_devices == 2 and hall.hub.stats.wrong_kind == 1


async def test_a_pad_cannot_rate_another_windows_service(hall: Hall) -> None:
    kiosk = await hall.device("kiosk-1", "kiosk")
    caller = await hall.device("caller-1", "caller")
    pad2 = await hall.device("pad-2", "evaluator")
    kiosk.send(proto.TakeTicket(rid=1, service="A"))
    await kiosk.reply_to(1)
    await press(caller, P.LOGIN, staff="1001")
    await press(caller, P.CALL_NEXT)
    await press(caller, P.FINISH)
    pad2.send(
        pad2.signed(proto.Rating(rid=5, rating_id="x", ticket=1, level=proto.RatingLevel.SATISFIED))
    )
    reply = await pad2.reply_to(5)
    assert not reply.ok and reply.code == "ticket_at_other_window"
    assert hall.daemon.halls["demo"].state.totals.rated == 0


async def test_pad_timeout_records_not_evaluated(hall: Hall) -> None:
    kiosk = await hall.device("kiosk-1", "kiosk")
    caller = await hall.device("caller-1", "caller")
    pad = await hall.device("pad-1", "evaluator")
    kiosk.send(proto.TakeTicket(rid=1, service="A"))
    await kiosk.reply_to(1)
    await press(caller, P.LOGIN, staff="1001")
    await press(caller, P.CALL_NEXT)
    await press(caller, P.FINISH)
    await pad.state_where(lambda s: s.mode is proto.EvaluatorMode.INVITE)
    pad.send(pad.signed(proto.RatingTimeout(rid=9, ticket=1)))
    assert (await pad.reply_to(9)).ok
    state = hall.daemon.halls["demo"].state
    assert state.totals.not_evaluated == 1 and state.totals.rated == 0
    assert state.tickets[1].rating is None
    await pad.state_where(lambda s: s.mode is proto.EvaluatorMode.STAFF_CARD)


async def test_flooding_device_is_limited_and_others_still_served(hall: Hall) -> None:
    flooder = await hall.device("kiosk-1", "kiosk")
    caller = await hall.device("caller-1", "caller")
    for rid in range(1, 301):
        flooder.send(proto.TakeTicket(rid=rid, service="C"), qos=0)
    started = time.perf_counter()
    reply = await press(caller, P.LOGIN, staff="1001")
    took = time.perf_counter() - started
    assert reply.ok
    assert took < 0.5, f"a keypad waited {took:.3f} s behind a flooding kiosk"
    stats, link = hall.hub.stats, hall.hub.link

    def told() -> list[proto.DownMessage]:
        return [
            m for m in flooder.received if isinstance(m, proto.Reply) and m.code == "rate_limited"
        ]

    # A refusal came back; then wait until the flood has drained (what the hub and the link
    # counted of it stops changing: QoS 0 messages may also be dropped by the broker).
    await until(told)

    def counted() -> int:
        return int(stats.requests + stats.rate_limited + link.stats.dropped)  # type: ignore[attr-defined]

    await settled(counted)
    assert stats.rate_limited > 0
    assert len(told()) <= 3, "the flooder is told, about once a second, not once per message"
    assert hall.daemon.halls["demo"].state.totals.issued < 300


async def test_stale_will_does_not_mark_a_newer_session_offline(hall: Hall) -> None:
    led = await hall.device("led-1", "window_display")
    await led.state_where(lambda s: True)
    status = hall.hub.availability.devices["led-1"]
    assert status.online and status.session == 1
    # A late will of an earlier session arrives after the current birth.
    led.client.publish(
        proto.status_topic("demo", "led-1"), proto.encode(proto.Will(session=0)), qos=1
    )
    await asyncio.sleep(0.3)
    assert status.online
    await led.drop()  # unclean: the broker publishes the will of session 1
    for _ in range(30):
        if not status.online:
            break
        await asyncio.sleep(0.1)
    assert not status.online


async def test_reconnecting_display_converges_to_the_current_state(hall: Hall) -> None:
    caller = await hall.device("caller-1", "caller")
    kiosk = await hall.device("kiosk-1", "kiosk")
    led = await hall.device("led-1", "window_display")
    await led.state_where(lambda s: s.mode is proto.DisplayMode.PAUSED)
    await led.drop()
    # While the strip is away, the window logs in and calls.
    kiosk.send(proto.TakeTicket(rid=1, service="A"))
    await kiosk.reply_to(1)
    await press(caller, P.LOGIN, staff="1001")
    await press(caller, P.CALL_NEXT)
    led.received.clear()
    await led.connect()
    state = await led.state_where(lambda s: True)
    assert state.lines == ["请A001号到1号窗口办理"]


async def test_unacked_command_is_retried_then_counted_as_failed(hall: Hall) -> None:
    led = await hall.device("led-1", "window_display")
    led.auto_ack = False
    first = await led.wait_for(lambda m: isinstance(m, proto.Show))
    await led.wait_for(lambda m: isinstance(m, proto.Show) and m is not first, within=3)
    repeats = [m for m in led.received if isinstance(m, proto.Show) and m.id == first.id]
    assert len(repeats) >= 2, "the same command id is re-sent"
    for _ in range(120):
        if hall.hub.availability.devices["led-1"].failed_commands:
            break
        await asyncio.sleep(0.1)
    assert hall.hub.availability.devices["led-1"].failed_commands == 1


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"\xc1\xc1 not msgpack", "not_msgpack"),
        (proto.encode(proto.TakeTicket(rid=3, service="A"))[:-4], "truncated"),
        (b"\x83\xa1t\xabtake_ticket\xa1v\x02\xa3rid\x01", "wrong_version"),
        (b"\x82\xa1t\xa6launch\xa1v\x01", "unknown_type"),
        (b"\x82\xa1t\xa4ping\xa1v\x01" + b"\x00" * 5000, "oversized"),
    ],
)
async def test_bad_payload_is_answered_counted_and_changes_nothing(
    hall: Hall, payload: bytes, code: str
) -> None:
    kiosk = await hall.device("kiosk-1", "kiosk")
    before = hall.daemon.halls["demo"].state.fingerprint()
    kiosk.send_raw(payload)
    reply = await kiosk.wait_for(lambda m: isinstance(m, proto.Reply) and not m.ok)
    assert isinstance(reply, proto.Reply) and reply.code == code
    assert hall.hub.stats.bad_payloads == 1
    assert hall.hub.availability.devices["kiosk-1"].errors == 1
    assert hall.daemon.halls["demo"].state.fingerprint() == before


async def test_kiosk_checks_in_a_booking_by_its_code(hall: Hall) -> None:
    runtime = hall.daemon.halls["demo"]
    now = runtime.now()
    await runtime.submit(
        c.RegisterAppointment(
            appointment_id="YY20261123",
            service="A",
            slot_start_ms=now,
            slot_end_ms=now + 1_800_000,
        )
    )
    kiosk = await hall.device("kiosk-1", "kiosk")
    kiosk.send(proto.TakeTicket(rid=1, service="A", appt="YY20261123"))
    reply = await kiosk.reply_to(1)
    assert reply.ok and reply.number == "A001"
    ticket = runtime.state.tickets[1]
    assert ticket.appointment_id == "YY20261123" and ticket.slot_start_ms == now
    kiosk.send(proto.TakeTicket(rid=2, service="A", appt="YY20261123"))
    again = await kiosk.reply_to(2)
    assert not again.ok and again.code == "appointment_already_checked_in"
    kiosk.send(proto.TakeTicket(rid=3, service="A", appt="NOPE"))
    unknown = await kiosk.reply_to(3)
    assert not unknown.ok and unknown.code == "unknown_appointment"


async def test_a_replacement_device_with_a_lower_session_gets_its_state_and_stays_lit(
    hall: Hall,
) -> None:
    old = await hall.device("led-1", "window_display")
    old.session = 41  # FakeDevice counts up from here: the old strip's birth is session 42
    await old.disconnect()
    await old.connect()
    await old.state_where(lambda s: s.mode is proto.DisplayMode.PAUSED)
    status = hall.hub.availability.devices["led-1"]
    # (That show may be the first connection's, still in ``received``: wait for birth 42.)
    await until(lambda: status.online and status.session == 42)

    # A new strip (wiped flash: counts from 1) logs in with the same credentials while the old
    # one is still connected. The broker (client id = user name) takes the old connection over
    # and publishes its will 42 before the new strip's birth of session 1.
    old.client.reconnect = _no_reconnect  # the old strip must not take the id back
    new = await hall.device("led-1", "window_display")
    state = await new.state_where(lambda s: s.mode is proto.DisplayMode.PAUSED)
    assert state.lines == ["暂停服务"]
    # (That show may be a re-send meant for the old strip, on the same topic, ahead of the new
    # birth being handled: wait for the birth rather than assume it.)
    await until(lambda: status.online and status.session == 1)
    # A will of the old session that arrives after the new birth (a broker that delivers it
    # late: a cluster, a bridge) is answered with a rebirth; the new strip re-announces
    # session 1. Only the strip's own login may write its status topic, so it plays that will.
    stale = proto.Will(session=42)
    new.client.publish(proto.status_topic("demo", "led-1"), proto.encode(stale), qos=1)
    rebirth = await new.wait_for(lambda m: isinstance(m, proto.Rebirth))
    await new.wait_for(lambda m: isinstance(m, proto.Show) and m.id > rebirth.id)
    assert status.online and status.session == 1
    # And the new strip is still driven: a login changes what it shows.
    caller = await hall.device("caller-1", "caller")
    assert (await press(caller, P.LOGIN, staff="1001")).ok
    await new.state_where(lambda s: s.mode is proto.DisplayMode.IDLE)


@pytest.mark.parametrize(
    ("payload", "rid"),
    [
        (b"\x91" * 4095 + b"\x01", 0),  # 4 KB of nested arrays: no rid to read
        (b"\x84\xa1t\xabtake_ticket\xa1v\x01\xa3rid\x05\xa7service" + b"\x91" * 4000, 5),
        (b"\x81\xa1x" + b"\x91" * 100_000, 0),  # 100k nested arrays: too big to read at all
    ],
)
async def test_deeply_nested_payload_gets_an_error_reply_and_changes_nothing(
    hall: Hall, payload: bytes, rid: int
) -> None:
    kiosk = await hall.device("kiosk-1", "kiosk")
    before = hall.daemon.halls["demo"].state.fingerprint()
    kiosk.send_raw(payload)
    reply = await kiosk.wait_for(lambda m: isinstance(m, proto.Reply) and not m.ok)
    assert isinstance(reply, proto.Reply) and reply.rid == rid
    assert reply.code == ("oversized" if len(payload) > proto.MAX_PAYLOAD else "invalid_field")
    assert hall.daemon.halls["demo"].state.fingerprint() == before
    # The link and the hub are unharmed: the next request is served.
    kiosk.send(proto.TakeTicket(rid=6, service="A"))
    assert (await kiosk.reply_to(6)).number == "A001"


async def test_a_bad_request_is_refused_under_its_own_rid(hall: Hall) -> None:
    kiosk = await hall.device("kiosk-1", "kiosk")
    bad = {"t": "take_ticket", "v": 1, "rid": 31, "service": "A", "green": "yes"}
    kiosk.send_raw(msgspec.msgpack.encode(bad))
    reply = await kiosk.reply_to(31)
    assert not reply.ok and reply.code == "invalid_field" and "green" in reply.text
    assert hall.daemon.halls["demo"].state.totals.issued == 0


async def test_a_garbage_flood_is_dropped_unread_once_over_budget(hall: Hall) -> None:
    kiosk = await hall.device("kiosk-1", "kiosk")
    link = hall.hub.link
    for _ in range(2000):
        kiosk.client.publish(proto.up_topic("demo", "kiosk-1"), b"\xc1 garbage", qos=0)
    await eventually(lambda: link.stats.received >= 2000 + 1, 10)  # the flood and the birth
    stats = hall.hub.stats
    # The burst (40) and about one a second beyond it were decoded; the rest never were.
    assert link.stats.gated >= 2000 - 40 - 20
    assert stats.bad_payloads == link.stats.decode_errors <= 40 + 20
    told = [m for m in kiosk.received if isinstance(m, proto.Reply)]
    assert len(told) <= 40 + 20
    assert hall.hub.drop_counts()["gated_unread"] == link.stats.gated
    # Its budget comes back at 20 a second: the kiosk's next good request is served.
    rid = kiosk.next_rid()
    deadline = time.monotonic() + 3
    while True:
        kiosk.send(proto.TakeTicket(rid=rid, service="A"))
        with contextlib.suppress(TimeoutError):
            reply = await kiosk.reply_to(rid, within=0.5)
            break
        assert time.monotonic() < deadline
    assert reply.ok and reply.number == "A001"
