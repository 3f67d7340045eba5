"""A simulated RS-485 line on a pseudo-terminal pair, with the timing of a real one.

The bus master opens the pty's slave path like any tty; the simulator holds the master side.
A pty moves bytes instantly, so the line adds the physics back:

* Master → devices: a chunk written at time t is heard in full at
  ``max(t, end of the previous chunk) + len x bits_per_char / baud``; devices get that time.
* Devices → master: ``transmit(data, start)`` writes the bytes when their last byte would
  have left the device, ``start + wire time`` (a split reply goes in two writes with a pause).
* Two transmissions overlapping in time are a collision: the bytes are combined as the line
  would (a 0 bit wins: bitwise AND where they overlap, offset by whole characters) and
  written as one burst that is longer than either frame.

The slave side is kept open by the line itself so the master may close and reopen its port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tty
from collections.abc import Callable
from dataclasses import dataclass

from devices.serial.line import LineSettings

ReceiveCallback = Callable[[bytes, float], None]


@dataclass(slots=True)
class _Transmission:
    start: float
    data: bytearray
    handle: asyncio.TimerHandle | None = None


class SimLine:
    def __init__(self, settings: LineSettings) -> None:
        self.settings = settings
        self._master_fd, self._slave_fd = os.openpty()
        tty.setraw(self._slave_fd)
        os.set_blocking(self._master_fd, False)
        self.path = os.ttyname(self._slave_fd)
        self._rx_free = 0.0  # when the master's bytes have all arrived
        self._tx_busy_until = 0.0  # when the last device transmission ends
        self._pending: list[_Transmission] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._on_receive: ReceiveCallback | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.collisions = 0
        self.bytes_from_master = 0
        self.bytes_to_master = 0

    def start(self, on_receive: ReceiveCallback) -> None:
        self._loop = asyncio.get_running_loop()
        self._on_receive = on_receive
        self._loop.add_reader(self._master_fd, self._readable)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self._master_fd)
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for fd in (self._master_fd, self._slave_fd):
            with contextlib.suppress(OSError):
                os.close(fd)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None, "start the line first"
        return self._loop

    def idle_since(self) -> float:
        """When the line last went quiet (either direction)."""
        return max(self._rx_free, self._tx_busy_until)

    def _readable(self) -> None:
        try:
            data = os.read(self._master_fd, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # EIO: no one has the slave open at this instant
        if not data:
            return
        self.bytes_from_master += len(data)
        now = self.loop.time()
        arrived = max(now, self._rx_free) + self.settings.wire_time(len(data))
        self._rx_free = arrived
        assert self._on_receive is not None
        self._on_receive(data, arrived)

    def transmit(self, data: bytes, start: float, *, split_at: int = 0, pause: float = 0.0) -> None:
        """Send ``data`` from a device, its first byte leaving at ``start``."""
        if not data:
            return
        if split_at and 0 < split_at < len(data):
            first_end = start + self.settings.wire_time(split_at)
            self._write_at(first_end, data[:split_at])
            second_end = first_end + pause + self.settings.wire_time(len(data) - split_at)
            self._write_at(second_end, data[split_at:])
            self._tx_busy_until = max(self._tx_busy_until, second_end)
            return
        new = _Transmission(start, bytearray(data))
        for other in list(self._pending):
            if self._overlaps(other, new):
                self._pending.remove(other)
                if other.handle is not None:
                    other.handle.cancel()
                    self._timers.discard(other.handle)
                new = self._merge(other, new)
                self.collisions += 1
        end = new.start + self.settings.wire_time(len(new.data))
        self._tx_busy_until = max(self._tx_busy_until, end)
        self._pending.append(new)
        new.handle = self._write_at(end, bytes(new.data), new)

    def _overlaps(self, a: _Transmission, b: _Transmission) -> bool:
        a_end = a.start + self.settings.wire_time(len(a.data))
        b_end = b.start + self.settings.wire_time(len(b.data))
        return a.start < b_end and b.start < a_end

    def _merge(self, a: _Transmission, b: _Transmission) -> _Transmission:
        first, second = (a, b) if a.start <= b.start else (b, a)
        offset = round((second.start - first.start) / self.settings.char_time)
        merged = bytearray(first.data)
        merged.extend(b"\xff" * max(0, offset + len(second.data) - len(merged)))
        for i, byte in enumerate(second.data):
            merged[offset + i] &= byte
        return _Transmission(first.start, merged)

    def _write_at(
        self, when: float, data: bytes, transmission: _Transmission | None = None
    ) -> asyncio.TimerHandle:
        def write() -> None:
            self._timers.discard(handle)
            if transmission is not None and transmission in self._pending:
                self._pending.remove(transmission)
            try:
                os.write(self._master_fd, data)
                self.bytes_to_master += len(data)
            except OSError:
                pass

        handle = self.loop.call_at(when, write)
        self._timers.add(handle)
        return handle
