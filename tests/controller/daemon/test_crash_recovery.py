"""A real daemon process, killed with SIGKILL in the middle of a burst of commands.

Every command the daemon acknowledged (HTTP 200 with a log seq) must be in the state rebuilt
after restart, under the same seq and ticket number; nothing may be duplicated; the restarted
daemon goes on numbering after the last ticket it had issued.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from controller.config.loader import load_config
from controller.config.model import HallConfig
from controller.core.events import TicketIssued, decode_record
from controller.daemon.process import HallSource, resolve_db_path
from controller.daemon.runtime import load_state
from controller.store.base import EventStore
from controller.store.sqlite import SqliteStore
from devices.mqtt.credentials import CredentialStore, credentials_path
from devices.mqtt.identity import Identity

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "small-hall.toml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def provision_controller(config: Path, db: Path | None) -> None:
    """What `hallctl broker-config` leaves beside the log: a controller password per hall (kept
    if one is there). These daemons have no broker to reach; they must still start. ``db`` None:
    beside the log the configuration's ``[store] path`` names (as `hallctl run` looks there)."""
    hall_config = load_config(config)
    hall = hall_config.hall.id
    where = db if db is not None else resolve_db_path(HallSource(hall_config, ""))
    store = CredentialStore.load(credentials_path(where))
    if store.ensure([Identity(hall)]):
        store.save()


async def nothing_acknowledged_lost_or_doubled(
    store: EventStore, config: HallConfig, hall: str, acked: list[tuple[int, str, int]]
) -> list[TicketIssued]:
    """Assert every acknowledged ticket (seq, number, id) is in ``store``'s log and none was
    issued twice; returns the log's issued tickets. Closes ``store``."""
    try:
        state = await load_state(config, store)
        issued: list[TicketIssued] = []
        async for chunk in store.read(hall):
            for record in chunk:
                issued += [e for e in decode_record(record.payload) if isinstance(e, TicketIssued)]
    finally:
        await store.close()
    by_id = {t.id: t for t in state.tickets.values()}
    for seq, number, ticket_id in acked:
        assert ticket_id in by_id, f"acknowledged ticket {number} (seq {seq}) was lost"
        assert by_id[ticket_id].number == number
    assert len({e.ticket for e in issued}) == len(issued), "a ticket was issued twice"
    numbers = [e.number for e in issued]
    assert len(set(numbers)) == len(numbers), "a ticket number was given twice"
    assert state.totals.issued == len(issued) >= len(acked)
    return issued


