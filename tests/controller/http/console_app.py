"""A console application for tests: the small hall with MQTT devices behind a recording link,
accounts with the fast argon2 parameters, and helpers to log in as each role."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from controller.auth.directory import AccessDirectory
from controller.auth.model import Role
from controller.auth.passwords import fast_hasher
from controller.config.model import Device, DeviceKind, HallConfig, LinkKind
from controller.daemon.runtime import HallRuntime
from controller.http.api import add_api_routes
from controller.http.console import install_console
from controller.http.context import ConsoleContext
from controller.store.group_commit import GroupCommitter
from controller.store.memory import MemoryStore
from devices.hub import DeviceHub
from firmware_protocols import mqtt_v1 as proto
from tests.controller.halls import small_hall

PASSWORD = "test-password-1"
HALL = "demo"


class RecordingLink:
    def __init__(self) -> None:
        self.sent: list[tuple[str, proto.DownMessage]] = []

    def publish(self, device: str, message: proto.DownMessage) -> None:
        self.sent.append((device, message))


def hall_with_devices() -> HallConfig:
    devices = (
        Device(id="kiosk-1", kind=DeviceKind.KIOSK, link=LinkKind.MQTT),
        Device(id="screen-1", kind=DeviceKind.HALL_SCREEN, link=LinkKind.MQTT),
        Device(id="strip-1", kind=DeviceKind.WINDOW_DISPLAY, link=LinkKind.MQTT, window=1),
        Device(id="caller-1", kind=DeviceKind.CALLER, link=LinkKind.MQTT, window=1),
    )
    return replace(small_hall(), devices=devices)


@dataclass
class Console:
    client: TestClient[web.Request, web.Application]
    ctx: ConsoleContext
    runtime: HallRuntime
    hub: DeviceHub
    link: RecordingLink
    store: MemoryStore

    async def login(self, user: str) -> str:
        """Log in (the client keeps the cookie); returns the CSRF token."""
        response = await self.client.post(
            "/api/v1/session", json={"user": user, "password": PASSWORD}
        )
        assert response.status == 200, await response.text()
        csrf: str = (await response.json())["csrf"]
        return csrf

    async def post(self, path: str, body: Any, csrf: str | None) -> Any:
        headers = {"X-CSRF-Token": csrf} if csrf else {}
        return await self.client.post(path, json=body, headers=headers)

    def birth(self, device: str, session: int = 1) -> None:
        self.hub.availability.birth(device, session, self.runtime.now(), firmware="1.2.3")


@asynccontextmanager
async def console_app(
    before_start: Callable[[web.Application], None] | None = None,
) -> AsyncIterator[Console]:
    store = MemoryStore()
    async with GroupCommitter(store) as committer:
        runtime = await HallRuntime.open(hall_with_devices(), store, committer)
        link = RecordingLink()
        hub = DeviceHub(runtime, link)
        directory = await AccessDirectory.open(store, committer, hasher=fast_hasher())
        for user, role in (("viewer", Role.VIEWER), ("op", Role.OPERATOR), ("admin", Role.ADMIN)):
            await directory.add_user(user, PASSWORD, role)
        ctx = ConsoleContext({HALL: runtime}, directory, {HALL: hub}, committer)
        app = web.Application()
        add_api_routes(app, ctx.halls)
        install_console(app, ctx)
        if before_start is not None:
            before_start(app)
        async with TestClient(TestServer(app)) as client:
            yield Console(client, ctx, runtime, hub, link, store)
