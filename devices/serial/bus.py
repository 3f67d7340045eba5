"""The bus master: one task owns one serial port and is the only talker on it.

Theory of operation. The task repeats: take the next piece of work, run it to the end, take
the next. Work comes in a fixed order of precedence: driver commands (a bounded FIFO), then
display updates (at most one per device: a newer text replaces one not sent yet), then the
next device in the round-robin poll. So a command waits at most for the exchange in flight.
Exactly one request is in flight at a time; the reply window closes when the adapter
recognises the reply, or at the deadline

    end of our frame on the wire + turnaround + longest reply on the wire + margin

computed from the bus's baud rate and character size (``LineSettings``). A failed attempt is
retried (``retries``, default 2). An exchange that fails all its attempts is a *miss*; after
``offline_after`` consecutive misses (default 3) a device is OFFLINE, is polled only every
``offline_poll_every``-th cycle with a single attempt (a silent device costs a whole timeout,
which is why), and is ONLINE again on its first good reply. Bytes heard while no reply is due
go to the bus's unsolicited decoder (QSystem button boxes) or are counted as unexpected.

A lost or unopenable port is reopened with the shared back-off machine
(devices/mqtt/reconnect.py); while it is down every device is OFFLINE. ``close`` cancels the
task, fails what is queued with ``BusClosedError`` and closes the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from controller.config.model import SerialBus
from devices.mqtt.reconnect import BackoffPolicy, Reconnector
from devices.serial.adapter import (
    Availability,
    AvailabilityChange,
    BusListener,
    DeviceReport,
    Exchange,
    ProtocolAdapter,
    UnsupportedCommandError,
)
from devices.serial.line import LineSettings
from devices.serial.port import PortClosedError, PortOpenError, SerialPort, open_port
from devices.serial.stats import BusStatistics, Counters, FailureReason
from firmware_protocols.base import DecodeError, Decoder, EncodeError, ErrorReason

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BusSettings:
    """Scheduling knobs; the line itself comes from the hall config's ``SerialBus``."""

    retries: int = 2
    offline_after: int = 3
    offline_poll_every: int = 10
    timeout_margin_s: float = 0.015  # OS, USB adapter and scheduling latency
    max_follow_ups: int = 8
    command_queue_size: int = 64
    idle_wait_s: float = 0.05
    reconnect: BackoffPolicy = field(default_factory=lambda: BackoffPolicy(0.5, 2.0, 30.0))

    def __post_init__(self) -> None:
        if self.retries < 0 or self.offline_after < 1 or self.offline_poll_every < 1:
            raise ValueError("retries >= 0, offline_after >= 1, offline_poll_every >= 1")
        if self.timeout_margin_s < 0 or self.command_queue_size < 1 or self.idle_wait_s <= 0:
            raise ValueError("margin >= 0, queue size >= 1 and idle wait > 0 are required")


class RefusedReason(enum.Enum):
    QUEUE_FULL = "queue_full"
    UNKNOWN_DEVICE = "unknown_device"
    UNSUPPORTED = "unsupported"  # the device's protocol cannot carry this message
    BUS_CLOSED = "bus_closed"


