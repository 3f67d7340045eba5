"""Round trips device -> controller -> device through a private mosquitto, in separate processes.

N simulated devices (one process) publish ``press`` messages on their up topics, keeping
``window`` of them in flight in total; a relay (another process) decodes each and publishes a
``reply`` to that device's down topic; the devices time each round trip. The relay is either a
bare gmqtt client (the baseline: what the transport and codec cost) or ``MqttLink`` (what the
controller's link adds). Messages are real protocol v1 MessagePack, validated on both sides.

    .venv/bin/python benchmarks/bench_mqtt_relay.py [--relay bare|link] [--qos 0|1] ...

prints one JSON object. ``run_relay_bench`` is the same measurement for ``hallctl bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import statistics
import time
from dataclasses import asdict, dataclass
from multiprocessing.synchronize import Event as MpEvent
from typing import Any

import gmqtt

from devices.mqtt.ids import MonotonicIds
from devices.mqtt.link import Inbound, LinkConfig, MqttLink
from devices.mqtt.mosquitto_process import MosquittoProcess
from firmware_protocols import mqtt_v1 as p

HALL = "bench"


@dataclass(frozen=True, slots=True)
class RelayBenchResult:
    msgs_per_s: float  # completed round trips per second
    p50_ms: float
    p99_ms: float
    messages: int
    devices: int
    window: int
    qos: int
    relay: str
    loop: str
    tcp_nodelay: bool


def _new_loop() -> tuple[asyncio.AbstractEventLoop, str]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop(), "asyncio"
    return uvloop.new_event_loop(), "uvloop"


def _run(coro: Any) -> Any:
    loop, _ = _new_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


# --- relay process ----------------------------------------------------------------------------


async def _bare_relay(host: str, port: int, qos: int, ready: MpEvent, stop: MpEvent) -> None:
    client = gmqtt.Client(f"bench-relay-{time.monotonic_ns()}")
    ids = MonotonicIds()

    def on_message(c: Any, topic: str, payload: bytes, q: int, props: Any) -> int:
        device = p.parse_topic(topic).device
        press = p.decode_up(payload)
        assert isinstance(press, p.Press) and device is not None
        reply = p.Reply(id=ids.next(), rid=press.rid, ok=True, number="A001")
        client.publish(p.down_topic(HALL, device), p.encode(reply), qos=qos)
        return 0

    client.on_message = on_message
    await client.connect(host, port)
    client.subscribe(p.up_filter(HALL), qos=qos)
    await asyncio.sleep(0.2)
    ready.set()
    await asyncio.to_thread(stop.wait)  # a process-shared event: wait off the loop
    await client.disconnect()


async def _link_relay(host: str, port: int, qos: int, ready: MpEvent, stop: MpEvent) -> None:
    ids = MonotonicIds()
    link: MqttLink

    def handle(item: Inbound) -> None:
        if isinstance(item.message, p.Press):
            reply = p.Reply(id=ids.next(), rid=item.message.rid, ok=True, number="A001")
            link.publish(item.device, reply)

    link = MqttLink(LinkConfig(host=host, port=port, hall=HALL), handler=handle)
    async with link:
        await asyncio.wait_for(link.wait_connected(), 5)
        await asyncio.sleep(0.2)
        ready.set()
        await asyncio.to_thread(stop.wait)


def _relay_main(relay: str, host: str, port: int, qos: int, ready: MpEvent, stop: MpEvent) -> None:
    main = _bare_relay if relay == "bare" else _link_relay
    _run(main(host, port, qos, ready, stop))


# --- devices process --------------------------------------------------------------------------


async def _devices(
    host: str, port: int, devices: int, messages: int, warmup: int, window: int, qos: int
) -> dict[str, float]:
    total = warmup + messages
    sent_at: dict[int, float] = {}
    rtts: list[float] = []
    slots = asyncio.Semaphore(window)
    done = asyncio.Event()
    measured_start = 0.0

    def on_message(c: Any, topic: str, payload: bytes, q: int, props: Any) -> int:
        reply = p.decode_down(payload)
        assert isinstance(reply, p.Reply)
        started = sent_at.pop(reply.rid)
        if reply.rid >= warmup:
            rtts.append(time.perf_counter() - started)
        slots.release()
        if len(rtts) == messages:
            done.set()
        return 0

    clients = []
    for n in range(devices):
        client = gmqtt.Client(f"bench-dev-{n}-{time.monotonic_ns()}")
        client.on_message = on_message
        await client.connect(host, port)
        client.subscribe(p.down_topic(HALL, f"dev-{n}"), qos=qos)
        clients.append(client)
    await asyncio.sleep(0.2)

    payloads = [(f"dev-{n}", p.up_topic(HALL, f"dev-{n}")) for n in range(devices)]
    for rid in range(total):
        await slots.acquire()
        if rid == warmup:
            measured_start = time.perf_counter()
        _, topic = payloads[rid % devices]
        press = p.Press(rid=rid, op=p.PressOp.CALL_NEXT)
        sent_at[rid] = time.perf_counter()
        clients[rid % devices].publish(topic, p.encode(press), qos=qos)
    await asyncio.wait_for(done.wait(), 60)
    elapsed = time.perf_counter() - measured_start
    for client in clients:
        await client.disconnect()
    ordered = sorted(rtts)
    return {
        "msgs_per_s": round(messages / elapsed, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 3),
    }


def _devices_main(conn: Any, *args: Any) -> None:
    conn.send(_run(_devices(*args)))
    conn.close()


# --- driver -----------------------------------------------------------------------------------


def run_relay_bench(
    *,
    devices: int = 10,
    messages: int = 20_000,
    warmup: int = 2_000,
    window: int = 50,
    qos: int = 0,
    relay: str = "bare",
    broker: tuple[str, int] | None = None,
    tcp_nodelay: bool = True,
) -> RelayBenchResult:
    """Measure relay round trips; starts its own mosquitto unless ``broker`` is given."""
    if relay not in ("bare", "link"):
        raise ValueError(f"relay must be 'bare' or 'link', not {relay!r}")
    if relay == "bare" and qos != 0:
        raise ValueError("the bare relay has no flow control for QoS 1; use relay='link'")
    ctx = mp.get_context("spawn")
    with contextlib.ExitStack() as stack:
        if broker is None:
            own = stack.enter_context(MosquittoProcess(tcp_nodelay=tcp_nodelay))
            broker = own.address
        host, port = broker
        ready, stop = ctx.Event(), ctx.Event()
        relay_proc = ctx.Process(target=_relay_main, args=(relay, host, port, qos, ready, stop))
        relay_proc.start()
        stack.callback(relay_proc.join, 5)
        stack.callback(stop.set)
        if not ready.wait(15):
            raise RuntimeError("relay process did not start")
        parent, child = ctx.Pipe(duplex=False)
        dev_proc = ctx.Process(
            target=_devices_main, args=(child, host, port, devices, messages, warmup, window, qos)
        )
        dev_proc.start()
        if not parent.poll(120):
            dev_proc.kill()
            raise RuntimeError("devices process produced no result")
        figures = parent.recv()
        dev_proc.join(5)
    _, loop_name = _new_loop()
    return RelayBenchResult(
        **figures,
        messages=messages,
        devices=devices,
        window=window,
        qos=qos,
        relay=relay,
        loop=loop_name,
        tcp_nodelay=tcp_nodelay,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--devices", type=int, default=10)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--qos", type=int, choices=(0, 1), default=0)
    parser.add_argument("--relay", choices=("bare", "link"), default="bare")
    parser.add_argument(
        "--nagle", action="store_true", help="broker with set_tcp_nodelay false (its default)"
    )
    args = parser.parse_args()
    result = run_relay_bench(
        devices=args.devices,
        messages=args.messages,
        window=args.window,
        qos=args.qos,
        relay=args.relay,
        tcp_nodelay=not args.nagle,
    )
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
