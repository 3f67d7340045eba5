"""Opening a serial port without blocking the loop (pyserial-asyncio-fast).

``open_port`` opens a tty (a USB-RS485 adapter, an on-board UART or the simulator's
pseudo-terminal) with the bus's line settings. pyserial's open, flush and close are blocking
system calls; ``create_serial_connection`` runs the open in the default executor and the
transport closes in it too, so the event loop never waits on a tty. Received bytes are handed
to a synchronous callback with the loop time they arrived at, which is what the bus master's
timing needs; there is no buffering here. This is the only module that imports the serial
library (docs/decisions/0004-serial-library.md), so replacing it touches one file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import serial  # type: ignore[import-untyped]
import serial_asyncio_fast

from devices.serial.line import LineSettings

BytesCallback = Callable[[bytes, float], None]
LostCallback = Callable[[Exception | None], None]


class PortOpenError(OSError):
    """The port could not be opened (missing device, busy, permissions, bad settings)."""


class PortClosedError(OSError):
    """A write on a port that is closed or was lost."""


class _Receiver(asyncio.Protocol):
    def __init__(self, on_bytes: BytesCallback, on_lost: LostCallback) -> None:
        self._on_bytes = on_bytes
        self._on_lost = on_lost
        self._loop = asyncio.get_running_loop()
        self.lost: asyncio.Future[None] = self._loop.create_future()

    def data_received(self, data: bytes) -> None:
        self._on_bytes(data, self._loop.time())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(None)
        self._on_lost(exc)


class SerialPort:
    """An open port: write bytes, get bytes through the callback given to ``open_port``."""

    def __init__(self, path: str, transport: asyncio.Transport, receiver: _Receiver) -> None:
        self.path = path
        self._transport = transport
        self._receiver = receiver

    @property
    def is_open(self) -> bool:
        return not self._transport.is_closing()

    def write(self, data: bytes) -> None:
        """Queue bytes for the line; the OS sends them at the baud rate."""
        if self._transport.is_closing():
            raise PortClosedError(f"{self.path} is closed")
        self._transport.write(data)

    async def close(self) -> None:
        """Close and wait until the executor has closed the tty (safe to call twice)."""
        if not self._transport.is_closing():
            self._transport.close()
        await asyncio.shield(self._receiver.lost)


async def open_port(
    path: str,
    settings: LineSettings,
    on_bytes: BytesCallback,
    on_lost: LostCallback = lambda exc: None,
) -> SerialPort:
    """Open ``path`` with ``settings``; ``PortOpenError`` names the port and the cause."""
    loop = asyncio.get_running_loop()
    receiver: _Receiver | None = None

    def factory() -> _Receiver:
        nonlocal receiver
        receiver = _Receiver(on_bytes, on_lost)
        return receiver

    try:
        transport, _ = await serial_asyncio_fast.create_serial_connection(
            loop,
            factory,
            path,
            baudrate=settings.baudrate,
            bytesize=settings.bytesize,
            parity=settings.parity.value,
            stopbits=settings.stopbits,
        )
    except (OSError, ValueError, serial.SerialException) as exc:
        raise PortOpenError(f"cannot open serial port {path}: {exc}") from exc
    assert receiver is not None
    return SerialPort(path, transport, receiver)
