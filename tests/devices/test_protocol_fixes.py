"""The defects an independent firmware vendor found (issue 11), each against a real Mosquitto
and the real hub: steady-state reconciliation after lost shows, `busy` acks retried, error
replies under the readable rid, a birth of the wrong kind answered and kept visible, a failed
slip told to the kiosk and the console, the staff photo fetchable by the pad over HTTP, and the
codec's rules (a 满意 rating with 差评 reasons is invalid)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import msgspec
import pytest

from controller.config.model import HttpSettings, Staff
from controller.daemon.device_links import mqtt_devices
from controller.daemon.process import Daemon, HallSource
from devices.mqtt.mosquitto_process import MosquittoProcess
from firmware_protocols import mqtt_v1 as proto
from tests.controller.halls import small_hall
from tests.devices.test_hub import DEVICES, Hall, press, until

P = proto.PressOp
RETRIES = (0.3, 0.6, 1.2)  # the hub gives a show up 2.1 s after the first send
RECONCILE = 1.0
PHOTO = b"\xff\xd8\xff\xe0fake-jpeg-bytes"


@pytest.fixture
async def hall(mosquitto: MosquittoProcess, tmp_path: Path) -> AsyncIterator[Hall]:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "1001.jpg").write_bytes(PHOTO)
    base = small_hall()
    staff = tuple(
        dataclasses.replace(s, photo=str(tmp_path / "photos" / "1001.jpg")) if s.id == "1001" else s
        for s in base.staff
    )
    assert isinstance(staff[0], Staff)
    port = _free_port()
    config = dataclasses.replace(
        base,
        devices=DEVICES,
        staff=staff,
        http=HttpSettings(public_url=f"http://127.0.0.1:{port}"),
    )
    config = dataclasses.replace(config, mqtt=mosquitto.settings(config))
    daemon = Daemon(
        [HallSource(config, "")],
        db_path=tmp_path / "hall.db",
        http_port=port,
        extensions=[mqtt_devices(retry_delays=RETRIES, reconcile_s=RECONCILE)],
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


def _free_port() -> int:
    from tests.controller.daemon.test_crash_recovery import free_port

    return free_port()


async def test_a_display_that_lost_every_show_converges_within_the_bound(hall: Hall) -> None:
    caller = await hall.device("caller-1", "caller")
    led = await hall.device("led-1", "window_display")
    await led.state_where(lambda s: s.lines == ["暂停服务"])
    led.drop_shows = True  # the strip's link eats every show from now on
    assert (await press(caller, P.LOGIN, staff="1001")).ok
    # Every re-send of the new state is lost; the hub gives up (and, before this fix, never
    # sent it again while nothing changed).
    await until(lambda: hall.hub.stats.command_failures >= 1, within=10)
    dropped = led.dropped_shows
    assert dropped >= len(RETRIES) + 1
    # A second round is tried RECONCILE s later, and lost too.
    await until(lambda: led.dropped_shows > dropped, within=RECONCILE + 3)
    healed_at = time.monotonic()
    led.drop_shows = False  # the link heals; the hall does not change
    state = await led.state_where(
        lambda s: s.mode is proto.DisplayMode.IDLE, within=sum(RETRIES) + RECONCILE + 3
    )
    took = time.monotonic() - healed_at
    assert state.lines == [small_hall().hall.notice or state.lines[0]]
    # Bound: the rest of a retry round, or one reconciliation period, plus a round trip.
    assert took <= max(RETRIES[-1], RECONCILE) + 1.5, took
    assert hall.hub.stats.reconciliations >= 1


async def test_a_busy_ack_is_retried_with_the_same_id(hall: Hall) -> None:
    led = await hall.device("led-1", "window_display", birth=False)
    led.auto_ack = False
    led.birth()
    first = await led.wait_for(lambda m: isinstance(m, proto.Show), within=5)
    led.send(proto.Ack(id=first.id, ok=False, code=proto.AckError.BUSY, text="flash busy"))
    again = await led.wait_for(
        lambda m: isinstance(m, proto.Show) and m is not first and m.id == first.id, within=5
    )
    assert again == first  # same id, same bytes: "try again later" (3.1)
    led.send(proto.Ack(id=first.id, ok=True))
    await until(lambda: len(hall.hub.outbound) == 0)
    assert hall.hub.stats.busy_acks == 1 and hall.hub.stats.command_failures == 0


async def test_an_error_reply_names_the_rid_it_could_read(hall: Hall) -> None:
    caller = await hall.device("caller-1", "caller")
    # A transfer naming both a service and a window: invalid, but its rid is readable.
    raw = {"t": "press", "v": 1, "rid": 4711, "op": "transfer", "service": "B", "window": 2}
    caller.send_raw(msgspec.msgpack.encode(raw))
    reply = await caller.reply_to(4711)
    assert (reply.ok, reply.code) == (False, "invalid_field")
    caller.send_raw(msgspec.msgpack.encode({"t": "press", "v": 1, "op": "login"}))
    unread = await caller.reply_to(0)
    assert unread.code == "invalid_field"


async def test_a_birth_of_the_wrong_kind_is_answered_and_kept_visible(hall: Hall) -> None:
    wrong = await hall.device("led-1", "caller")  # a keypad configured as led-1's strip
    reply = await wrong.reply_to(0)
    assert (reply.ok, reply.code) == (False, "kind_mismatch")
    status = hall.hub.availability.devices["led-1"]
    assert (
        status.online
        and status.misconfigured == "announced as caller, configured as window_display"
    )
    assert not [m for m in wrong.received if isinstance(m, proto.Show)]
    await wrong.disconnect()
    right = await hall.device("led-1", "window_display")
    await right.state_where(lambda s: s.mode is proto.DisplayMode.PAUSED)
    assert status.misconfigured == ""


async def test_a_failed_slip_is_told_to_the_kiosk_screen_and_the_console(hall: Hall) -> None:
    kiosk = await hall.device("kiosk-1", "kiosk")
    await kiosk.state_where(lambda s: isinstance(s, proto.KioskState))
    kiosk.auto_ack = False
    rid = kiosk.next_rid()
    kiosk.send(proto.TakeTicket(rid=rid, service="A"))
    assert (await kiosk.reply_to(rid)).number == "A001"
    slip = await kiosk.wait_for(lambda m: isinstance(m, proto.PrintTicket))
    kiosk.send(proto.Ack(id=slip.id, ok=False, code=proto.AckError.PRINTER, text="paper jam"))
    notice = await kiosk.state_where(lambda s: "A001号票据打印失败" in s.notice)
    assert notice.notice == "A001号票据打印失败，请记住您的号码，或到咨询台补打"
    status = hall.hub.availability.devices["kiosk-1"]
    assert status.last_error == "A001号票据打印失败（paper jam），请在控制台补打或取消"
    assert hall.hub.stats.print_failures == 1
    # The ticket stays issued and waiting: the console can reprint it at the kiosk.
    ticket = hall.daemon.halls["demo"].state.tickets[1]
    assert ticket.number == "A001" and ticket.state.value == "waiting"
    hall.hub.reprint(1, "kiosk-1")
    again = await kiosk.wait_for(lambda m: isinstance(m, proto.PrintTicket) and m.id != slip.id)
    assert isinstance(again, proto.PrintTicket) and again.number == "A001"


async def test_the_pad_gets_an_absolute_photo_url_it_can_fetch_without_login(hall: Hall) -> None:
    caller = await hall.device("caller-1", "caller")
    pad = await hall.device("pad-1", "evaluator")
    assert (await press(caller, P.LOGIN, staff="1001")).ok
    card = await pad.state_where(lambda s: s.staff_id == "1001")
    public = hall.daemon.halls["demo"].engine.config.http.public_url
    assert card.photo == f"{public}/public/demo/staff/1001/photo"
    async with aiohttp.ClientSession() as http:  # no token, no cookie: as a pad
        async with http.get(card.photo) as response:
            assert response.status == 200 and response.content_type == "image/jpeg"
            assert await response.read() == PHOTO
        async with http.get(f"{public}/public/demo/staff/1002/photo") as response:
            assert response.status == 404 and (await response.json())["code"] == "no_photo"
        async with http.get(f"{public}/public/demo/staff/..%2F..%2Fetc/photo") as response:
            assert response.status == 404


def test_a_satisfied_rating_with_bad_reasons_is_an_invalid_field() -> None:
    payload = msgspec.msgpack.encode(
        {
            "t": "rating",
            "v": 1,
            "rid": 5,
            "rating_id": "x",
            "ticket": 1,
            "level": 4,
            "reasons": ["slow"],
        }
    )
    with pytest.raises(proto.PayloadError) as info:
        proto.decode_up(payload)
    assert info.value.reason is proto.PayloadErrorReason.INVALID_FIELD and info.value.rid == 5
    # Partly signed is invalid too: all of counter, key_id, mac or none.
    half = {"t": "rating_timeout", "v": 1, "rid": 6, "ticket": 1, "counter": 3}
    with pytest.raises(proto.PayloadError) as info:
        proto.decode_up(msgspec.msgpack.encode(half))
    assert info.value.reason is proto.PayloadErrorReason.INVALID_FIELD and info.value.rid == 6
    # An ack without `text` is fine (the document says it is optional).
    ack = proto.decode_up(msgspec.msgpack.encode({"t": "ack", "v": 1, "id": 9, "ok": True}))
    assert isinstance(ack, proto.Ack) and ack.text == ""
