"""Signed ratings through a real Mosquitto and a real daemon (docs/protocol/mqtt.md 6.5).

A rating (or rating_timeout) must carry the pad's counter and HMAC-SHA256 under the key the
controller holds for it: a forged one is refused with ``bad_signature``, an unsigned one with
``unsigned_rating`` (unless the hall allows unsigned pads for a migration, and then the record
says so), a copy of an old one with ``replayed_counter``, also after the daemon restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from controller.auth.device_keys import DeviceKeys, device_keys_path
from controller.config.loader import load_config
from controller.core import commands as c
from controller.core import events as ev
from controller.daemon.device_links import mqtt_devices
from controller.daemon.process import Daemon, HallSource
from controller.haochaping.records import RecordMaker
from devices.mqtt.identity import Identity
from devices.mqtt.mosquitto_process import MosquittoProcess
from firmware_protocols import mqtt_v1 as proto
from firmware_protocols import rating_mac
from firmware_protocols.rating_mac import DeviceKey
from tests.controller.halls import small_hall
from tests.devices.fake_device import FakeDevice
from tests.devices.hall_daemon import HallDaemon, logged_events
from tests.devices.test_hub import DEVICES, Hall, hall, press, until
from tests.mosquitto import write_controller_credentials

P = proto.PressOp
L = proto.RatingLevel
__all__ = ["hall"]  # the fixture, shared with test_hub


async def finished_service(hall: Hall, kiosk: FakeDevice, caller: FakeDevice) -> int:
    """One ticket taken, called and finished at window 1; returns its ticket id."""
    rid = kiosk.next_rid()
    kiosk.send(proto.TakeTicket(rid=rid, service="A"))
    assert (await kiosk.reply_to(rid)).ok
    runtime = hall.daemon.halls["demo"]
    if runtime.state.windows[1].staff is None:
        assert (await press(caller, P.LOGIN, staff="1001")).ok
    assert (await press(caller, P.CALL_NEXT)).ok
    assert (await press(caller, P.FINISH)).ok
    last = runtime.state.windows[1].last_finished
    assert last is not None
    return last


async def rate(pad: FakeDevice, message: proto.Rating | proto.RatingTimeout) -> proto.Reply:
    pad.send(message)
    return await pad.reply_to(message.rid)


def rating(pad: FakeDevice, ticket: int, level: L = L.DISSATISFIED, **kw: object) -> proto.Rating:
    reasons = ["wait"] if level <= L.DISSATISFIED else []
    return proto.Rating(
        rid=pad.next_rid(),
        rating_id=f"r{pad.rid}",
        ticket=ticket,
        level=level,
        reasons=reasons,
        **kw,  # type: ignore[arg-type]
    )


async def test_forged_and_unsigned_ratings_are_refused_and_the_real_one_counts(
    hall: Hall,
) -> None:
    kiosk = await hall.device("kiosk-1", "kiosk")
    caller = await hall.device("caller-1", "caller")
    pad = await hall.device("pad-1", "evaluator")
    ticket = await finished_service(hall, kiosk, caller)
    state = hall.daemon.halls["demo"].state

    # A laptop in the waiting area, without the pad's key: its own key under the pad's key id.
    assert pad.key is not None
    thief = DeviceKey(key_id=pad.key.key_id, secret=b"\x00" * 32)
    forged = rating_mac.sign(thief, "demo", "pad-1", 1, rating(pad, ticket))
    refused = await rate(pad, forged)
    assert (refused.ok, refused.code) == (False, "bad_signature")
    assert refused.text == "评价签名无效，评价未记录，请联系管理员"
    # A genuine rating with a field changed after signing (5 -> 1) is a bad MAC too.
    tampered = msgspec.structs.replace(
        pad.signed(rating(pad, ticket, L.VERY_SATISFIED)), level=L.VERY_DISSATISFIED
    )
    assert (await rate(pad, tampered)).code == "bad_signature"
    # An unknown key id, and no signature at all.
    other = rating_mac.sign(
        DeviceKey("k0000", b"\x01" * 32), "demo", "pad-1", 1, rating(pad, ticket)
    )
    assert (await rate(pad, other)).code == "bad_signature"
    assert (await rate(pad, rating(pad, ticket))).code == "unsigned_rating"
    assert (await rate(pad, proto.RatingTimeout(rid=pad.next_rid(), ticket=ticket))).code == (
        "unsigned_rating"
    )
    assert state.totals.rated == 0 and state.totals.not_evaluated == 0
    assert hall.hub.stats.bad_signatures == 5

    # The citizen's real press still counts: nothing was recorded before it.
    real = pad.signed(rating(pad, ticket, L.SATISFIED))
    assert (await rate(pad, real)).ok
    assert state.tickets[ticket].rating is c.RatingLevel.SATISFIED


async def test_a_replayed_counter_is_refused_and_the_evidence_is_recorded(hall: Hall) -> None:
    kiosk = await hall.device("kiosk-1", "kiosk")
    caller = await hall.device("caller-1", "caller")
    pad = await hall.device("pad-1", "evaluator")
    recorded: list[tuple[int, list[ev.AnyEvent]]] = []
    hall.daemon.halls["demo"].subscribe(lambda events, seq: recorded.append((seq, events)))

    first = await finished_service(hall, kiosk, caller)
    signed = pad.signed(rating(pad, first), counter=70)
    assert (await rate(pad, signed)).ok

    second = await finished_service(hall, kiosk, caller)
    for counter in (70, 6):  # the same counter again, and one 64 or more below: replays
        replay = pad.signed(rating(pad, second, L.VERY_SATISFIED), counter=counter)
        refused = await rate(pad, replay)
        assert (refused.ok, refused.code) == (False, "replayed_counter")
    timeout = pad.signed(proto.RatingTimeout(rid=pad.next_rid(), ticket=second), counter=70)
    assert (await rate(pad, timeout)).code == "replayed_counter"
    # 69 was never used: a rating held through a link loss, sent after a newer one, counts.
    assert (await rate(pad, pad.signed(rating(pad, second), counter=69))).ok

    # The evidence is in the log's event and in the 好差评 record that leaves the hall.
    await until(
        lambda: sum(isinstance(e, ev.ServiceRated) for _, events in recorded for e in events) == 2
    )
    config = hall.daemon.halls["demo"].engine.config
    records = [
        record
        for seq, events in recorded
        for record in RecordMaker(config).records(seq, events)
        if hasattr(record, "evidence")
    ]
    assert [(r.ticket, r.counter) for r in records] == [(first, 70), (second, 69)]
    record = records[0]
    assert record.evidence is c.Evidence.SIGNED and record.device == "pad-1"
    assert pad.key is not None and record.key_id == pad.key.key_id
    assert record.mac == signed.mac.hex() if signed.mac else False
    # Anyone holding the pad's key can check the record again.
    again = proto.Rating(
        rid=0, rating_id=signed.rating_id, ticket=first, level=signed.level, reasons=["wait"]
    )
    assert rating_mac.mac(pad.key, "demo", "pad-1", 70, again).hex() == record.mac


@pytest.fixture
async def migrating_hall(mosquitto: MosquittoProcess, tmp_path: Path) -> AsyncIterator[Hall]:
    base = small_hall()
    config = dataclasses.replace(
        base,
        devices=DEVICES,
        evaluation=dataclasses.replace(base.evaluation, allow_unsigned_pads=True),
    )
    config = dataclasses.replace(config, mqtt=mosquitto.settings(config))
    daemon = Daemon(
        [HallSource(config, "")],
        db_path=tmp_path / "hall.db",
        http_port=0,
        extensions=[mqtt_devices(retry_delays=(0.3, 0.6, 1.2))],
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(daemon.run(stop, ready))
    await asyncio.wait_for(ready.wait(), 5)
    result = Hall(daemon, mosquitto)
    await until(lambda: result.hub.link.stats.received >= 1)  # type: ignore[attr-defined]
    try:
        yield result
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)


async def test_unsigned_pads_during_a_migration_are_recorded_as_unsigned(
    migrating_hall: Hall,
) -> None:
    hall = migrating_hall
    kiosk = await hall.device("kiosk-1", "kiosk")
    caller = await hall.device("caller-1", "caller")
    pad = await hall.device("pad-1", "evaluator")
    recorded: list[ev.AnyEvent] = []
    hall.daemon.halls["demo"].subscribe(lambda events, seq: recorded.extend(events))
    ticket = await finished_service(hall, kiosk, caller)
    # Allowed unsigned; a bad signature is still refused.
    forged = rating_mac.sign(DeviceKey("kx", b"\x02" * 32), "demo", "pad-1", 1, rating(pad, ticket))
    assert (await rate(pad, forged)).code == "bad_signature"
    assert (await rate(pad, rating(pad, ticket))).ok
    await until(lambda: any(isinstance(e, ev.ServiceRated) for e in recorded))
    [rated] = [e for e in recorded if isinstance(e, ev.ServiceRated)]
    assert rated.evidence is c.Evidence.UNSIGNED and rated.signature is None


RESTART_CONFIG = """\
[hall]
id = "signed"
name = "签名测试大厅"
closing_time = "23:59"

