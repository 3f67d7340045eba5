"""The daemon shell: store, group commit, halls, clock and HTTP, started and stopped in order.

Start: open the store (in its own thread), start group commit, rebuild every hall from its log,
then open the HTTP port; nothing accepts commands before its hall is rebuilt. A store that
cannot be written later (disk full, I/O error, read-only) is the ``StoreSupervisor``'s: the halls
answer "unavailable" and resume by themselves once it can be written again. Stop (SIGTERM,
SIGINT, or ``stop`` set by a caller): close the HTTP port first so no new command arrives, let
the clocks finish, flush the log, close the store. Every task is owned by a TaskGroup, so
nothing outlives the daemon; the whole stop takes well under 2 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from controller.auth.model import ACCESS_STREAM
from controller.config.model import HallConfig
from controller.core import commands as cmd
from controller.core.lifecycle import Rejected
from controller.core.ports import HallUnavailable
from controller.core.schedule import close_due
from controller.daemon.ownership import acquire_log_lock, acquire_stream_locks
from controller.daemon.runtime import HallRuntime
from controller.daemon.store_supervisor import StoreHealth, StoreSupervisor
from controller.http.api import add_api_routes
from controller.store.group_commit import GroupCommitter
from controller.store.postgres import PostgresStore
from controller.store.sqlite import SqliteStore

log = logging.getLogger("hallctl.daemon")

TICK_SECONDS = 1.0

Extension = Callable[["Daemon", asyncio.TaskGroup, asyncio.Event], Awaitable[None]]
"""Something that runs beside the halls (device links, the simulator): it may start tasks in
the daemon's TaskGroup and must return once they are started."""


@dataclass(frozen=True, slots=True)
class HallSource:
    """A validated configuration and the text it was read from (recorded in the log)."""

    config: HallConfig
    text: str


def resolve_db_path(source: HallSource) -> Path:
    """``[store] path`` is relative to the configuration file's folder."""
    path = Path(source.config.store.path)
    if path.is_absolute() or source.config.source.startswith("<"):
        return path
    return Path(os.path.dirname(os.path.abspath(source.config.source))) / path


@dataclass
class Daemon:
    """``db_path``: the SQLite log, or with ``dsn`` (a PostgreSQL store) only the name beside
    which local files live (好差评 keys: ``<db_path>.secrets``)."""

    sources: list[HallSource]
    db_path: Path
    dsn: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    extensions: list[Extension] = field(default_factory=list)
    halls: dict[str, HallRuntime] = field(default_factory=dict)
    app: web.Application = field(default_factory=web.Application)
    hubs: dict[str, Any] = field(default_factory=dict)  # hall id -> devices.hub.DeviceHub
    serial: dict[str, Any] = field(default_factory=dict)  # hall id -> SerialDevices
    bound_port: int | None = None
    committer: GroupCommitter | None = None
    store: SqliteStore | PostgresStore | None = None  # for extensions' own streams (accounts)
    health: StoreHealth = field(default_factory=StoreHealth)

    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        if self.dsn:
            streams = [source.config.hall.id for source in self.sources] + [ACCESS_STREAM]
            locks = await acquire_stream_locks(self.dsn, streams)
            try:
                await self._run_owned(await PostgresStore.open(self.dsn), stop, ready)
            finally:
                await locks.release()
            return
        lock = await acquire_log_lock(self.db_path)
        try:
            await self._run_owned(await SqliteStore.open(self.db_path), stop, ready)
        finally:
            lock.release()

    async def _run_owned(
        self,
        store: SqliteStore | PostgresStore,
        stop: asyncio.Event,
        ready: asyncio.Event | None,
    ) -> None:
        self.store = store
        try:
            async with GroupCommitter(store) as committer:
                self.committer = committer
                for source in self.sources:
                    runtime = await HallRuntime.open(
                        source.config, store, committer, config_text=source.text
                    )
                    self.halls[runtime.hall_id] = runtime
                    log.info(
                        "hall ready",
                        extra={
                            "hall": runtime.hall_id,
                            "seq": runtime.state.seq,
                            "tickets": len(runtime.state.tickets),
                        },
                    )
                supervisor = StoreSupervisor(store, committer, self.halls, self.health)
                supervisor.attach()
                try:
                    async with asyncio.TaskGroup() as tasks:
                        tasks.create_task(supervisor.run(stop), name="hallctl-store-supervisor")
                        for runtime in self.halls.values():
                            tasks.create_task(self._clock(runtime, stop), name="hallctl-clock")
                        for extension in self.extensions:
                            await extension(self, tasks, stop)
                        runner = await self._start_http()
                        try:
                            if ready is not None:
                                ready.set()
                            await stop.wait()
                        finally:
                            await runner.cleanup()
                finally:
                    for runtime in self.halls.values():
                        await runtime.aclose()
        finally:
            await store.close()
            where = store.where if isinstance(store, PostgresStore) else str(self.db_path)
            log.info("stopped", extra={"db": where})

    async def _start_http(self) -> web.AppRunner:
        add_api_routes(self.app, self.halls, self.health, self.hubs)
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.http_host, self.http_port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.http_port
        log.info("http listening", extra={"url": f"http://{self.http_host}:{self.bound_port}"})
        return runner

    async def _clock(self, runtime: HallRuntime, stop: asyncio.Event) -> None:
        """Tick once a second (rating windows closing) and close the day when it is due."""
        while not stop.is_set():
            await clock_step(runtime)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), TICK_SECONDS)


async def clock_step(runtime: HallRuntime) -> None:
    """One beat of a hall's clock: the daily close when it is due, then a tick."""
    if runtime.failure is not None:
        return  # stopped: the store supervisor reports the outage and resumes the hall
    hall = runtime.engine.config.hall
    state = runtime.state
    try:
        if close_due(hall, state.last_closed_day, runtime.now(), state.opened_ms):
            receipt = await runtime.submit(cmd.CloseDay())
            log.info("day closed", extra={"hall": runtime.hall_id, "seq": receipt.seq})
        await runtime.submit(cmd.Tick())
    except HallUnavailable:
        pass  # the outage began under this tick; the store supervisor has logged it
    except Rejected as exc:
        log.warning("clock: %s", exc, extra={"hall": runtime.hall_id})
