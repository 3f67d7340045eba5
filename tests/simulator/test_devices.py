"""Simulated devices against a real broker and a fake controller: the device side of the
contract (births and wills, acks, versions, re-sends, outbox, rebirth)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

import pytest

from devices.mqtt.identity import Identity
from devices.mqtt.mosquitto_process import MosquittoProcess
from firmware_protocols import mqtt_v1 as p
from simulator.devices import (
    SimCaller,
    SimDevice,
    SimEvaluator,
    SimKiosk,
    SimWindowDisplay,
    TakeResult,
)
from simulator.devices.connection import Endpoint
from simulator.devices.requests import RETRY_AFTER, make_rid
from tests.simulator.conftest import HALL
from tests.simulator.fake_controller import FakeController, eventually

D = TypeVar("D", bound=SimDevice)
FAST_RETRY = 0.3


def endpoint(broker: MosquittoProcess, device: str, kind: p.DeviceKind) -> Endpoint:
    """The device's broker identity is granted, as the installer would provision it."""
    password = broker.grant([Identity(HALL, device)])[Identity(HALL, device)]
    return Endpoint(
        host=broker.host, port=broker.port, hall=HALL, device=device, kind=kind, password=password
    )


@asynccontextmanager
async def running(device: D) -> AsyncIterator[D]:
    await device.start()
    try:
        async with asyncio.timeout(5):
            await device.link.wait_connected()
        yield device
    finally:
        await device.close()


def caller(broker: MosquittoProcess, name: str = "w1-caller") -> SimCaller:
    return SimCaller(endpoint(broker, name, p.DeviceKind.CALLER), window=1, retry_after=FAST_RETRY)


def invite(ticket: int, seconds: int = 30) -> p.EvaluatorState:
    return p.EvaluatorState(
        mode=p.EvaluatorMode.INVITE,
        window="1号窗口",
        ticket=ticket,
        seconds=seconds,
        reasons=[p.ReasonTag(id="slow", text="办理慢")],
    )


CALLING = p.CallerState(window=p.WindowState.CALLING, current="A001", waiting=3, staff="王丽")


async def test_birth_is_answered_with_a_show_that_is_applied_and_acked(
    mosquitto: MosquittoProcess, controller: FakeController
) -> None:
    controller.states["w1-caller"] = CALLING
    async with running(caller(mosquitto)) as device:
        await eventually(lambda: device.state == CALLING)
        await eventually(lambda: controller.acks["w1-caller"])
    birth = controller.births["w1-caller"][0]
    assert (birth.session, birth.kind) == (1, p.DeviceKind.CALLER)
    assert device.link.client_id == f"d/{HALL}/w1-caller"  # also its broker user name
    assert controller.acks["w1-caller"][0].ok
    assert device.ver == 1


async def test_a_repeated_command_id_is_acked_again_but_executed_once(
    mosquitto: MosquittoProcess, controller: FakeController
) -> None:
    kiosk = SimKiosk(endpoint(mosquitto, "k1", p.DeviceKind.KIOSK))
    async with running(kiosk):
        await eventually(lambda: controller.acks["k1"])  # the birth's Show
        printing = controller.print_ticket("A007")
        for _ in range(3):
            controller.send("k1", printing)
        await eventually(
            lambda: len([a for a in controller.acks["k1"] if a.id == printing.id]) == 3
        )
        show = controller.show("k1", p.KioskState(services=[]))
        controller.send("k1", show)
        await eventually(lambda: [a.id for a in controller.acks["k1"]].count(show.id) == 2)
    assert [t.number for t in kiosk.printed] == ["A007"]
    assert kiosk.paper == 1999
    assert kiosk.stats.duplicate_commands == 3
    assert kiosk.stats.shows_applied == 2  # birth's Show and this one


async def test_a_show_is_applied_only_when_its_version_is_newer(
    mosquitto: MosquittoProcess, controller: FakeController
) -> None:
    async with running(caller(mosquitto)) as device:
        await eventually(lambda: device.ver == 1)
        newer = controller.show("w1-caller", CALLING, ver=5)
        older = controller.show(
            "w1-caller", p.CallerState(window=p.WindowState.IDLE, staff="王丽"), ver=3
        )
        await eventually(
            lambda: {a.id for a in controller.acks["w1-caller"]} >= {newer.id, older.id}
        )
    assert device.state == CALLING
    assert device.ver == 5
    assert device.stats.shows_stale == 1
    assert all(a.ok for a in controller.acks["w1-caller"])


async def test_a_show_of_another_family_is_refused_and_not_applied(
    mosquitto: MosquittoProcess, controller: FakeController
) -> None:
    async with running(caller(mosquitto)) as device:
        await eventually(lambda: device.ver == 1)
        wrong = controller.show("w1-caller", p.HallScreenState(calls=[]), ver=9)
        await eventually(lambda: any(a.id == wrong.id for a in controller.acks["w1-caller"]))
    ack = next(a for a in controller.acks["w1-caller"] if a.id == wrong.id)
    assert (ack.ok, ack.code) == (False, p.AckError.UNSUPPORTED)
    assert device.ver == 1