[mqtt]
host = "{host}"
port = {port}

[[services]]
id = "A"
name = "社保医保"
prefix = "A"

[[windows]]
number = 1
services = ["A"]

[[staff]]
id = "0101"
name = "陈晓燕"

[[devices]]
id = "kiosk-1"
kind = "kiosk"
link = "mqtt"

[[devices]]
id = "caller-1"
kind = "caller"
link = "mqtt"
window = 1

[[devices]]
id = "pad-1"
kind = "evaluator"
link = "mqtt"
window = 1
"""


async def serve_one(kiosk: FakeDevice, caller: FakeDevice, pad: FakeDevice) -> int:
    pad.received.clear()  # the invite looked for is this service's
    rid = kiosk.next_rid()
    kiosk.send(proto.TakeTicket(rid=rid, service="A"))
    assert (await kiosk.reply_to(rid, within=5)).ok
    for op in (P.CALL_NEXT, P.FINISH):
        rid = caller.next_rid()
        caller.send(proto.Press(rid=rid, op=op))
        assert (await caller.reply_to(rid, within=5)).ok
    invite = await pad.state_where(lambda s: s.mode is proto.EvaluatorMode.INVITE, within=5)
    assert invite.ticket is not None
    return int(invite.ticket)


async def test_the_counter_high_water_mark_survives_a_restart(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    config = tmp_path / "hall.toml"
    config.write_text(RESTART_CONFIG.format(host=mosquitto.host, port=mosquitto.port), "utf-8")
    db = tmp_path / "hall.db"
    write_controller_credentials(mosquitto, load_config(config), db)
    daemon = HallDaemon(config, db)
    await daemon.start()
    devices = []
    try:
        key = DeviceKeys(device_keys_path(db)).get("signed", "pad-1")
        assert key is not None, "the daemon provisions the pad's key at start"
        assert device_keys_path(db).stat().st_mode & 0o777 == 0o600
        kiosk, caller, pad = (
            FakeDevice(
                mosquitto.host,
                mosquitto.port,
                "signed",
                d,
                k,
                mosquitto.login(Identity("signed", d)),
            )
            for d, k in (("kiosk-1", "kiosk"), ("caller-1", "caller"), ("pad-1", "evaluator"))
        )
        devices = [kiosk, caller, pad]
        pad.key = key
        for device in devices:
            await device.connect()
        await pad.state_where(lambda s: s.mode is proto.EvaluatorMode.STAFF_CARD, within=10)
        rid = caller.next_rid()
        caller.send(proto.Press(rid=rid, op=P.LOGIN, staff="0101"))
        assert (await caller.reply_to(rid, within=5)).ok
        first = await serve_one(kiosk, caller, pad)
        assert (await rate(pad, pad.signed(rating(pad, first), counter=41))).ok

        await daemon.stop()
        daemon = HallDaemon(config, db)
        await daemon.start()
        second = await serve_one(kiosk, caller, pad)
        replay = pad.signed(rating(pad, second, L.VERY_SATISFIED), counter=41)
        assert (await rate(pad, replay)).code == "replayed_counter"
        assert (await rate(pad, pad.signed(rating(pad, second), counter=42))).ok
    finally:
        for device in devices:
            with contextlib.suppress(Exception):
                await device.disconnect()
        await daemon.stop()
    rated = [e for e in await logged_events(config, db) if isinstance(e, ev.ServiceRated)]
    assert [(e.ticket, e.signature.counter if e.signature else None) for e in rated] == [
        (first, 41),
        (second, 42),
    ]
