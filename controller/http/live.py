"""Live updates for the console and the hall screen, as Server-Sent Events.

Theory of operation. One ``LiveFeed`` per hall subscribes to its runtime once and only bumps a
version number and wakes waiters when a durable record arrives (no work on the hall's hot
path). Each browser connection runs its own loop: wait for a new version or one second (device
availability changes without hall events), build the whole live picture, and send it if it
differs from what this connection last got. Sending whole pictures, never "something changed",
means a page that missed anything converges on the next message. Calls (叫号, 重呼) are also
sent as their own ``call`` events so the hall screen can queue announcements; a connection
only gets calls made after it connected. ``retry: 1000`` makes browsers reconnect within a
second after the daemon restarts; the pages also reconnect by themselves if the browser gives up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Final

import msgspec
from aiohttp import web

from controller.console.alerts import Alert
from controller.core import events as ev
from controller.core.queries import HallView, hall_view
from controller.daemon.runtime import HallRuntime
from controller.http.context import CONSOLE, ConsoleContext
from controller.http.hall_api import DeviceView, current_alerts, device_views, runtime_of

POLL_S: Final = 1.0
MIN_GAP_S: Final = 0.05  # at most ~20 pictures a second per connection under heavy load
KEEPALIVE_S: Final = 15.0
CALL_MEMORY: Final = 50


class CallNotice(msgspec.Struct, frozen=True):
    id: int
    number: str
    window: int
    window_name: str
    recall: bool
    at: int


class LivePicture(msgspec.Struct, frozen=True):
    hall: HallView
    alerts: list[Alert]
    devices_online: int
    devices_total: int
    notice: str
    calls: list[CallNotice]
    devices: list[DeviceView] | None = None


@dataclass
class LiveFeed:
    runtime: HallRuntime
    version: int = 0
    calls: deque[CallNotice] = field(default_factory=lambda: deque(maxlen=CALL_MEMORY))
    connections: int = 0
    changed_at: float = 0.0  # monotonic time of the newest record (for latency figures)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _next_call: int = 1
    # Encoded pictures shared by every connection: (version, second, with devices) -> body.
    _cache: dict[bool, tuple[tuple[int, int], bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.runtime.subscribe(self.on_events)

    def on_events(self, events: list[ev.AnyEvent], seq: int) -> None:
        config = self.runtime.engine.config
        for event in events:
            if isinstance(event, ev.TicketCalled | ev.TicketRecalled | ev.ServiceCalledBack):
                window = config.window(event.window)
                self.calls.append(
                    CallNotice(
                        id=self._next_call,
                        number=event.number,
                        window=event.window,
                        window_name=window.name if window else f"{event.window}号窗口",
                        recall=isinstance(event, ev.TicketRecalled),
                        at=event.at,
                    )
                )
                self._next_call += 1
        self.version += 1
        self.changed_at = time.monotonic()
        self.wake()

    def wake(self) -> None:
        self._wake.set()
        self._wake = asyncio.Event()

    async def changed(self, seen: int, wait_s: float) -> None:
        if self.version != seen:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), wait_s)

    @property
    def last_call_id(self) -> int:
        return self._next_call - 1


def feed_of(ctx: ConsoleContext, runtime: HallRuntime) -> LiveFeed:
    feeds: dict[str, LiveFeed] = ctx.extras.setdefault("live_feeds", {})
    feed = feeds.get(runtime.hall_id)
    if feed is None:
        feed = feeds[runtime.hall_id] = LiveFeed(runtime)
    return feed


def start_feeds(ctx: ConsoleContext) -> None:
    """Subscribe before any request so calls made before the first page are remembered."""
    for runtime in ctx.halls.values():
        feed_of(ctx, runtime)


def picture(ctx: ConsoleContext, feed: LiveFeed, with_devices: bool) -> LivePicture:
    runtime = feed.runtime
    devices = device_views(ctx, runtime)
    hub = ctx.hub_of(runtime.hall_id)
    notice = (hub.extras.notice if hub is not None else "") or runtime.engine.config.hall.notice
    return LivePicture(
        hall=hall_view(runtime.state, runtime.now()),
        alerts=current_alerts(ctx, runtime),
        devices_online=sum(1 for d in devices if d.online),
        devices_total=len(devices),
        notice=notice,
        calls=list(feed.calls)[-10:][::-1],
        devices=devices if with_devices else None,
    )


_encoder = msgspec.json.Encoder()


def encoded_picture(ctx: ConsoleContext, feed: LiveFeed, with_devices: bool) -> bytes:
    """One computation per hall change (or per second, for device availability), however many
    pages are watching: the picture scans every ticket, so it is built once and shared."""
    key = (feed.version, int(time.monotonic()))
    cached = feed._cache.get(with_devices)
    if cached is not None and cached[0] == key:
        return cached[1]
    body = _encoder.encode(picture(ctx, feed, with_devices))
    feed._cache[with_devices] = (key, body)
    return body


async def live_stream(request: web.Request) -> web.StreamResponse:
    runtime = runtime_of(request)
    if isinstance(runtime, web.Response):
        return runtime
    ctx = request.app[CONSOLE]
    feed = feed_of(ctx, runtime)
    with_devices = request.query.get("devices") in ("1", "true")
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    await response.write(b"retry: 1000\n\n")
    feed.connections += 1
    last_body = b""
    last_call = feed.last_call_id
    seen = -1
    last_write = time.monotonic()
    stopping = request.app.get(STOPPING)
    try:
        while stopping is None or not stopping.is_set():
            await feed.changed(seen, POLL_S)
            seen = feed.version
            for call in [c for c in feed.calls if c.id > last_call]:
                await response.write(b"event: call\ndata: " + _encoder.encode(call) + b"\n\n")
                last_call = call.id
            body = encoded_picture(ctx, feed, with_devices)
            now = time.monotonic()
            if body != last_body:
                await response.write(b"event: picture\ndata: " + body + b"\n\n")
                last_body, last_write = body, now
            elif now - last_write > KEEPALIVE_S:
                await response.write(b": keepalive\n\n")
                last_write = now
            await asyncio.sleep(MIN_GAP_S)
    except ConnectionResetError:
        pass
    finally:
        feed.connections -= 1
    return response


STOPPING: Final = web.AppKey("live_stopping", asyncio.Event)


def add_live_routes(app: web.Application) -> None:
    app[STOPPING] = asyncio.Event()

    async def on_shutdown(app: web.Application) -> None:
        app[STOPPING].set()
        if CONSOLE in app:
            for feed in app[CONSOLE].extras.get("live_feeds", {}).values():
                feed.wake()

    app.on_shutdown.append(on_shutdown)
    app.router.add_get("/api/v1/halls/{hall}/live", live_stream)
