"""Prometheus metrics at ``/metrics``: what an operator graphs and alerts on.

Most figures are read at scrape time from what the daemon already counts (availability, hub
and link counters, queue lengths, group-commit counters), so nothing on the hot path pays for
them. Three latencies are histograms observed as they happen: HTTP commands (request to
durable answer), log commits (one group-commit transaction) and device acks (command sent to
ack received, where the device layer reports it). The 好差评 outbox lag is exposed when that
module serves the same application (records behind, age of the oldest unsent, failures).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from controller.http.context import CONSOLE, ConsoleContext

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The registry of one daemon (not the process-global one: tests build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.command_seconds = Histogram(
            "hallctl_http_command_seconds",
            "HTTP command: request received to durable answer",
            ["hall"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.commit_seconds = Histogram(
            "hallctl_log_commit_seconds",
            "One group-commit transaction of the event log (write + fsync)",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.ack_seconds = Histogram(
            "hallctl_device_ack_seconds",
            "Device command sent to ack received",
            ["hall"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def watch(self, ctx: ConsoleContext, app: web.Application) -> None:
        self.registry.register(_DaemonCollector(ctx, app))
        committer = ctx.committer
        if committer is not None and hasattr(committer, "observe_commit"):
            committer.observe_commit = lambda seconds, records: self.commit_seconds.observe(seconds)

    def watch_hubs(self, ctx: ConsoleContext) -> None:
        """Device hubs exist once every extension has started (called at app startup)."""
        for hall_id in ctx.halls:
            outbound = getattr(ctx.hub_of(hall_id), "outbound", None)
            if outbound is not None and hasattr(outbound, "observe_ack"):
                outbound.observe_ack = self.ack_seconds.labels(hall_id).observe

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _DaemonCollector(Collector):
    def __init__(self, ctx: ConsoleContext, app: web.Application) -> None:
        self.ctx = ctx
        self.app = app

    def collect(self) -> Iterator[Any]:
        ctx = self.ctx
        online = GaugeMetricFamily(
            "hallctl_devices_online", "Devices online", labels=["hall", "kind"]
        )
        total = GaugeMetricFamily(
            "hallctl_devices_configured", "Devices configured", labels=["hall", "kind"]
        )
        received = CounterMetricFamily(
            "hallctl_device_messages_received", "MQTT messages from devices", labels=["hall"]
        )
        sent = CounterMetricFamily(
            "hallctl_device_messages_sent", "MQTT messages to devices", labels=["hall"]
        )
        requests = CounterMetricFamily(
            "hallctl_device_requests",
            "Device requests (presses, tickets, ratings)",
            labels=["hall"],
        )
        retries = CounterMetricFamily(
            "hallctl_device_retries", "Device commands re-sent for want of an ack", labels=["hall"]
        )
        unacked = GaugeMetricFamily(
            "hallctl_device_commands_pending", "Device commands awaiting an ack", labels=["hall"]
        )
        waiting = GaugeMetricFamily(
            "hallctl_queue_waiting", "Tickets waiting", labels=["hall", "service"]
        )
        accepted = CounterMetricFamily(
            "hallctl_commands_accepted", "Commands accepted by the engine", labels=["hall"]
        )
        rejected = CounterMetricFamily(
            "hallctl_commands_rejected", "Commands refused by the engine", labels=["hall"]
        )
        log_seq = GaugeMetricFamily("hallctl_log_seq", "Newest log position", labels=["hall"])
        mqtt_up = GaugeMetricFamily(
            "hallctl_mqtt_connected", "1 while the hall's MQTT link is connected", labels=["hall"]
        )
        mqtt_refused = GaugeMetricFamily(
            "hallctl_mqtt_login_refused",
            "1 while the broker refuses the controller's login, by reason",
            labels=["hall", "reason"],
        )
        mqtt_refusals = CounterMetricFamily(
            "hallctl_mqtt_login_refusals", "Logins the broker refused", labels=["hall"]
        )
        calendar = GaugeMetricFamily(
            "hallctl_calendar_days_left",
            "Days until official holiday data runs out (alert at 60, below 0: estimated)",
            labels=["hall"],
        )
        dropped = CounterMetricFamily(
            "hallctl_device_dropped",
            "Device messages dropped or answers forgotten to stay bounded, by reason",
            labels=["hall", "reason"],
        )
        for hall_id, runtime in ctx.halls.items():
            state = runtime.state
            coverage = runtime.engine.calendar_coverage(runtime.now())
            calendar.add_metric([hall_id], coverage.days_left)
            for service, count in state.waiting_by_service.items():
                waiting.add_metric([hall_id, service], count)
            accepted.add_metric([hall_id], runtime.accepted_count)
            rejected.add_metric([hall_id], runtime.rejected_count)
            log_seq.add_metric([hall_id], state.seq)
            hub = ctx.hub_of(hall_id)
            if hub is None:
                continue
            by_kind: dict[str, list[int]] = {}
            for status in hub.availability.devices.values():
                counts = by_kind.setdefault(status.kind, [0, 0])
                counts[0] += 1 if status.online else 0
                counts[1] += 1
            for kind, (up, configured) in sorted(by_kind.items()):
                online.add_metric([hall_id, kind], up)
                total.add_metric([hall_id, kind], configured)
            link: Any = getattr(hub, "link", None)
            link_stats = getattr(link, "stats", None)
            if link is not None and link_stats is not None:
                received.add_metric([hall_id], link_stats.received)
                sent.add_metric([hall_id], link_stats.published)
                mqtt_up.add_metric([hall_id], 1 if link.connected else 0)
                mqtt_refusals.add_metric([hall_id], link_stats.refused)
                if link.refusal is not None:
                    mqtt_refused.add_metric([hall_id, link.refusal.reason], 1)
            requests.add_metric([hall_id], hub.stats.requests)
            retries.add_metric([hall_id], hub.stats.retries)
            unacked.add_metric([hall_id], len(hub.outbound))
            drop_counts = getattr(hub, "drop_counts", None)
            for reason, count in (drop_counts() if drop_counts else {}).items():
                dropped.add_metric([hall_id, reason], count)
        yield from (online, total, received, sent, requests, retries, unacked, waiting, dropped)
        yield from (accepted, rejected, log_seq, calendar, mqtt_up, mqtt_refused, mqtt_refusals)
        committer = ctx.committer
        if committer is not None:
            pending = GaugeMetricFamily(
                "hallctl_log_commit_pending", "Appends queued or in flight in the group commit"
            )
            pending.add_metric([], committer.pending)
            commits = CounterMetricFamily("hallctl_log_commits", "Group-commit transactions")
            commits.add_metric([], committer.commits)
            yield pending
            yield commits
        yield from _store_metrics(ctx)
        yield from _outbox_metrics(self.app)
        feeds = ctx.extras.get("live_feeds", {})
        live = GaugeMetricFamily("hallctl_live_connections", "Open live-update streams")
        live.add_metric([], sum(f.connections for f in feeds.values()))
        yield live


def _store_metrics(ctx: ConsoleContext) -> Iterator[Any]:
    """Whether the log can be written (``controller.daemon.store_supervisor.StoreHealth``)."""
    health = ctx.health
    writable = GaugeMetricFamily(
        "hallctl_store_writable", "1 while the event log can be written, 0 during an outage"
    )
    writable.add_metric([], 0 if health.failing else 1)
    fault = GaugeMetricFamily(
        "hallctl_store_fault", "1 for the current store fault", labels=["fault"]
    )
    if health.failing and health.fault is not None:
        fault.add_metric([health.fault.value], 1)
    outages = CounterMetricFamily("hallctl_store_outages", "Times the event log became unwritable")
    outages.add_metric([], health.outages)
    recoveries = CounterMetricFamily(
        "hallctl_store_recoveries", "Times the halls resumed by themselves after an outage"
    )
    recoveries.add_metric([], health.recoveries)
    last = GaugeMetricFamily(
        "hallctl_store_last_outage_seconds", "Length of the last outage that ended"
    )
    last.add_metric([], health.last_outage_s)
    yield from (writable, fault, outages, recoveries, last)


def _outbox_metrics(app: web.Application) -> Iterator[Any]:
    """The 好差评 outboxes (``controller.haochaping``), when that module serves this app."""
    try:
        from controller.http.haochaping_api import SERVICE
    except ImportError:  # pragma: no cover - the module ships with hallctl
        return
    service = app.get(SERVICE)
    if service is None:
        return
    labels = ["hall", "adapter"]
    lag = GaugeMetricFamily(
        "hallctl_outbox_lag_records", "Log records not yet delivered to 好差评", labels=labels
    )
    age = GaugeMetricFamily(
        "hallctl_outbox_oldest_unsent_seconds",
        "Age of the 好差评 record being delivered (0: none waiting)",
        labels=labels,
    )
    failures = GaugeMetricFamily(
        "hallctl_outbox_consecutive_failures", "好差评 delivery failures in a row", labels=labels
    )
    now_ms = time.time_ns() // 1_000_000
    for hall_id, hall in service.halls.items():
        for status in hall.outbox_status():
            key = [hall_id, status.adapter]
            lag.add_metric(key, status.lag_records)
            oldest = status.oldest_unsent_ms
            age.add_metric(key, max(0.0, (now_ms - oldest) / 1000) if oldest else 0.0)
            failures.add_metric(key, status.consecutive_failures)
    yield from (lag, age, failures)


METRICS = web.AppKey("metrics", Metrics)


async def metrics_endpoint(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def add_metrics_route(app: web.Application, metrics: Metrics) -> None:
    app[METRICS] = metrics
    metrics.watch(app[CONSOLE], app)

    async def on_startup(app: web.Application) -> None:
        metrics.watch_hubs(app[CONSOLE])

    app.on_startup.append(on_startup)
    app.router.add_get("/metrics", metrics_endpoint)
