"""A hostile MQTT client for tests and benchmarks: raw QoS 0 PUBLISH frames, as fast as TCP takes
them, from its own process (so the flood's CPU is not the measuring process's).

    python -m tests.devices.flood --port P --hall H --garbage DEVICE --seconds S
    python -m tests.devices.flood --port P --hall H --strangers N

``--garbage``: the same undecodable payload on one device's up topic, until ``--seconds``
pass. ``--strangers``: one valid ``take_ticket`` from each of N distinct unconfigured device
ids. Prints one line, ``sent=<messages> seconds=<elapsed>``, when done.
"""

from __future__ import annotations

import argparse
import socket
import time
from collections.abc import Iterator

from firmware_protocols import mqtt_v1 as proto

GARBAGE = b"\xc1\xc1\xc1 this is not msgpack"
BATCH = 500


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _string(value: bytes) -> bytes:
    return len(value).to_bytes(2, "big") + value


def connect_frame(client_id: str) -> bytes:
    body = _string(b"MQTT") + bytes([4, 0x02]) + (60).to_bytes(2, "big")
    body += _string(client_id.encode())
    return b"\x10" + _length(len(body)) + body


def publish_frame(topic: str, payload: bytes) -> bytes:
    body = _string(topic.encode()) + payload
    return b"\x30" + _length(len(body)) + body


def _connect(host: str, port: int, client_id: str) -> socket.socket:
    sock = socket.create_connection((host, port))
    sock.sendall(connect_frame(client_id))
    connack = sock.recv(4)
    if len(connack) != 4 or connack[0] != 0x20 or connack[3] != 0:
        raise ConnectionError(f"broker refused the flooder: {connack!r}")
    return sock


def _batches(frames: Iterator[bytes]) -> Iterator[tuple[bytes, int]]:
    batch: list[bytes] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == BATCH:
            yield b"".join(batch), len(batch)
            batch = []
    if batch:
        yield b"".join(batch), len(batch)


def flood_garbage(host: str, port: int, hall: str, device: str, seconds: float) -> int:
    frame = publish_frame(proto.up_topic(hall, device), GARBAGE)
    block = frame * BATCH
    sent = 0
    with _connect(host, port, f"flood-{device}") as sock:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            sock.sendall(block)
            sent += BATCH
        sock.sendall(b"\xe0\x00")
    return sent


def flood_strangers(host: str, port: int, hall: str, count: int) -> int:
    payload = proto.encode(proto.TakeTicket(rid=1, service="A"))
    frames = (publish_frame(proto.up_topic(hall, f"ghost-{i:07d}"), payload) for i in range(count))
    sent = 0
    with _connect(host, port, "flood-strangers") as sock:
        for block, n in _batches(frames):
            sock.sendall(block)
            sent += n
        sock.sendall(b"\xe0\x00")
    return sent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hall", required=True)
    parser.add_argument("--garbage", metavar="DEVICE")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--strangers", type=int, default=0)
    args = parser.parse_args()
    started = time.monotonic()
    if args.garbage:
        sent = flood_garbage(args.host, args.port, args.hall, args.garbage, args.seconds)
    else:
        sent = flood_strangers(args.host, args.port, args.hall, args.strangers)
    print(f"sent={sent} seconds={time.monotonic() - started:.3f}", flush=True)


if __name__ == "__main__":
    main()
