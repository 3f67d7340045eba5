"""好差评 in the daemon: keys, one outbox per destination and hall, the HTTP routes.

``Haochaping.extension()`` is a daemon extension: for each hall it loads (or creates) the keys,
starts the outboxes (one per ``[[reporting]]`` destination, each with its own cursor and its
credentials from the secrets file; the escalation webhook of ``[evaluation]``) as tasks owned by
the daemon, subscribes them to the hall's durable records,
and adds the routes of ``controller.http.haochaping_api``. ``followup_url`` is what the device
hub prints as the ticket's QR code (``mqtt_devices(followup_url=...)``).

Each hall's statistics are kept live (``LiveStats``: caught up from its snapshot and the log at
start, then fed every durable record), for the statistics route and the public disclosure.

The 差评 deadlines themselves need no task here: they are a rule of the engine, run by the
daemon's per-hall clock (``Tick`` every second), which records ``CaseEscalated``; the webhook
outbox carries those records out.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import msgspec

from controller.config.model import HallConfig, Reporting
from controller.core import commands as cmd
from controller.core.lifecycle import Rejected
from controller.core.ports import HallUnavailable
from controller.daemon.process import Daemon, Extension
from controller.daemon.runtime import HallRuntime
from controller.haochaping.adapters import ADAPTERS, Destination, EscalationWebhook
from controller.haochaping.adapters.base import Adapter
from controller.haochaping.disclosure import DisclosureCache
from controller.haochaping.followup import follow_up_link
from controller.haochaping.keys import (
    HaochapingKeys,
    load_credentials,
    load_or_create_keys,
    secrets_path,
)
from controller.haochaping.live_stats import LiveStats
from controller.haochaping.outbox import Acknowledge, Outbox, OutboxStatus, Send, aiohttp_sender
from controller.store.base import EventStore

log = logging.getLogger("hallctl.haochaping")


class UnknownAdapter(Exception):
    """``[[reporting]] adapter`` names no adapter this hallctl has."""


class FollowUpCounts(msgspec.Struct):
    """追评 submissions at the public endpoint: accepted, and refused by reason."""

    accepted: int = 0
    refused: dict[str, int] = msgspec.field(default_factory=dict)

    def refuse(self, reason: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1


@dataclass
class HallHaochaping:
    runtime: HallRuntime
    keys: HaochapingKeys
    stats: LiveStats
    outboxes: list[Outbox] = field(default_factory=list)
    follow_ups: FollowUpCounts = field(default_factory=FollowUpCounts)

    @property
    def config(self) -> HallConfig:
        return self.runtime.engine.config

    def outbox_status(self) -> list[OutboxStatus]:
        return [o.status for o in self.outboxes]


def reporting_adapters(config: HallConfig, secrets: Path) -> list[tuple[Reporting, Adapter]]:
    """One adapter per ``[[reporting]]`` destination; raises ``UnknownAdapter``,
    ``MissingCredentials`` or ``KeyFileError`` (a start that would report nowhere, loudly)."""
    built: list[tuple[Reporting, Adapter]] = []
    for reporting in config.reporting:
        factory = ADAPTERS.get(reporting.adapter)
        if factory is None:
            raise UnknownAdapter(
                f"hall {config.hall.id}: [[reporting]] adapter {reporting.adapter!r} is unknown; "
                f"known: {', '.join(sorted(ADAPTERS))}"
            )
        credentials = (
            load_credentials(secrets, reporting.credentials) if reporting.credentials else None
        )
        built.append((reporting, factory(Destination(reporting, config, credentials))))
    return built


def acknowledger(runtime: HallRuntime) -> Acknowledge:
    """Records a destination's acknowledgement (工单号) on the case, as an event."""

    async def acknowledge(command: cmd.RecordHandOver) -> bool:
        try:
            await runtime.submit(command)
        except Rejected as exc:  # no such case (any more): nothing to record it on
            log.warning(
                "haochaping: hand-over %s of case %s not recorded: %s",
                command.reference,
                command.case,
                exc,
                extra={"hall": runtime.hall_id, "destination": command.to},
            )
        except HallUnavailable:
            return False  # the outbox tries again; the hall's own alarm reports the outage
        return True

    return acknowledge


