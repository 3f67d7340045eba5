"""Online bookings through a real daemon: bookings/s and latency with 64 concurrent clients.

A ``hallctl run`` subprocess (SQLite log, WAL, synchronous=FULL; console and booking routes) is
given a booking-scoped API token by ``hallctl user add --token-scope booking``; 64 aiohttp
clients then book ``--bookings`` appointments over HTTP, each with its own phone, spread over
the week's slots (capacity 1000 per slot, so refusals are rare and counted). Each answer is
durable before it is sent. Also measured: one slot with 10 places hit by all 64 clients at
once (refusals are the common case there).

Run: .venv/bin/python benchmarks/bench_bookings.py [--bookings 5000] [--clients 64] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
HALLCTL = str(Path(sys.executable).with_name("hallctl"))
HALL_TOML = """
[hall]
id = "bench"
name = "预约压测大厅"

[[services]]
id = "A"
name = "不动产登记"
prefix = "A"

[[windows]]
number = 1
name = "1号窗口"
services = ["A"]

[appointments]
capacity = {capacity}
windows = ["00:00-23:30"]
days_ahead = 7
cutoff_minutes = 0
holidays_closed = false
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def wait_healthy(url: str, proc: subprocess.Popen[bytes], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"hallctl exited with {proc.returncode}")
            try:
                async with http.get(f"{url}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("hallctl did not come up")


async def slot_starts(http: aiohttp.ClientSession, base: str, headers: dict[str, str]) -> list[int]:
    async with http.get(f"{base}/booking", headers=headers) as r:
        days = (await r.json())["services"][0]["days"]
    starts: list[int] = []
    for day in days[1:]:  # tomorrow on: every slot is ahead whatever the hour
        async with http.get(f"{base}/booking/slots?service=A&date={day}", headers=headers) as r:
            starts += [s["start_ms"] for s in await r.json() if s["bookable"]]
    return starts


async def run_clients(
    url: str, hall: str, token: str, bookings: int, clients: int, same_slot: bool
) -> dict[str, Any]:
    base = f"{url}/api/v1/halls/{hall}"
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as http:
        starts = await slot_starts(http, base, headers)
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(bookings):
            queue.put_nowait(n)

        async def client() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                start = starts[0] if same_slot else starts[n % len(starts)]
                phone = f"13{n:09d}"
                body = {"service": "A", "slot_start_ms": start, "name": "压测", "phone": phone}
                sent = time.perf_counter()
                async with http.post(f"{base}/bookings", json=body, headers=headers) as r:
                    await r.read()
                    latencies.append(time.perf_counter() - sent)
                    statuses[r.status] = statuses.get(r.status, 0) + 1

        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - began
    return {
        "requests": bookings,
        "clients": clients,
        "seconds": round(elapsed, 3),
        "requests_per_s": round(bookings / elapsed, 1),
        "booked": statuses.get(200, 0),
        "booked_per_s": round(statuses.get(200, 0) / elapsed, 1),
        "statuses": statuses,
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
    }


def bench(bookings: int, clients: int, capacity: int, same_slot: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "hall.toml"
        db = Path(tmp) / "hall.db"
        config.write_text(HALL_TOML.format(capacity=capacity), encoding="utf-8")
        made = subprocess.run(
            [HALLCTL, "user", "add", "city", "--role", "viewer", "--password-stdin",
             "--token", "bench", "--token-scope", "booking", "--db", str(db)],
            input=b"bench-password-1\n", capture_output=True, check=True,
        )  # fmt: skip
        token = made.stdout.decode().rsplit(": ", 1)[1].strip()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [HALLCTL, "--log-level", "warning", "run", "--config", str(config), "--db", str(db),
             "--http", f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            asyncio.run(wait_healthy(url, proc))
            return asyncio.run(run_clients(url, "bench", token, bookings, clients, same_slot))
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bookings", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    spread = bench(args.bookings, args.clients, 1000, same_slot=False)
    contended = bench(640, args.clients, 10, same_slot=True)
    result = {
        "when": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        "python": platform.python_version(),
        "spread_over_the_week": spread,
        "one_slot_of_10_places": contended,
    }
    print(json.dumps(result, ensure_ascii=False, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
