"""A private Mosquitto broker process on a free loopback port, for tests, the demo and benchmarks.

Never the system broker on 1883: each instance writes its own config (loopback listener, no
persistence, and ``set_tcp_nodelay true`` as recommended for hall brokers in
docs/decisions/0003-gmqtt.md) into a temporary directory and can be stopped and started again on
the same port, which is how broker-restart tests are written. Synchronous on purpose: it runs in
pytest fixtures and benchmark set-up, never on the daemon's event loop.

``secure=True`` runs it as a hall's broker runs (``hallctl broker-config``): no anonymous
access, a password file and the per-identity ACL of ``devices.mqtt.broker_access``, client id =
user name. ``grant`` issues passwords (kept in ``passwords`` for the test or the simulator),
rewrites both files and, when the broker runs, reloads it with SIGHUP and waits until a login
made for this reload succeeds. ``tls=True`` adds a TLS listener on ``tls_port`` with a
throw-away CA (``tls_files.ca_file``).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from controller.config.model import HallConfig, LinkKind, MqttSettings
from devices.mqtt.broker_access import (
    Grant,
    TlsFiles,
    hash_password,
    loadgen_grants,
    loadgen_user,
    new_password,
    render_acl,
    render_mosquitto_config,
    render_password_file,
)
from devices.mqtt.identity import Identity

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
        secure: bool = False,
        tls: bool = False,
    ) -> None:
        if shutil.which(binary) is None:
            raise BrokerError(f"{binary} not found (Debian package 'mosquitto')")
        if tls and not secure:
            raise ValueError("the TLS listener is for the secured broker (secure=True)")
        self.host = host
        self.port = port or free_port(host)
        self.secure = secure
        self.passwords: dict[Identity, str] = {}  # plain text of every granted identity
        self._hashes: dict[Identity, str] = {}
        self._extra: dict[str, tuple[str, str, tuple[Grant, ...]]] = {}  # user: pw, hash, grants
        self._probe = Identity("hallctl-probe", "reload")  # no grants: proves a reload happened
        self._probe_secret = ""
        self._binary = binary
        self._dir = Path(tempfile.mkdtemp(prefix="hallctl-mosquitto-"))
        self._dir.chmod(0o755)  # mosquitto started as root reads its files as user mosquitto
        self.config_path = self._dir / "mosquitto.conf"
        self.log_path = self._dir / "mosquitto.log"
        self.password_path = self._dir / "passwd"
        self.acl_path = self._dir / "acl"
        self.tls_port: int | None = free_port(host) if tls else None
        self.tls_files: TlsFiles | None = None
        common = (
            "persistence false\n"
            "max_queued_messages 100000\n"
            f"log_dest file {self.log_path}\n"
            "log_type error\nlog_type warning\n" + extra_config
        )
        if secure:
            if tls:
                from devices.mqtt.tls import write_demo_certificates

                self.tls_files = write_demo_certificates(self._dir / "tls")
                (self._dir / "tls").chmod(0o755)
                Path(self.tls_files.key_file).chmod(0o644)  # a throw-away key, see above
            self._probe_password()
            self._write_access()
            text = render_mosquitto_config(
                password_file=str(self.password_path),
                acl_file=str(self.acl_path),
                listeners=[(host, self.port)],
                tls_listener=(host, self.tls_port) if self.tls_port else None,
                tls=self.tls_files,
                extra=common,
                max_inflight=None,  # Mosquitto's default; HALL_BROKER_CONFIG raises it
                tcp_nodelay=tcp_nodelay,
            )
        else:
            text = (
                f"listener {self.port} {host}\n"
                "allow_anonymous true\n"
                f"set_tcp_nodelay {'true' if tcp_nodelay else 'false'}\n" + common
            )
        self.config_path.write_text(text, encoding="utf-8")
        self._proc: subprocess.Popen[bytes] | None = None

    # --- identities (secure brokers) ---------------------------------------------------------

    def grant(self, identities: Iterable[Identity]) -> dict[Identity, str]:
        """Passwords for ``identities`` (new ones issued), effective when this returns."""
        if not self.secure:
            raise BrokerError("grant() needs a broker started with secure=True")
        wanted = list(identities)
        fresh = [i for i in wanted if i not in self.passwords]
        for identity in fresh:
            password = self.passwords[identity] = new_password()
            self._hashes[identity] = hash_password(password)
        if fresh:
            self._reload()
        return {i: self.passwords[i] for i in wanted}

    def rotate(self, identity: Identity) -> str:
        """A new password for ``identity``; the old one is refused when this returns."""
        return self.rotate_to(identity, new_password())

    def rotate_to(self, identity: Identity, password: str) -> str:
        """``identity``'s password becomes ``password`` (effective when this returns)."""
        self.passwords[identity] = password
        self._hashes[identity] = hash_password(password)
        self._reload()
        return password

    def grant_hall(self, config: HallConfig) -> dict[Identity, str]:
        """The hall's controller and every MQTT device of its configuration."""
        hall = config.hall.id
        return self.grant(
            [Identity(hall)]
            + [Identity(hall, d.id) for d in config.devices if d.link is LinkKind.MQTT]
        )

    def settings(self, config: HallConfig) -> MqttSettings:
        """``[mqtt]`` for a daemon running ``config`` against this broker (hall granted)."""
        if not self.secure:
            return MqttSettings(host=self.host, port=self.port, login=False)
        password = self.grant_hall(config)[Identity(config.hall.id)]
        return MqttSettings(host=self.host, port=self.port, password=password)

    def device_passwords(self, config: HallConfig) -> dict[str, str]:
        """Device id -> password for every MQTT device of ``config`` (granted)."""
        granted = self.grant_hall(config) if self.secure else {}
        return {i.device: pw for i, pw in granted.items() if i.device is not None}

    def grant_loadgen(self, hall: str, connections: int) -> tuple[tuple[str, str], ...]:
        """Logins for ``hallctl bench``'s load generator (``broker_access.loadgen_user``)."""
        fresh = False
        for n in range(connections):
            user = loadgen_user(hall, n)
            if user not in self._extra:
                password = new_password()
                self._extra[user] = (password, hash_password(password), loadgen_grants(hall))
                fresh = True
        if fresh:
            self._reload()
        return tuple(
            (loadgen_user(hall, n), self._extra[loadgen_user(hall, n)][0])
            for n in range(connections)
        )

    def login(self, identity: Identity) -> tuple[str, str]:
        """(user name, password) of a granted identity."""
        return identity.client_id, self.passwords[identity]

    def _probe_password(self) -> str:
        password = self._probe_secret = new_password()
        self._hashes[self._probe] = hash_password(password)
        return password

    def _write_access(self) -> None:
        rows: list[tuple[Identity | str, str]] = list(self._hashes.items())
        rows += [(user, hashed) for user, (_, hashed, _) in self._extra.items()]
        _write_atomic(self.password_path, render_password_file(rows))
        extra = [(user, granted) for user, (_, _, granted) in self._extra.items()]
        _write_atomic(
            self.acl_path, render_acl((i for i in self._hashes if i != self._probe), extra)
        )

    def _reload(self, timeout: float = 5.0) -> None:
        probe = self._probe_password()
        self._write_access()
        if not self.running:
            return
        assert self._proc is not None
        self._proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if try_login(self.host, self.port, self._probe.client_id, probe) == 0:
                return
            time.sleep(0.02)
        raise BrokerError(f"mosquitto did not reload its password file in {timeout} s")

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
            if self.secure:
                # A login answered means the main loop runs, so the SIGHUP handler is set: a
                # SIGHUP before it (a grant right after start) would end the process.
                if try_login(self.host, self.port, self._probe.client_id, self._probe_secret) == 0:
                    return
            else:
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


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.chmod(0o644)  # read by mosquitto's own user when started as root (test brokers only)
    tmp.replace(path)


def try_login(host: str, port: int, username: str, password: str, timeout: float = 1.0) -> int:
    """One MQTT 3.1.1 CONNECT with a login; the CONNACK return code (0 accepted, 4 bad
    credentials, 5 not authorised), or -1 if the broker did not answer. Disconnects at once."""

    def field(value: str) -> bytes:
        data = value.encode()
        return struct.pack("!H", len(data)) + data

    body = field("MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 5)
    body += field("") + field(username) + field(password)  # empty id: the broker's choice
    length, size = b"", len(body)
    while True:
        size, digit = size >> 7, size & 0x7F
        length += bytes([digit | (0x80 if size else 0)])
        if not size:
            break
    packet = b"\x10" + length + body
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(packet)
            answer = sock.recv(4)
            if len(answer) == 4 and answer[0] == 0x20:
                if answer[3] == 0:
                    sock.sendall(b"\xe0\x00")
                return answer[3]
    except OSError:
        pass
    return -1