class DaemonProcess:
    """``hallctl run`` in a child process. ``stderr``: a file for its log lines (else dropped);
    ``module``: run another entry point with the same arguments (a test's hooked daemon);
    ``db`` None: the log the configuration's ``[store]`` names (e.g. PostgreSQL)."""

    def __init__(
        self,
        config: Path,
        db: Path | None,
        *,
        stderr: Path | None = None,
        module: str = "controller.cli.hallctl",
    ) -> None:
        self.config, self.db = config, db
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.stderr = stderr
        self.module = module

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        provision_controller(self.config, self.db)
        log = open(self.stderr, "ab") if self.stderr else None  # noqa: SIM115, ASYNC230
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            self.module,
            "run",
            "--config",
            str(self.config),
            *(("--db", str(self.db)) if self.db else ()),
            "--http",
            f"127.0.0.1:{self.port}",
            cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log if log is not None else asyncio.subprocess.DEVNULL,
        )
        if log is not None:
            log.close()
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                assert self.proc.returncode is None, "daemon exited during start-up"
                await asyncio.sleep(0.05)
        raise AssertionError("daemon did not come up")

    async def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.proc.wait(), 5)

    async def terminate(self) -> float:
        """SIGTERM; returns the seconds the daemon took to exit."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.terminate()
        await asyncio.wait_for(self.proc.wait(), 10)
        return time.monotonic() - started


@pytest.fixture
def hall_files(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    config = tmp_path / "hall.toml"
    shutil.copy(EXAMPLE, config)
    db = tmp_path / "hall.db"
    add_operator(db)
    yield config, db


def add_operator(db: Path) -> None:
    """The API needs an account: an operator with an API token (``hallctl user add``)."""
    done = subprocess.run(
        [
            *(sys.executable, "-m", "controller.cli.hallctl", "user", "add", "crash"),
            *("--role", "operator", "--password-stdin", "--token", "crash-test", "--db", str(db)),
        ],
        input="crash-test-password\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    token = done.stdout.strip().rsplit(" ", 1)[-1]
    db.with_name("token").write_text(token)


def auth(db: Path) -> dict[str, str]:
    return {"Authorization": "Bearer " + db.with_name("token").read_text()}


async def burst(
    url: str,
    headers: dict[str, str],
    hall: str,
    acked: list[tuple[int, str, int]],
    stop: asyncio.Event,
    enough: asyncio.Event,
    worker: int,
) -> None:
    """Issue tickets as fast as the daemon answers; record every acknowledgement."""
    services = ["A", "B", "C"]
    async with aiohttp.ClientSession(headers=headers) as http:
        n = 0
        while not stop.is_set():
            body = {"type": "issue_ticket", "service": services[(worker + n) % 3]}
            n += 1
            try:
                async with http.post(f"{url}/api/v1/halls/{hall}/commands", json=body) as resp:
                    if resp.status != 200:
                        continue
                    reply = await resp.json()
            except (TimeoutError, aiohttp.ClientError):
                return  # the daemon died under us
            [event] = reply["events"]
            acked.append((reply["seq"], event["number"], event["ticket"]))
            if len(acked) >= 400:
                enough.set()


async def test_kill9_mid_burst_loses_and_duplicates_nothing(
    hall_files: tuple[Path, Path],
) -> None:
    config_path, db = hall_files
    config = load_config(config_path)
    hall = config.hall.id
    daemon = DaemonProcess(config_path, db)
    await daemon.start()
    acked: list[tuple[int, str, int]] = []
    stop = asyncio.Event()
    enough = asyncio.Event()
    headers = auth(db)
    workers = [
        asyncio.create_task(burst(daemon.url, headers, hall, acked, stop, enough, w))
        for w in range(16)
    ]
    await enough.wait()
    await daemon.kill9()  # mid-burst: 16 requests are in flight
    stop.set()
    await asyncio.gather(*workers)
    assert len(acked) >= 400

    issued = await nothing_acknowledged_lost_or_doubled(
        await SqliteStore.open(db), config, hall, acked
    )
    numbers = [e.number for e in issued]

    # The restarted daemon carries on from the log: new numbers follow the old ones.
    daemon = DaemonProcess(config_path, db)
    await daemon.start()
    try:
        async with aiohttp.ClientSession(headers=auth(db)) as http:
            url = f"{daemon.url}/api/v1/halls/{hall}/commands"
            async with http.post(url, json={"type": "issue_ticket", "service": "A"}) as resp:
                assert resp.status == 200
                [event] = (await resp.json())["events"]
        old_a = [n for n in numbers if n.startswith("A")]
        assert event["number"] not in numbers
        assert event["ticket"] == max(e.ticket for e in issued) + 1
        assert int(event["number"][1:]) == max(int(n[1:]) for n in old_a) + 1
    finally:
        took = await daemon.terminate()
    assert took < 2.0, f"SIGTERM took {took:.2f} s"
    assert daemon.proc is not None and daemon.proc.returncode == 0


async def test_sigterm_stops_cleanly_and_keeps_the_log(hall_files: tuple[Path, Path]) -> None:
    config_path, db = hall_files
    daemon = DaemonProcess(config_path, db)
    await daemon.start()
    hall = load_config(config_path).hall.id
    async with aiohttp.ClientSession(headers=auth(db)) as http:
        url = f"{daemon.url}/api/v1/halls/{hall}/commands"
        for body in (
            {"type": "issue_ticket", "service": "B"},
            {"type": "login", "window": 4, "staff": "0102"},
            {"type": "call_next", "window": 4},
        ):
            async with http.post(url, json=body) as resp:
                assert resp.status == 200, await resp.text()
    took = await daemon.terminate()
    assert took < 2.0 and daemon.proc is not None and daemon.proc.returncode == 0
    replay = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "controller.cli.hallctl",
        "replay",
        "--db",
        str(db),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await replay.communicate()
    assert replay.returncode == 0
    assert "calling" in out.decode() and "B001" in out.decode(), out.decode()


async def test_a_second_daemon_on_the_same_log_refuses_to_start(
    hall_files: tuple[Path, Path],
) -> None:
    config_path, db = hall_files
    first = DaemonProcess(config_path, db)
    await first.start()
    try:
        second = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "controller.cli.hallctl",
            "run",
            "--config",
            str(config_path),
            "--db",
            str(db),
            "--http",
            f"127.0.0.1:{free_port()}",
            cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(second.communicate(), 20)
        assert second.returncode == 3
        assert "one writer per hall" in err.decode()
    finally:
        await first.terminate()
