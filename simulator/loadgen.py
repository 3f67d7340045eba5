"""Load generator for ``hallctl bench``: thousands of protocol-v1 devices at a set message rate.

Every window has a keypad, an LED strip and a pad; kiosks take tickets. Each window walks the
loop take ticket → call next → finish → rate, one request at a time (the next step waits for
the reply, as a clerk would), while a global pacer releases requests at the offered rate.
Devices ack every ``show`` and ``print_ticket`` like real firmware. Latency is measured where
the issue asks: from a keypad's ``call_next`` to the moment that window's strip receives a
``show`` in calling mode.

For load generation the devices share a few MQTT connections (a real hall has one connection
per device; the broker and the controller see the same topics and payloads either way, and
thousands of sockets in one Python process would measure this process, not the controller).

``relay_main`` is the baseline: the same message pattern answered by a bare relay with no
engine and no log, so ``hallctl bench`` can state how much of the transport's capacity the
controller keeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gmqtt  # type: ignore[import-untyped]

from devices.mqtt.ids import MonotonicIds
from firmware_protocols import mqtt_v1 as proto


@dataclass(frozen=True, slots=True)
class WindowDevices:
    window: int
    caller: str
    display: str
    pad: str
    kiosk: str
    service: str


LOAD_CONNECTIONS = 4  # publishing connections the devices share (plus one receiving)


@dataclass(frozen=True, slots=True)
class LoadPlan:
    host: str
    port: int
    hall: str
    windows: tuple[WindowDevices, ...]
    kiosks: tuple[str, ...]
    rate: float  # requests per second offered (0: as fast as the replies allow)
    duration_s: float
    warmup_s: float = 2.0
    connections: int = LOAD_CONNECTIONS
    logins: tuple[tuple[str, str], ...] = ()  # one per publisher, then the receiver; () no login


@dataclass(slots=True)
class _Window:
    devices: WindowDevices
    step: int = 0  # 0 take, 1 call, 2 finish, 3 rate
    busy: bool = False
    ticket: int | None = None  # to rate, from the pad's invite
    call_sent_at: float | None = None
    sent_at: float | None = None  # when the request in flight went out
    request: tuple[str, proto.UpMessage] | None = None


RESEND_AFTER_S = 2.0  # as the protocol asks of devices: same rid, no reply after 2 s

# After a refusal, the step that matches what the hall says about the window.
_RECOVER = {
    "window_busy": 2,  # something is called or served here: finish it
    "no_ticket_at_window": 1,  # nothing called: call
    "queue_empty": 0,  # nothing waiting: take a ticket first
}


@dataclass(slots=True)
class LoadResult:
    offered: int = 0
    answered: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    acks: int = 0
    shows: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0
    starved: int = 0  # pacer ticks with no window ready (offered load not reachable)
    resent: int = 0  # requests re-sent after 2 s without a reply

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)

        def pct(q: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(len(lat) * q))], 2) if lat else None

        return {
            "offered": self.offered,
            "answered": self.answered,
            "seconds": round(self.seconds, 2),
            "offered_msgs_per_s": round(self.offered / self.seconds, 1) if self.seconds else 0,
            "sustained_msgs_per_s": round(self.answered / self.seconds, 1) if self.seconds else 0,
            "press_to_display_ms": {"p50": pct(0.5), "p99": pct(0.99), "n": len(lat)},
            "refused": self.refused,
            "acks_sent": self.acks,
            "shows_received": self.shows,
            "starved_ticks": self.starved,
            "resent": self.resent,
        }


async def _connect(plan: LoadPlan, name: str, n: int) -> Any:
    client = gmqtt.Client(f"{name}-{time.monotonic_ns()}")
    if plan.logins:  # the broker names the client after the user (one per connection)
        client.set_auth_credentials(*plan.logins[n])
    await client.connect(plan.host, plan.port, keepalive=60)
    return client


async def generate(plan: LoadPlan) -> dict[str, Any]:
    """Run the plan; returns ``LoadResult.summary()`` of the measured part."""
    windows = [_Window(w) for w in plan.windows]
    {w.devices.caller: w for w in windows}
    by_display = {w.devices.display: w for w in windows}
    by_pad = {w.devices.pad: w for w in windows}
    pending: dict[tuple[str, int], _Window] = {}
    ready: deque[_Window] = deque(windows)
    result = LoadResult()
    measuring = False
    rid_counter = 0
    publishers = [await _connect(plan, f"load-pub-{i}", i) for i in range(plan.connections)]
    receiver = await _connect(plan, "load-sub", plan.connections)
    ack_pub = publishers[0]

    def publish(device: str, message: proto.UpMessage, qos: int = 0) -> None:
        client = publishers[hash(device) % len(publishers)]
        client.publish(
            proto.up_topic(plan.hall, device), proto.encode(message, check=False), qos=qos
        )

    def on_message(client: Any, topic: str, payload: bytes, qos: int, props: Any) -> int:
        nonlocal measuring
        device = topic.split("/")[4]
        message = proto.decode_down(payload)
        if isinstance(message, proto.Show | proto.PrintTicket):
            ack_pub.publish(
                proto.up_topic(plan.hall, device),
                proto.encode(proto.Ack(id=message.id, ok=True), check=False),
                qos=0,
            )
            if measuring:
                result.acks += 1
        if isinstance(message, proto.Show):
            if measuring:
                result.shows += 1
            state = message.state
            if isinstance(state, proto.WindowDisplayState):
                window = by_display.get(device)
                if (
                    window is not None
                    and window.call_sent_at is not None
                    and state.mode is proto.DisplayMode.CALLING
                ):
                    if measuring:
                        result.latencies_ms.append(
                            (time.perf_counter() - window.call_sent_at) * 1000
                        )
                    window.call_sent_at = None
            elif isinstance(state, proto.EvaluatorState):
                window = by_pad.get(device)
                if window is not None and state.mode is proto.EvaluatorMode.INVITE:
                    window.ticket = state.ticket
        elif isinstance(message, proto.Reply):
            window = pending.pop((device, message.rid), None)
            if window is None:
                return 0
            if measuring:
                result.answered += 1
                if not message.ok:
                    code = message.code or "?"
                    result.refused[code] = result.refused.get(code, 0) + 1
            _advance(window, message)
        return 0

    def _advance(window: _Window, reply: proto.Reply) -> None:
        window.busy = False
        window.sent_at = None
        if not reply.ok:
            # Re-align with the hall, as a clerk would after a refusal beep.
            window.call_sent_at = None
            window.step = _RECOVER.get(reply.code or "", 0)
        elif window.step == 3:  # rated: next citizen
            window.step = 0
            window.ticket = None
        else:
            window.step += 1
        ready.append(window)

    def send_step(window: _Window) -> bool:
        nonlocal rid_counter
        rid_counter += 1
        rid = rid_counter
        d = window.devices
        message: proto.UpMessage
        if window.step == 0:
            device, message = d.kiosk, proto.TakeTicket(rid=rid, service=d.service)
        elif window.step == 1:
            window.call_sent_at = time.perf_counter()
            device, message = d.caller, proto.Press(rid=rid, op=proto.PressOp.CALL_NEXT)
        elif window.step == 2:
            window.ticket = None  # rate only what this finish's invite names
            device, message = d.caller, proto.Press(rid=rid, op=proto.PressOp.FINISH)
        else:
            if window.ticket is None:
                return False  # the invite has not arrived yet
            device, message = (
                d.pad,
                proto.Rating(
                    rid=rid,
                    rating_id=f"{d.pad}-{rid}",
                    ticket=window.ticket,
                    level=proto.RatingLevel.SATISFIED,
                ),
            )
        pending[(device, rid)] = window
        window.request = (device, message)
        publish(device, message)
        window.busy = True
        window.sent_at = time.perf_counter()
        return True

    receiver.on_message = on_message
    receiver.subscribe(f"hallctl/v1/{plan.hall}/dev/+/down", qos=0)
    await asyncio.sleep(0.3)
    # Births: every device announces itself; the controller answers each with its state.
    session = int(time.time())
    all_devices = [d for w in plan.windows for d in (w.caller, w.display, w.pad)]
    all_devices += list(plan.kiosks)
    kinds = {w.caller: proto.DeviceKind.CALLER for w in plan.windows}
    kinds |= {w.display: proto.DeviceKind.WINDOW_DISPLAY for w in plan.windows}
    kinds |= {w.pad: proto.DeviceKind.EVALUATOR for w in plan.windows}
    kinds |= {k: proto.DeviceKind.KIOSK for k in plan.kiosks}
    for n, device in enumerate(all_devices):
        client = publishers[hash(device) % len(publishers)]
        client.publish(
            proto.status_topic(plan.hall, device),
            proto.encode(proto.Birth(session=session, kind=kinds[device], fw="load")),
            qos=0,
            retain=True,
        )
        if n % 200 == 199:
            await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    # Clerks log in.
    for window in windows:
        rid_counter += 1
        pending[(window.devices.caller, rid_counter)] = window
        window.busy = True
        publish(
            window.devices.caller,
            proto.Press(rid=rid_counter, op=proto.PressOp.LOGIN, staff=f"s{window.devices.window}"),
        )
    ready.clear()
    await asyncio.sleep(1.5)
    for window in windows:
        window.step, window.busy = 0, False
    ready.extend(windows)
    pending.clear()

    loop = asyncio.get_running_loop()
    started = loop.time()
    measure_from = started + plan.warmup_s
    end = measure_from + plan.duration_s
    tokens = 0.0
    last = started
    last_resend_scan = started
    while True:
        now = loop.time()
        if now >= end:
            break
        if not measuring and now >= measure_from:
            measuring = True
            result.offered = 0
        if plan.rate > 0:
            tokens = min(tokens + (now - last) * plan.rate, max(1.0, plan.rate * 0.05))
        else:
            tokens = float(len(ready))
        last = now
        sent_any = False
        skipped: list[_Window] = []
        while tokens >= 1.0 and ready:
            window = ready.popleft()
            if send_step(window):
                tokens -= 1.0
                sent_any = True
                if measuring:
                    result.offered += 1
            else:
                skipped.append(window)
        ready.extend(skipped)
        if tokens >= 1.0 and not sent_any and measuring:
            result.starved += 1
        if now - last_resend_scan > 0.5:
            last_resend_scan = now
            stale = time.perf_counter() - RESEND_AFTER_S
            for window in windows:
                if window.busy and window.sent_at is not None and window.sent_at < stale:
                    assert window.request is not None
                    window.sent_at = time.perf_counter()
                    publish(*window.request)
                    if measuring:
                        result.resent += 1
        await asyncio.sleep(0.001)
    result.seconds = loop.time() - measure_from
    measuring = False
    await asyncio.sleep(0.5)
    for client in [*publishers, receiver]:
        with contextlib.suppress(Exception):
            await client.disconnect()
    return result.summary()


# --- the baseline relay: same pattern, no engine, no log -------------------------------------


async def relay(
    host: str,
    port: int,
    hall: str,
    displays: dict[str, str],
    pads: dict[str, str],
    stop: asyncio.Event,
    ready: Callable[[], None] = lambda: None,
    login: tuple[str, str] | None = None,
) -> None:
    """Answer every request like the controller would, without deciding anything: the same
    replies, shows and prints a real request causes (one message for one message), so the
    difference to ``hallctl bench``'s daemon phases is the engine, the log and the hub."""
    ids = MonotonicIds()
    client = gmqtt.Client(f"relay-{time.monotonic_ns()}")
    if login is not None:  # the hall controller's identity: the relay stands in for it
        client.set_auth_credentials(*login)
    ticket = 0

    def show(device: str, state: proto.DeviceState) -> None:
        send(device, proto.Show(id=ids.next(), ver=ids.next(), state=state))

    def send(device: str, message: proto.DownMessage) -> None:
        client.publish(proto.down_topic(hall, device), proto.encode(message, check=False), qos=0)

    def on_message(c: Any, topic: str, payload: bytes, qos: int, props: Any) -> int:
        nonlocal ticket
        parts = topic.split("/")
        device = parts[4]
        if parts[5] == "status":
            return 0
        message = proto.decode_up(payload)
        if isinstance(message, proto.Press):
            # The shows a real press causes (devices.hub): the keypad's own state, the strip,
            # and on finish the pad's invitation; the reply last, as the controller does.
            number = None
            if message.op is proto.PressOp.CALL_NEXT:
                number = "A001"
                show(
                    device,
                    proto.CallerState(
                        window=proto.WindowState.CALLING, current=number, waiting=3, staff="职员"
                    ),
                )
                show(
                    displays[device],
                    proto.WindowDisplayState(
                        mode=proto.DisplayMode.CALLING, lines=["请A001号到1号窗口办理"], blink=True
                    ),
                )
            elif message.op is proto.PressOp.FINISH:
                ticket += 1
                show(
                    device,
                    proto.CallerState(window=proto.WindowState.IDLE, waiting=3, staff="职员"),
                )
                show(
                    displays[device],
                    proto.WindowDisplayState(
                        mode=proto.DisplayMode.IDLE, lines=["欢迎光临 热情服务"]
                    ),
                )
                show(
                    pads[device],
                    proto.EvaluatorState(
                        mode=proto.EvaluatorMode.INVITE, window="1号窗口", ticket=ticket, seconds=30
                    ),
                )
            elif message.op is proto.PressOp.LOGIN:
                show(device, proto.CallerState(window=proto.WindowState.IDLE, staff="职员"))
                show(
                    pads[device],
                    proto.EvaluatorState(
                        mode=proto.EvaluatorMode.STAFF_CARD, window="1号窗口", staff_name="职员"
                    ),
                )
            send(device, proto.Reply(id=ids.next(), rid=message.rid, ok=True, number=number))
        elif isinstance(message, proto.TakeTicket):
            send(device, proto.Reply(id=ids.next(), rid=message.rid, ok=True, number="A001"))
            send(
                device,
                proto.PrintTicket(
                    id=ids.next(), number="A001", service="业务", ahead=0, issued="2026-01-01 09:00"
                ),
            )
        elif isinstance(message, proto.Rating):
            send(device, proto.Reply(id=ids.next(), rid=message.rid, ok=True))
            send(
                device,
                proto.Show(
                    id=ids.next(),
                    ver=ids.next(),
                    state=proto.EvaluatorState(
                        mode=proto.EvaluatorMode.THANKS, window="1号窗口", seconds=5
                    ),
                ),
            )
        return 0

    client.on_message = on_message
    await client.connect(host, port, keepalive=60)
    client.subscribe(f"hallctl/v1/{hall}/dev/+/up", qos=0)
    await asyncio.sleep(0.2)
    ready()
    await stop.wait()
    await client.disconnect()
