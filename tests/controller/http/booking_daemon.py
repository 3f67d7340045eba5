"""A real daemon (SQLite log, HTTP port, console accounts, booking routes) for booking tests,
and the helpers to find a bookable slot and to issue tokens."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from controller.auth.model import Role, Scope
from controller.auth.passwords import fast_hasher
from controller.config.loader import parse_config
from controller.core.booking import Slot
from controller.daemon.process import Daemon, HallSource
from controller.daemon.runtime import HallRuntime
from controller.http.booking_api import booking_extension
from controller.http.console import console_extension
from controller.http.context import ConsoleContext

HALL = "bk"
HALL_TOML = """
[hall]
id = "bk"
name = "预约测试大厅"

[[services]]
id = "A"
name = "不动产登记"
prefix = "A"

[[services]]
id = "B"
name = "社保业务"
prefix = "B"

[[windows]]
number = 1
name = "1号窗口"
services = ["A", "B"]

[[staff]]
id = "1001"
name = "王芳"

[appointments]
capacity = {capacity}
slot_minutes = 30
windows = ["00:00-23:30"]
days_ahead = 3
cutoff_minutes = 0
holidays_closed = false
public_per_ip_per_minute = {per_ip}
"""


@dataclass
class BookingDaemon:
    daemon: Daemon
    console: ConsoleContext
    stop: asyncio.Event
    task: asyncio.Task[None]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.daemon.bound_port}"

    @property
    def runtime(self) -> HallRuntime:
        return self.daemon.halls[HALL]

    def tomorrow_slot(self, index: int = 0) -> Slot:
        """A slot of tomorrow (always bookable: the whole day is open, no cut-off)."""
        plan = self.runtime.engine.slots
        day = plan.today(self.runtime.now()) + timedelta(days=1)
        return plan.day_slots("A", day)[index]

    async def token(self, user: str, role: Role, scope: Scope | None) -> str:
        directory = self.console.directory
        if user not in directory.accounts:
            await directory.add_user(user, "test-password-1", role)
        _, secret = await directory.issue_token(user, f"{user} token", by="test", scope=scope)
        return secret


@asynccontextmanager
async def booking_daemon(
    db: Path, *, capacity: int = 10, per_ip: int = 1000
) -> AsyncIterator[BookingDaemon]:
    text = HALL_TOML.format(capacity=capacity, per_ip=per_ip)
    config = parse_config(text, source="<booking test>")
    consoles: list[ConsoleContext] = []
    daemon = Daemon(
        [HallSource(config, text)],
        db_path=db,
        http_port=0,
        extensions=[
            console_extension(hasher=fast_hasher(), console=consoles),
            booking_extension(db),
        ],
    )
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(daemon.run(stop, ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait([task, waiter], timeout=20, return_when=asyncio.FIRST_COMPLETED)
    if not ready.is_set():
        waiter.cancel()
        raise AssertionError(f"daemon did not start: {task.exception() if task.done() else ''}")
    try:
        yield BookingDaemon(daemon, consoles[0], stop, task)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
