"""A minimal controller for simulator tests: follows the device contract, records everything.

It answers a device birth with a Show of the state set for it (or a blank one), TakeTicket
with Reply + PrintTicket, Rating with Reply (once per rating_id), RatingTimeout with Reply, and
repeats the remembered Reply for a repeated rid. ``mute`` makes it ignore chosen requests so
tests can watch re-sends. ``MiniHall`` (optional) adds just enough queue logic for whole runs.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import gmqtt

from firmware_protocols import mqtt_v1 as p

BLANK: dict[p.DeviceKind, p.DeviceState] = {
    p.DeviceKind.KIOSK: p.KioskState(services=[]),
    p.DeviceKind.CALLER: p.CallerState(window=p.WindowState.LOGGED_OUT),
    p.DeviceKind.WINDOW_DISPLAY: p.WindowDisplayState(
        mode=p.DisplayMode.PAUSED, lines=["暂停服务"]
    ),
    p.DeviceKind.EVALUATOR: p.EvaluatorState(mode=p.EvaluatorMode.STAFF_CARD, window="1号窗口"),
    p.DeviceKind.HALL_SCREEN: p.HallScreenState(calls=[]),
}


class FakeController:
    def __init__(
        self,
        host: str,
        port: int,
        hall: str,
        *,
        session: int = 1,
        login: tuple[str, str] | None = None,
    ) -> None:
        self.host, self.port, self.hall = host, port, hall
        self.session = session
        will = gmqtt.Message(
            p.controller_status_topic(hall), p.encode(p.Will(session=session)), qos=1, retain=True
        )
        self.client = gmqtt.Client(f"fake-controller-{uuid.uuid4().hex[:8]}", will_message=will)
        self.client.on_message = self._on_message
        if login is not None:  # the hall controller's identity, c/{hall}
            self.client.set_auth_credentials(*login)
        self.ids = itertools.count(1)
        self.vers: dict[str, int] = defaultdict(int)
        self.states: dict[str, p.DeviceState] = {}
        self.kinds: dict[str, p.DeviceKind] = {}
        self.births: dict[str, list[p.Birth]] = defaultdict(list)
        self.wills: dict[str, list[p.Will]] = defaultdict(list)
        self.acks: dict[str, list[p.Ack]] = defaultdict(list)
        self.ups: list[tuple[str, p.UpMessage]] = []
        self.replies: dict[tuple[str, int], p.Reply] = {}
        self.ratings: dict[str, p.Rating] = {}
        self.mute: Callable[[str, p.UpMessage], bool] = lambda device, msg: False
        self.numbers = itertools.count(1)
        self.hall_logic: Any = None  # a MiniHall, when the test runs people

    async def start(self) -> None:
        subscribed = asyncio.Event()
        self.client.on_subscribe = lambda *args: subscribed.set()
        await self.client.connect(self.host, self.port)
        self.client.subscribe(
            [
                gmqtt.Subscription(p.up_filter(self.hall), qos=1),
                gmqtt.Subscription(p.status_filter(self.hall), qos=1),
            ]
        )
        await asyncio.wait_for(subscribed.wait(), 5)  # SUBACK: no device message can be missed
        self.announce(self.session)

    def announce(self, session: int) -> None:
        """Publish a (new) controller birth, as a restarted controller would."""
        self.session = session
        birth = p.Birth(session=session, kind=p.DeviceKind.CONTROLLER, fw="fake")
        self.client.publish(
            p.controller_status_topic(self.hall), p.encode(birth), qos=1, retain=True
        )

    async def close(self) -> None:
        await self.client.disconnect()

    # --- sending -------------------------------------------------------------------------------

    def send(self, device: str, message: p.DownMessage) -> None:
        self.client.publish(p.down_topic(self.hall, device), p.encode(message), qos=1)

    def show(
        self, device: str, state: p.DeviceState | None = None, *, ver: int | None = None
    ) -> p.Show:
        if state is not None:
            self.states[device] = state
        state = self.states.get(device) or BLANK[self.kinds[device]]
        if ver is None:
            self.vers[device] += 1
            ver = self.vers[device]
        show = p.Show(id=next(self.ids), ver=ver, state=state)
        self.send(device, show)
        return show

    def reply(self, device: str, rid: int, **fields: Any) -> p.Reply:
        reply = p.Reply(id=next(self.ids), rid=rid, **fields)
        self.replies[(device, rid)] = reply
        self.send(device, reply)
        return reply

    # --- receiving -----------------------------------------------------------------------------

    def _on_message(self, client: Any, topic: str, payload: bytes, qos: int, props: Any) -> int:
        address = p.parse_topic(topic)
        device = address.device
        if device is None:
            return 0
        if address.channel is p.Channel.STATUS:
            message = p.decode_status(payload)
            if isinstance(message, p.Birth):
                self.births[device].append(message)
                self.kinds[device] = message.kind
                self.show(device)
            else:
                self.wills[device].append(message)
            return 0
        message = p.decode_up(payload)
        self.ups.append((device, message))
        if isinstance(message, p.Ack):
            self.acks[device].append(message)
            return 0
        if isinstance(message, p.RebirthRequest):
            self.show(device)
            return 0
        if self.mute(device, message):
            return 0
        rid = getattr(message, "rid", None)
        if rid is not None and (device, rid) in self.replies:
            self.send(device, self.replies[(device, rid)])
            return 0
        self._answer(device, message)
        return 0

    def _answer(self, device: str, message: p.UpMessage) -> None:
        if self.hall_logic is not None and self.hall_logic.answer(self, device, message):
            return
        if isinstance(message, p.TakeTicket):
            number = f"{message.service}{next(self.numbers):03d}"
            self.reply(device, message.rid, ok=True, number=number)
            self.send(device, self.print_ticket(number))
        elif isinstance(message, p.Rating):
            self.ratings.setdefault(message.rating_id, message)
            self.reply(device, message.rid, ok=True)
        elif isinstance(message, p.RatingTimeout | p.Press):
            self.reply(device, message.rid, ok=True)

    def print_ticket(self, number: str, ahead: int = 0) -> p.PrintTicket:
        return p.PrintTicket(
            id=next(self.ids),
            number=number,
            service="测试业务",
            ahead=ahead,
            issued="2026-11-22 09:31",
        )

    # --- test helpers --------------------------------------------------------------------------

    def up(self, kind: type[p.Message], device: str | None = None) -> list[Any]:
        return [m for d, m in self.ups if isinstance(m, kind) and (device is None or d == device)]


async def eventually(condition: Callable[[], object], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
