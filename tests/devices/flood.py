"""A hostile MQTT client for tests and benchmarks: raw QoS 0 PUBLISH frames from its own process
(so the flood's CPU is not the measuring process's).

    python -m tests.devices.flood --port P --hall H --garbage DEVICE --seconds S [--rate R]
    python -m tests.devices.flood --port P --hall H --strangers N [--first K] [--last DEVICE]

``--user U`` logs in as U with the password in ``$HALLCTL_FLOOD_PASSWORD`` (a secured broker;
the client id is then the user name), e.g. the device whose own topic it floods.

``--garbage``: the same undecodable payload on one device's up topic until ``--seconds``
pass; prints ``flooding`` once under way. ``--strangers``: one valid ``take_ticket`` from each
of N distinct unconfigured device ids, then (``--last DEVICE``) one request marking the end.
``--rate`` caps messages a second (default: as fast as TCP takes them; a broker drops QoS 0
messages for a subscriber that falls too far behind, an end marker with them). Prints
``sent=<messages> seconds=<elapsed>`` when done.
"""

from __future__ import annotations

import argparse
import os
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


def connect_frame(client_id: str, login: tuple[str, str] | None = None) -> bytes:
    flags = 0x02 | (0xC0 if login else 0)  # clean session, user name and password
    body = _string(b"MQTT") + bytes([4, flags]) + (60).to_bytes(2, "big")
    body += _string(client_id.encode())
    if login:
        body += _string(login[0].encode()) + _string(login[1].encode())
    return b"\x10" + _length(len(body)) + body


def publish_frame(topic: str, payload: bytes) -> bytes:
    body = _string(topic.encode()) + payload
    return b"\x30" + _length(len(body)) + body


LOGIN: tuple[str, str] | None = None  # set from --user by main()


def _connect(host: str, port: int, client_id: str) -> socket.socket:
    sock = socket.create_connection((host, port))
    sock.sendall(connect_frame(LOGIN[0] if LOGIN else client_id, LOGIN))
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


class _Pace:
    """At most ``rate`` messages a second on average (0: no limit)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.started = time.monotonic()

    def wait(self, sent: int) -> None:
        if self.rate:
            ahead = sent / self.rate - (time.monotonic() - self.started)
            if ahead > 0:
                time.sleep(ahead)


def flood_garbage(host: str, port: int, hall: str, device: str, seconds: float, rate: float) -> int:
    """The same garbage on ``device``'s up topic for ``seconds``."""
    block = publish_frame(proto.up_topic(hall, device), GARBAGE) * 100
    sent = 0
    with _connect(host, port, f"flood-{device}") as sock:
        pace = _Pace(rate)
        deadline = pace.started + seconds
        while time.monotonic() < deadline:
            sock.sendall(block)
            if not sent:
                print("flooding", flush=True)  # the caller may start measuring
            sent += 100
            pace.wait(sent)
        sock.sendall(b"\xe0\x00")
    return sent


def flood_strangers(
    host: str, port: int, hall: str, count: int, first: int, last: str, rate: float
) -> int:
    """``count`` take_ticket requests from distinct unknown ids (``ghost-{first + i}``), then
    one from device ``last`` (rid 999999, if given): the controller answers it only after it has
    read everything before it on this connection, so its reply marks the end of the flood."""
    payload = proto.encode(proto.TakeTicket(rid=1, service="A"))
    frames = (
        publish_frame(proto.up_topic(hall, f"ghost-{first + i:07d}"), payload) for i in range(count)
    )
    sent = 0
    with _connect(host, port, f"flood-strangers-{first}") as sock:
        pace = _Pace(rate)
        for block, n in _batches(frames):
            sock.sendall(block)
            sent += n
            pace.wait(sent)
        if last:
            sentinel = proto.encode(proto.TakeTicket(rid=999_999, service="A"))
            sock.sendall(publish_frame(proto.up_topic(hall, last), sentinel))
        sock.sendall(b"\xe0\x00")
    return sent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--hall", required=True)
    parser.add_argument("--garbage", metavar="DEVICE")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=0.0, help="messages/s (0: no limit)")
    parser.add_argument("--strangers", type=int, default=0)
    parser.add_argument("--first", type=int, default=0, help="first stranger's number")
    parser.add_argument("--last", default="", help="device sending the end-of-flood request")
    parser.add_argument("--user", default="", help="log in (password: $HALLCTL_FLOOD_PASSWORD)")
    args = parser.parse_args()
    if args.user:
        global LOGIN
        LOGIN = (args.user, os.environ["HALLCTL_FLOOD_PASSWORD"])
    started = time.monotonic()
    if args.garbage:
        sent = flood_garbage(args.host, args.port, args.hall, args.garbage, args.seconds, args.rate)
    else:
        sent = flood_strangers(
            args.host, args.port, args.hall, args.strangers, args.first, args.last, args.rate
        )
    print(f"sent={sent} seconds={time.monotonic() - started:.3f}", flush=True)


if __name__ == "__main__":
    main()