async def test_an_unanswered_request_is_resent_with_the_same_rid(
    mosquitto: MosquittoProcess, controller: FakeController
) -> None:
    seen: list[int] = []

    def mute_twice(device: str, msg: p.UpMessage) -> bool:
        if isinstance(msg, p.Press):
            seen.append(msg.rid)
            return len(seen) <= 2
        return False

    controller.mute = mute_twice
    async with running(caller(mosquitto)) as device:
        result = await device.press(p.PressOp.CALL_NEXT)
    assert result.ok
    assert len(seen) == 3 and len(set(seen)) == 1
    assert RETRY_AFTER == 3.0  # the contract's interval (mqtt.md 6.2); tests use a shorter one


async def test_a_request_never_answered_gives_up_after_five_resends(
    mosquitto: MosquittoProcess, controller: FakeController
) -> None:
    controller.mute = lambda device, msg: isinstance(msg, p.Press)
    device = caller(mosquitto)
    device.requests.retry_after = 0.1
    async with running(device):
        result = await device.press(p.PressOp.RECALL)
    assert result.reply is None and result.code == "unanswered"
    assert len(controller.up(p.Press)) == 6
    assert device.requests.unanswered[0].sends == 6


async def test_the_default_retry_interval_is_three_seconds(
    mosquitto: MosquittoProcess, controller: FakeController
) -> None:
    times: list[float] = []
    loop = asyncio.get_running_loop()

    def mute_first(device: str, msg: p.UpMessage) -> bool:
        if isinstance(msg, p.TakeTicket):
            times.append(loop.time())
            return len(times) == 1
        return False

    controller.mute = mute_first
    kiosk = SimKiosk(endpoint(mosquitto, "k1", p.DeviceKind.KIOSK))
    async with running(kiosk):
        outcome = await kiosk.take_ticket("A")
    assert outcome.result is TakeResult.PRINTED
    assert 2.9 <= times[1] - times[0] <= 3.6  # mqtt.md 6.2


async def test_an_unclean_drop_fires_the_will_and_the_next_birth_has_a_new_session(
    mosquitto: MosquittoProcess, controller: FakeController
) -> None:
    wills = controller.wills["w1-caller"]
    births = controller.births["w1-caller"]
    async with running(caller(mosquitto)) as device:
        await eventually(lambda: len(births) == 1)
        device.drop(0.5)
        await eventually(lambda: [w.session for w in wills] == [1])  # the broker's will
        await eventually(lambda: len(births) == 2)
        assert device.online
    assert [b.session for b in births] == [1, 2]
    # The clean close at the end publishes the will of the current session.
    await eventually(lambda: len(wills) == 2, within=10)
    assert [w.session for w in wills] == [1, 2]


async def test_rids_differ_across_sessions() -> None:
    assert make_rid(1, 1) != make_rid(2, 1)
    assert make_rid(1, 1) != make_rid(1, 2)
    assert 0 <= make_rid(5000, 2**20 + 3) < 2**32


async def test_a_rating_pressed_while_the_link_is_lost_is_delivered_after_reconnect(
    mosquitto: MosquittoProcess, controller: FakeController
) -> None:
    pad = SimEvaluator(endpoint(mosquitto, "w1-pad", p.DeviceKind.EVALUATOR), window=1)
    async with running(pad):
        await eventually(lambda: pad.ver == 1)
        controller.show("w1-pad", invite(42))
        await eventually(lambda: pad.invite is not None)
        plan = pad.lose_link_on_next_press(0.5)
        assert pad.press(p.RatingLevel.VERY_SATISFIED)
        assert not pad.press(p.RatingLevel.DISSATISFIED)  # one press per invite
        assert plan.fired and not pad.online
        assert pad.outbox.pending
        assert await pad.settle(5.0)
    rating_id = pad.pressed[0].rating_id
    assert list(controller.ratings) == [rating_id]
    assert controller.ratings[rating_id].ticket == 42
    assert len(controller.births["w1-pad"]) == 2
    assert pad.outbox.delivered[0].reply is not None and pad.outbox.delivered[0].reply.ok


async def test_an_unanswered_rating_waits_for_the_next_connection_and_keeps_its_id(
    mosquitto: MosquittoProcess, controller: FakeController
) -> None:
    controller.mute = lambda device, msg: isinstance(msg, p.Rating)
    pad = SimEvaluator(
        endpoint(mosquitto, "w1-pad", p.DeviceKind.EVALUATOR), window=1, retry_after=0.05
    )
    async with running(pad):
        await eventually(lambda: pad.ver == 1)
        controller.show("w1-pad", invite(7))
        await eventually(lambda: pad.invite is not None)
        pad.press(p.RatingLevel.DISSATISFIED, ("slow",))
        await eventually(lambda: len(controller.up(p.Rating)) == 6)
        await asyncio.sleep(0.3)
        assert len(controller.up(p.Rating)) == 6  # parked until something changes
        controller.mute = lambda device, msg: False
        pad.drop(0.1)
        assert await pad.settle(5.0)
    sent = controller.up(p.Rating)
    assert {r.rating_id for r in sent} == {pad.pressed[0].rating_id}
    assert len({r.rid for r in sent[:6]}) == 1 and sent[6].rid != sent[0].rid
    assert sent[-1].reasons == ["slow"] and sent[-1].level is p.RatingLevel.DISSATISFIED
    assert list(controller.ratings) == [pad.pressed[0].rating_id]