class Haochaping:
    def __init__(self, db_path: Path, *, send: Send | None = None) -> None:
        self.db_path = db_path
        self.halls: dict[str, HallHaochaping] = {}
        self._send = send  # tests inject; the daemon's own aiohttp session otherwise
        self._keys: dict[Path, HaochapingKeys] = {}
        self.store: EventStore | None = None
        self.disclosure = DisclosureCache()  # 评价信息公开 answers, a few seconds each

    def keys_for(self, config: HallConfig) -> HaochapingKeys:
        path = self.secrets_for(config)
        if path not in self._keys:
            self._keys[path] = load_or_create_keys(path)
        return self._keys[path]

    def followup_url(self, runtime: HallRuntime, ticket: int) -> str | None:
        """The QR code's link for a ticket; None when the hall publishes no follow-up page."""
        hall = self.halls.get(runtime.hall_id)
        base = runtime.engine.config.evaluation.follow_up_url
        if hall is None or not base:
            return None
        return follow_up_link(base, hall.keys.follow_up, runtime.hall_id, ticket)

    def secrets_for(self, config: HallConfig) -> Path:
        return secrets_path(self.db_path, config.evaluation.secrets_file)

    def outboxes_for(self, runtime: HallRuntime, store: EventStore, send: Send) -> list[Outbox]:
        config = runtime.engine.config
        adapters = reporting_adapters(config, self.secrets_for(config))
        if config.evaluation.escalation_webhook:
            adapters.append((Reporting(), EscalationWebhook(config.evaluation.escalation_webhook)))
        return [
            Outbox(
                store,
                config,
                adapter,
                send,
                timeout_s=reporting.timeout_seconds,
                max_backoff_s=reporting.max_backoff_seconds,
                acknowledge=acknowledger(runtime),
            )
            for reporting, adapter in adapters
        ]

    def extension(self) -> Extension:
        async def start(daemon: Daemon, tasks: asyncio.TaskGroup, stop: asyncio.Event) -> None:
            from controller.http.haochaping_api import add_haochaping_routes
            from controller.http.public_ratings import add_public_ratings_routes

            store = self.store = daemon.store
            assert store is not None, "the daemon opens its store before extensions start"
            for runtime in daemon.halls.values():
                config = runtime.engine.config
                keys = self.keys_for(config)  # created first: credentials sit beside the keys
                reporting_adapters(config, self.secrets_for(config))  # a bad one stops the start
                stats = LiveStats(store, runtime.hall_id, config)
                runtime.subscribe(stats.notify)  # before the read: nothing falls in between
                tasks.create_task(stats.run(stop), name=f"hallctl-stats-{runtime.hall_id}")
                self.halls[runtime.hall_id] = HallHaochaping(runtime, keys, stats)
            add_haochaping_routes(daemon.app, self)
            add_public_ratings_routes(daemon.app, self)
            tasks.create_task(self._run_outboxes(store, stop), name="hallctl-haochaping-outbox")

        return start

    async def _run_outboxes(self, store: EventStore, stop: asyncio.Event) -> None:
        session: aiohttp.ClientSession | None = None
        if self._send is not None:
            send = self._send
        else:
            session = aiohttp.ClientSession()
            send = aiohttp_sender(session)
        try:
            async with asyncio.TaskGroup() as group:
                for hall in self.halls.values():
                    hall.outboxes = self.outboxes_for(hall.runtime, store, send)
                    for outbox in hall.outboxes:
                        hall.runtime.subscribe(outbox.notify)
                        group.create_task(outbox.run(stop), name=f"hallctl-outbox-{outbox.key}")
        finally:
            if session is not None:
                await session.close()
