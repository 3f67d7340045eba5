"""A private PostgreSQL cluster for tests and benchmarks: initdb + pg_ctl in a temp dir.

Never the machine's own server: the cluster listens on a free port of 127.0.0.1 and on a
socket in its own folder, trusts local connections, and is removed when closed. PostgreSQL
refuses to run as root, so as root every command runs as the ``postgres`` user (``runuser``)
on a folder chowned to it; as any other user it runs as that user.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import asyncpg

BIN_DIRS: Final = tuple(
    Path(p)
    for p in (
        "/usr/lib/postgresql/17/bin",
        "/usr/lib/postgresql/16/bin",
        "/usr/lib/postgresql/15/bin",
    )
)
SUPERUSER: Final = "hallctl"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def find_bin_dir() -> Path:
    for directory in BIN_DIRS:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise PostgresUnavailable(f"initdb not found in {', '.join(map(str, BIN_DIRS))} or PATH")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresCluster:
    """``start()`` / ``close()``; ``dsn(database)`` for clients; ``create_database()``."""

    def __init__(self, *, fsync: bool = True, parent: Path | None = None) -> None:
        self.bin_dir = find_bin_dir()
        self.fsync = fsync
        self.root = Path(tempfile.mkdtemp(prefix="hallctl-pg-", dir=parent))
        self.data = self.root / "data"
        self.port = 0
        self._names = itertools.count(1)
        self._as_user: Sequence[str] = ()
        self._options = ""
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            self._as_user = ("runuser", "-u", "postgres", "--")
            for folder in self.root.parents:  # the postgres user must be able to walk in
                if not os.stat(folder).st_mode & 0o001:
                    shutil.rmtree(self.root, ignore_errors=True)
                    raise RuntimeError(
                        f"{folder} is closed to the postgres user: use another "
                        "parent folder for the cluster"
                    )

    def _run(self, *args: str) -> None:
        command = [*self._as_user, *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed ({done.returncode}): "
                f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )

    def start(self) -> None:
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            SUPERUSER,
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        for attempt in range(5):
            self.port = free_port()
            self._options = options = (
                f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                f"-c fsync={'on' if self.fsync else 'off'} -c max_connections=200 "
                "-c shared_buffers=64MB"
            )
            try:
                self._run(
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-w",
                    "-t",
                    "60",
                    "-l",
                    str(self.root / "server.log"),
                    "-o",
                    options,
                    "start",
                )
                return
            except RuntimeError:
                if attempt == 4:
                    raise
                # the port was taken between the probe and the start: try another one

    def stop(self) -> None:
        """Stop the server (fast: clients are disconnected); ``start_again`` restarts it."""
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def start_again(self) -> None:
        """Start the stopped server on the same port."""
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-w",
            "-t",
            "60",
            "-l",
            str(self.root / "server.log"),
            "-o",
            self._options,
            "start",
        )

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A fresh empty database; returns its DSN."""
        name = f"t{os.getpid()}_{next(self._names)}"
        # its own thread and loop: callable from sync code and from inside a running loop
        with ThreadPoolExecutor(1) as thread:
            thread.submit(asyncio.run, self._execute(f'CREATE DATABASE "{name}"')).result()
        return self.dsn(name)

    async def _execute(self, sql: str) -> None:
        conn = await asyncpg.connect(self.dsn())
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def close(self) -> None:
        if self.port:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run(
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                )
        shutil.rmtree(self.root, ignore_errors=True)