async def test_an_invite_with_no_press_ends_in_a_rating_timeout(
    mosquitto: MosquittoProcess, controller: FakeController
) -> None:
    pad = SimEvaluator(
        endpoint(mosquitto, "w1-pad", p.DeviceKind.EVALUATOR), window=1, time_scale=0.01
    )
    async with running(pad):
        await eventually(lambda: pad.ver == 1)
        controller.show("w1-pad", invite(9, seconds=20))
        await eventually(lambda: pad.timeouts and pad.timeouts[0].reply is not None)
        assert not pad.press(p.RatingLevel.SATISFIED)
    assert [m.ticket for m in controller.up(p.RatingTimeout)] == [9]
    assert not controller.up(p.Rating)


async def test_a_new_controller_birth_makes_the_device_ask_for_a_rebirth(
    mosquitto: MosquittoProcess, controller: FakeController
) -> None:
    async with running(caller(mosquitto)) as device:
        await eventually(lambda: device.controller_session == 1)
        controller.announce(2)
        await eventually(lambda: controller.up(p.RebirthRequest, "w1-caller"))
        await eventually(lambda: device.ver == 2)  # the Show answering the request
    assert device.stats.rebirth_requests == 1


async def test_a_rebirth_command_republishes_the_birth_with_the_same_session(
    mosquitto: MosquittoProcess, controller: FakeController
) -> None:
    async with running(caller(mosquitto)):
        await eventually(lambda: controller.acks["w1-caller"])
        command = p.Rebirth(id=next(controller.ids))
        controller.send("w1-caller", command)
        await eventually(lambda: len(controller.births["w1-caller"]) == 2)
        await eventually(lambda: any(a.id == command.id for a in controller.acks["w1-caller"]))
    assert [b.session for b in controller.births["w1-caller"]] == [1, 1]


async def test_a_kiosk_without_paper_reports_it_and_refuses_to_print(
    mosquitto: MosquittoProcess, controller: FakeController
) -> None:
    kiosk = SimKiosk(endpoint(mosquitto, "k1", p.DeviceKind.KIOSK), paper=2, paper_low=1)
    async with running(kiosk):
        first = await kiosk.take_ticket("A")
        second = await kiosk.take_ticket("A")
        await eventually(lambda: len(controller.up(p.PrinterStatus)) == 3)
        third = await kiosk.take_ticket("A")
        kiosk.set_paper(100)
        await eventually(lambda: len(controller.up(p.PrinterStatus)) == 4)
    assert (first.result, second.result) == (TakeResult.PRINTED, TakeResult.PRINTED)
    assert third.result is TakeResult.NOT_PRINTED
    papers = [s.paper for s in controller.up(p.PrinterStatus)]
    assert papers == [p.PaperLevel.OK, p.PaperLevel.LOW, p.PaperLevel.OUT, p.PaperLevel.OK]
    failed = [a for a in controller.acks["k1"] if not a.ok]
    assert [a.code for a in failed] == [p.AckError.PRINTER]


async def test_a_refused_ticket_is_reported_with_its_code(
    mosquitto: MosquittoProcess, controller: FakeController
) -> None:
    def refuse(device: str, msg: p.UpMessage) -> bool:
        if isinstance(msg, p.TakeTicket):
            controller.reply(device, msg.rid, ok=False, code="printer_unavailable", text="缺纸")
            return True
        return False

    controller.mute = refuse
    kiosk = SimKiosk(endpoint(mosquitto, "k1", p.DeviceKind.KIOSK))
    async with running(kiosk):
        outcome = await kiosk.take_ticket("A")
    assert (outcome.result, outcome.code) == (TakeResult.REFUSED, "printer_unavailable")
    assert not kiosk.printed


async def test_a_bad_payload_is_counted_and_changes_nothing(
    mosquitto: MosquittoProcess, controller: FakeController
) -> None:
    display = SimWindowDisplay(endpoint(mosquitto, "w1-led", p.DeviceKind.WINDOW_DISPLAY), window=1)
    async with running(display):
        await eventually(lambda: display.ver == 1)
        before = display.state
        controller.client.publish(p.down_topic(HALL, "w1-led"), b"\xc1garbage", qos=1)
        await eventually(lambda: display.stats.decode_errors == 1)
    assert display.state == before and display.ver == 1
    assert len(controller.acks["w1-led"]) == 1


async def test_press_with_wrong_arguments_raises_before_sending(
    mosquitto: MosquittoProcess, controller: FakeController
) -> None:
    async with running(caller(mosquitto)) as device:
        with pytest.raises(ValueError):
            await device.press(p.PressOp.LOGIN)
    assert not controller.up(p.Press)
