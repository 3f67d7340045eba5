"""A private Mosquitto broker process on a free loopback port, for tests and benchmarks.

Never the system broker on 1883: each instance writes its own config (loopback listener,
anonymous access, no persistence, and ``set_tcp_nodelay true`` as recommended for hall brokers
in docs/decisions/0003-gmqtt.md) into a temporary directory and can be stopped and started
again on the same port, which is how broker-restart tests are written. Synchronous on purpose:
it runs in pytest fixtures and benchmark set-up, never on the daemon's event loop.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

MOSQUITTO = "/usr/sbin/mosquitto"

# What a hall's broker should add (docs/decisions/0003 and 0005): the controller keeps more than
# Mosquitto's default 20 QoS 1 messages in flight. The demo and the bench use it.
HALL_BROKER_CONFIG = "max_inflight_messages 1000\n"


class BrokerError(RuntimeError):
    """The broker could not be started or did not accept connections in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class MosquittoProcess:
    """Start, stop and restart one mosquitto on ``host:port``."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        binary: str = MOSQUITTO,
        tcp_nodelay: bool = True,
        extra_config: str = "",
    ) -> None:
        if shutil.which(binary) is None:
            raise BrokerError(f"{binary} not found (Debian package 'mosquitto')")
        self.host = host
        self.port = port or free_port(host)
        self._binary = binary
        self._dir = Path(tempfile.mkdtemp(prefix="hallctl-mosquitto-"))
        self.config_path = self._dir / "mosquitto.conf"
        self.log_path = self._dir / "mosquitto.log"
        self.config_path.write_text(
            f"listener {self.port} {host}\n"
            "allow_anonymous true\n"
            "persistence false\n"
            "max_queued_messages 100000\n"
            f"set_tcp_nodelay {'true' if tcp_nodelay else 'false'}\n"
            f"log_dest file {self.log_path}\n"
            "log_type error\nlog_type warning\n" + extra_config,
            encoding="utf-8",
        )
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def __iter__(self) -> Iterator[str | int]:
        """So that ``host, port = broker`` works."""
        return iter((self.host, self.port))

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 5.0) -> None:
        if self.running:
            return
        self._proc = subprocess.Popen(
            [self._binary, "-c", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise BrokerError(f"mosquitto exited with {self._proc.returncode}: {err.strip()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), timeout=0.2),
            ):
                return
            time.sleep(0.02)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on {self.host}:{self.port} in {timeout} s")

    def stop(self, timeout: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr:
            proc.stderr.close()

    def restart(self, down_for: float = 0.0) -> None:
        """Stop, stay down ``down_for`` seconds, start again on the same port."""
        self.stop()
        time.sleep(down_for)
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> MosquittoProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
