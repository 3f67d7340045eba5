"""The end-to-end harness: a private broker, the daemon with devices and console, the demo
hall's simulated devices, and a real headless Chromium (Debian's, driven by Playwright; no
browser download). Screenshots go to ``test-artifacts/e2e/`` (git-ignored)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp

from controller.auth.device_keys import DeviceKeys, device_keys_path
from controller.auth.passwords import fast_hasher
from controller.config.loader import parse_config
from controller.config.model import HallConfig
from controller.daemon.device_links import mqtt_devices
from controller.daemon.process import Daemon, Extension, HallSource
from controller.http.console import console_extension
from devices.mqtt.mosquitto_process import MosquittoProcess
from simulator.devices.fleet import Fleet, build_fleet

ROOT = Path(__file__).resolve().parents[2]
DEMO_HALL = ROOT / "examples" / "demo-hall.toml"
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ADMIN = ("admin", "e2e-password-1")


def demo_config(broker: MosquittoProcess) -> tuple[HallConfig, str]:
    """The demo hall on the test broker, its controller and devices granted there."""
    text = DEMO_HALL.read_text(encoding="utf-8")
    config = parse_config(text, source=str(DEMO_HALL))
    return replace(config, mqtt=broker.settings(config)), text


@dataclass
class RunningDaemon:
    daemon: Daemon
    stop: asyncio.Event
    task: asyncio.Task[None]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.daemon.bound_port}"

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 10)


async def start_daemon(
    config: HallConfig, text: str, db: Path, port: int = 0, extra: tuple[Extension, ...] = ()
) -> RunningDaemon:
    daemon = Daemon(
        [HallSource(config, text)],
        db_path=db,
        http_port=port,
        extensions=[
            mqtt_devices(),
            console_extension(demo_admin=ADMIN, hasher=fast_hasher()),
            *extra,
        ],
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(daemon.run(stop, ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait([task, waiter], timeout=20, return_when=asyncio.FIRST_COMPLETED)
    if not ready.is_set():
        waiter.cancel()
        raise AssertionError(f"daemon did not start: {task.exception() if task.done() else ''}")
    return RunningDaemon(daemon, stop, task)


class Api:
    """A machine client of the API (an admin API token; no CSRF needed)."""

    def __init__(self, url: str, token: str, hall: str) -> None:
        self.url, self.hall = url, hall
        self.http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"})

    async def command(self, body: dict[str, Any]) -> dict[str, Any]:
        async with self.http.post(f"{self.url}/api/v1/halls/{self.hall}/commands", json=body) as r:
            reply: dict[str, Any] = await r.json()
            assert r.status == 200, reply
            return reply

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        async with self.http.post(f"{self.url}{path}", json=body) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    async def get(self, path: str) -> Any:
        async with self.http.get(f"{self.url}{path}") as r:
            assert r.status == 200, await r.text()
            return await r.json()

    async def close(self) -> None:
        await self.http.close()


async def admin_token(url: str) -> str:
    # unsafe=True: keep the session cookie of an IP address (aiohttp drops those by default).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(
            f"{url}/api/v1/session", json={"user": ADMIN[0], "password": ADMIN[1]}
        ) as r:
            csrf = (await r.json())["csrf"]
        async with http.post(
            f"{url}/api/v1/tokens",
            json={"user": ADMIN[0], "name": "e2e"},
            headers={"X-CSRF-Token": csrf},
        ) as r:
            token: str = (await r.json())["token"]
            return token


@contextlib.asynccontextmanager
async def hall_fleet(
    config: HallConfig, broker: MosquittoProcess, db: Path | None = None
) -> AsyncIterator[Fleet]:
    """The hall's simulated devices, logged in with their passwords; with the daemon's ``db``,
    the pads sign with its keys."""
    keys = DeviceKeys(device_keys_path(db)).lookup(config.hall.id) if db else lambda d: None
    passwords = broker.device_passwords(config)
    fleet = build_fleet(config, broker.address, passwords=passwords, keys=keys)
    online = await fleet.start(within=15)
    assert online == len(list(fleet)), f"only {online} simulated devices connected"
    try:
        yield fleet
    finally:
        await fleet.close()


async def until(condition: Any, within: float = 5.0, step: float = 0.02) -> float:
    """Wait for ``condition()``; returns the seconds it took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not condition():
        if loop.time() - started > within:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(step)
    return loop.time() - started