class CommandRefused(Exception):
    """Not queued; nothing changed. ``reason`` says why."""

    def __init__(self, reason: RefusedReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason


class CommandFailed(Exception):
    """Sent, but no good reply came after every attempt."""

    def __init__(self, address: int, reason: FailureReason) -> None:
        super().__init__(f"device {address}: {reason.value}")
        self.address = address
        self.reason = reason


class BusClosedError(CommandFailed):
    """The bus was closed before the command went out."""


@dataclass(slots=True)
class _Device:
    adapter: ProtocolAdapter
    listener: BusListener
    availability: Availability = Availability.UNKNOWN
    misses: int = 0
    skipped: int = 0

    @property
    def address(self) -> int:
        return self.adapter.address


@dataclass(slots=True)
class _Command:
    device: _Device
    message: object
    future: asyncio.Future[object]


@dataclass(slots=True)
class _Window:
    """The reply window of one attempt; filled by the receive callback."""

    device: _Device
    exchange: Exchange
    done: asyncio.Event
    reply: object = None
    got_reply: bool = False
    nbytes: int = 0
    collision: bool = False
    others: list[object] = field(default_factory=list)


class _PortLost(Exception):
    pass


class BusMaster:
    def __init__(
        self,
        bus: SerialBus,
        settings: BusSettings = BusSettings(),
        *,
        line: LineSettings | None = None,
    ) -> None:
        self.bus = bus
        self.settings = settings
        self.line = line or LineSettings.from_bus(bus)
        self.turnaround_s = bus.turnaround_ms / 1000
        self._devices: dict[int, _Device] = {}
        self._order: list[_Device] = []
        self._cursor = 0
        self._cycle_started: float | None = None
        self._cycle_polled = False
        self._commands: deque[_Command] = deque()
        self._displays: OrderedDict[int, tuple[_Device, object]] = OrderedDict()
        self._unsolicited: Decoder[Any] | None = None
        self._counters = Counters()
        self._wake = asyncio.Event()
        self._window: _Window | None = None
        self._port: SerialPort | None = None
        self._lost = False
        self._line_free_at = 0.0
        self._last_rx_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._started_at: float | None = None
        self._closed = False

    # -- set-up and shutdown -------------------------------------------------------------

    def attach(self, adapter: ProtocolAdapter, listener: BusListener) -> None:
        """Put a device on this bus (before or after ``start``)."""
        if adapter.address in self._devices:
            raise ValueError(f"address {adapter.address} is already on bus {self.bus.id}")
        device = _Device(adapter, listener)
        self._devices[adapter.address] = device
        self._order.append(device)
        if self._unsolicited is None:
            self._unsolicited = adapter.unsolicited_decoder()

    def start(self) -> None:
        if self._task is not None or self._closed:
            raise RuntimeError(f"bus {self.bus.id} already started or closed")
        loop = asyncio.get_running_loop()
        self._started_at = loop.time()
        self._task = loop.create_task(self._run(), name=f"bus:{self.bus.id}")

    async def close(self) -> None:
        """Stop the task, fail queued work, close the port. Safe to call more than once."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._fail_queued()

    def _fail_queued(self) -> None:
        while self._commands:
            command = self._commands.popleft()
            if not command.future.done():
                command.future.set_exception(
                    BusClosedError(command.device.address, FailureReason.BUS_CLOSED)
                )
        self._displays.clear()

    # -- the driver-facing API -----------------------------------------------------------

    def availability(self, address: int) -> Availability:
        return self._device(address).availability

    def submit(self, address: int, message: object) -> asyncio.Future[object]:
        """Queue a command; the future gets the device's reply (None if none is due).

        Raises ``CommandRefused`` at once (queue full, unknown device, unsupported message,
        bus closed); nothing is queued then.
        """
        device = self._check(address, message)
        if len(self._commands) >= self.settings.command_queue_size:
            self._counters.commands_refused += 1
            raise CommandRefused(
                RefusedReason.QUEUE_FULL, f"{self.settings.command_queue_size} commands waiting"
            )
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._commands.append(_Command(device, message, future))
        self._wake.set()
        return future

    async def request(self, address: int, message: object) -> object:
        """``submit`` and wait for the reply; raises ``CommandFailed`` if none came."""
        return await self.submit(address, message)

    def show(self, address: int, message: object) -> None:
        """Queue a display update; only the newest one per device is kept (coalescing)."""
        device = self._check(address, message)
        if address in self._displays:
            self._counters.coalesced += 1
        self._displays[address] = (device, message)
        self._wake.set()

    def statistics(self) -> BusStatistics:
        loop = asyncio.get_running_loop()
        wall = loop.time() - self._started_at if self._started_at is not None else 0.0
        return self._counters.snapshot(self.bus.id, wall)

    def reply_deadline(self, exchange: Exchange, sent_end: float) -> float:
        """When to stop waiting for the reply to ``exchange`` whose last byte leaves at
        ``sent_end``."""
        return (
            sent_end
            + self.turnaround_s
            + self.line.wire_time(exchange.max_reply_bytes)
            + self.settings.timeout_margin_s
        )

    def _device(self, address: int) -> _Device:
        try:
            return self._devices[address]
        except KeyError:
            raise CommandRefused(
                RefusedReason.UNKNOWN_DEVICE, f"no device {address} on bus {self.bus.id}"
            ) from None

    def _check(self, address: int, message: object) -> _Device:
        if self._closed:
            raise CommandRefused(RefusedReason.BUS_CLOSED, f"bus {self.bus.id} is closed")
        device = self._device(address)
        try:
            device.adapter.command(message)
        except (UnsupportedCommandError, EncodeError) as exc:
            self._counters.commands_refused += 1
            raise CommandRefused(RefusedReason.UNSUPPORTED, str(exc)) from exc
        return device

    # -- the task ------------------------------------------------------------------------

    async def _run(self) -> None:
        reconnector = Reconnector(self.settings.reconnect)
        reconnector.start()
        while True:
            try:
                self._port = await open_port(
                    self.bus.port, self.line, self._on_bytes, self._on_lost
                )
            except PortOpenError as exc:
                self._counters.port_open_failures += 1
                retry = reconnector.failed()
                (log.warning if retry.loud else log.debug)("bus %s: %s", self.bus.id, exc)
                await asyncio.sleep(retry.delay)
                reconnector.retry()
                continue
            self._counters.port_opens += 1
            failures = reconnector.connected()
            if failures:
                log.info("bus %s: port open after %d failed attempts", self.bus.id, failures)
            self._lost = False
            try:
                await self._serve()
            except (_PortLost, PortClosedError, Exception) as exc:
                # A lost port, or a bug in an adapter: either way start over on a fresh port
                # rather than leave the bus dead.
                if not isinstance(exc, (_PortLost, PortClosedError)):
                    log.exception("bus %s: unexpected error; reopening the port", self.bus.id)
                self._counters.error(FailureReason.PORT_LOST)
                self._all_offline()
                retry = reconnector.lost()
                (log.warning if retry.loud else log.debug)("bus %s: port lost", self.bus.id)
                await self._close_port()
                await asyncio.sleep(retry.delay)
                reconnector.retry()
            finally:
                await self._close_port()

    async def _close_port(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            await asyncio.shield(port.close())

    def _on_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self._window is not None:
            self._window.done.set()
        self._wake.set()

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._lost:
                raise _PortLost
            if self._commands:
                await self._run_command(self._commands.popleft())
            elif self._displays:
                _, (device, message) = self._displays.popitem(last=False)
                await self._run_display(device, message)
            else:
                polled = self._next_poll(loop.time())
                if polled is None:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.settings.idle_wait_s):
                            await self._wake.wait()
                    continue
                device, exchange = polled
                with contextlib.suppress(CommandFailed):
                    await self._transact(device, exchange)

    def _next_poll(self, now: float) -> tuple[_Device, Exchange] | None:
        for _ in range(len(self._order)):
            if self._cursor == 0:
                if self._cycle_started is not None and self._cycle_polled:
                    self._counters.cycle(now - self._cycle_started)
                self._cycle_started, self._cycle_polled = now, False
            device = self._order[self._cursor]
            self._cursor = (self._cursor + 1) % len(self._order)
            if device.availability is Availability.OFFLINE:
                device.skipped += 1
                if device.skipped < self.settings.offline_poll_every:
                    continue
                device.skipped = 0
            exchange = device.adapter.poll()
            if exchange is not None:
                self._cycle_polled = True
                return device, exchange
        return None

    async def _run_command(self, command: _Command) -> None:
        if command.future.done():  # cancelled by the caller while queued
            return
        try:
            exchange = command.device.adapter.command(command.message)
            reply = await self._transact(command.device, exchange)
        except CommandFailed as exc:
            self._counters.commands_failed += 1
            if not command.future.done():
                command.future.set_exception(exc)
        else:
            self._counters.commands_done += 1
            if not command.future.done():
                command.future.set_result(reply)

    async def _run_display(self, device: _Device, message: object) -> None:
        with contextlib.suppress(CommandFailed, UnsupportedCommandError, EncodeError):
            await self._transact(device, device.adapter.command(message))

    # -- one exchange, its retries and follow-ups ----------------------------------------

    async def _transact(self, device: _Device, exchange: Exchange) -> object:
        reply = await self._with_retries(device, exchange)
        current, answer = exchange, reply
        for _ in range(self.settings.max_follow_ups):
            follow = device.adapter.follow_up(current, answer)
            if follow is None:
                break
            if not follow.expects_reply:
                await self._send(device, follow)
                break
            try:
                answer = await self._with_retries(device, follow)
            except CommandFailed:
                break  # the device repeats what was not acknowledged
            current = follow
        return reply

    async def _with_retries(self, device: _Device, exchange: Exchange) -> object:
        if not exchange.expects_reply:
            await self._send(device, exchange)
            return None
        offline = device.availability is Availability.OFFLINE
        attempts = 1 if offline else 1 + self.settings.retries
        reason = FailureReason.TIMEOUT
        for attempt in range(attempts):
            if attempt:
                self._counters.retries += 1
            window = await self._attempt(device, exchange)
            if window.got_reply:
                self._good_reply(device, window)
                return window.reply
            reason = self._failure(window)
        self._miss(device)
        raise CommandFailed(device.address, reason)

    async def _send(self, device: _Device, exchange: Exchange) -> float:
        """Write one frame (after any silence the protocol needs); returns when its last
        byte will have left."""
        loop = asyncio.get_running_loop()
        gap = device.adapter.gap_before_send(self.line)
        if gap:
            quiet_from = max(self._line_free_at, self._last_rx_at)
            delay = quiet_from + gap - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        if self._lost or self._port is None:
            raise _PortLost
        self._port.write(exchange.frame)
        now = loop.time()
        wire = self.line.wire_time(len(exchange.frame))
        self._line_free_at = max(now, self._line_free_at) + wire
        self._counters.frames_sent += 1
        self._counters.bytes_sent += len(exchange.frame)
        self._counters.busy += wire
        return self._line_free_at

    async def _attempt(self, device: _Device, exchange: Exchange) -> _Window:
        device.adapter.begin_reply(exchange)
        window = _Window(device, exchange, asyncio.Event())
        self._window = window
        try:
            sent_end = await self._send(device, exchange)
            deadline = self.reply_deadline(exchange, sent_end)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await window.done.wait()
            if self._lost:
                raise _PortLost
            # Flush what the decoder holds: a partial reply, or bytes that came in behind the
            # reply in the same read (they would otherwise be lost without being counted).
            self._take(window, device.adapter.end_reply())
        finally:
            self._window = None
        return window

    def _failure(self, window: _Window) -> FailureReason:
        if window.collision:
            reason = FailureReason.COLLISION
        elif window.nbytes == 0:
            reason = FailureReason.TIMEOUT
            self._counters.timeouts += 1
        else:
            reason = FailureReason.NO_VALID_REPLY
        self._counters.error(reason)
        return reason

    # -- receiving -----------------------------------------------------------------------

    def _on_bytes(self, data: bytes, at: float) -> None:
        self._last_rx_at = at
        self._counters.bytes_received += len(data)
        self._counters.busy += self.line.wire_time(len(data))
        window = self._window
        if window is None:
            self._unsolicited_bytes(data)
            return
        window.nbytes += len(data)
        if window.nbytes > window.exchange.max_reply_bytes and not window.got_reply:
            window.collision = True  # more than one device's worth of reply
        self._take(window, window.device.adapter.receive(data))

    def _take(self, window: _Window, items: Iterable[object]) -> None:
        adapter = window.device.adapter
        for item in items:
            if isinstance(item, DecodeError):
                self._counters.error(item.reason)
                if item.reason is ErrorReason.COLLISION:
                    window.collision = True
                continue
            self._counters.frames_received += 1
            if not window.got_reply and adapter.is_reply(window.exchange, item):
                window.reply, window.got_reply = item, True
                window.done.set()
                continue
            address = adapter.frame_address(item)
            if address is not None and address != window.device.address:
                window.collision = True  # someone else talked in this device's window
            window.others.append(item)

    def _unsolicited_bytes(self, data: bytes) -> None:
        decoder = self._unsolicited
        if decoder is None:
            self._counters.error(FailureReason.UNEXPECTED)
            return
        decoder.receive_data(data)
        for item in decoder.events_received():
            if isinstance(item, DecodeError):
                self._counters.error(item.reason)
                continue
            self._counters.frames_received += 1
            address = getattr(item, "address", None)
            device = self._devices.get(address) if isinstance(address, int) else None
            report = None if device is None else device.adapter.reportable(item, None)
            if device is None or report is None:
                self._counters.error(FailureReason.UNKNOWN_ADDRESS)
                continue
            self._set_availability(device, Availability.ONLINE)
            self._deliver(device, report)

    # -- availability and delivery -------------------------------------------------------

    def _good_reply(self, device: _Device, window: _Window) -> None:
        device.misses = 0
        self._set_availability(device, Availability.ONLINE)
        report = device.adapter.reportable(window.reply, window.exchange)
        if report is not None:
            self._deliver(device, report)

    def _miss(self, device: _Device) -> None:
        device.misses += 1
        if device.misses >= self.settings.offline_after:
            self._set_availability(device, Availability.OFFLINE)

    def _all_offline(self) -> None:
        for device in self._order:
            if device.availability is Availability.ONLINE:
                self._set_availability(device, Availability.OFFLINE)

    def _set_availability(self, device: _Device, availability: Availability) -> None:
        previous = device.availability
        if previous is availability:
            return
        device.availability = availability
        device.skipped = 0
        change = AvailabilityChange(self.bus.id, device.address, availability, previous)
        try:
            device.listener.availability_changed(change)
        except Exception:
            log.exception("bus %s: listener failed on %s", self.bus.id, change)

    def _deliver(self, device: _Device, item: object) -> None:
        report = DeviceReport(self.bus.id, device.address, item)
        try:
            device.listener.device_report(report)
        except Exception:
            log.exception("bus %s: listener failed on %s", self.bus.id, report)
