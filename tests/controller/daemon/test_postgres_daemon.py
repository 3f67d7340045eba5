"""A real daemon on a PostgreSQL store: killed with SIGKILL mid-burst, restarted, refused twice.

The same checks as test_crash_recovery.py (every acknowledged ticket kept under its seq and
number, none duplicated, numbering goes on), with ``[store] kind = "postgres"`` in the hall
file and the session's private cluster (tests/pg.py); the accounts live in PostgreSQL too
(``hallctl user add --config``). And the bug of issue 12: a PostgreSQL store that cannot be
reached stops the daemon, naming the server; nothing falls back to an SQLite file.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import aiohttp

from controller.config.loader import load_config
from controller.store.postgres import PostgresStore
from tests.controller.daemon.test_crash_recovery import (
    EXAMPLE,
    ROOT,
    DaemonProcess,
    burst,
    free_port,
    nothing_acknowledged_lost_or_doubled,
    provision_controller,
)


def hall_on_postgres(folder: Path, dsn: str) -> Path:
    config = folder / "hall.toml"
    text = EXAMPLE.read_text(encoding="utf-8")
    assert '\n[store]\npath = "baishi-town.db"\n' in text
    store = f'\n[store]\npath = "baishi-town.db"\nkind = "postgres"\ndsn = "{dsn}"\n'
    config.write_text(text.replace('\n[store]\npath = "baishi-town.db"\n', store), "utf-8")
    return config


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def hallctl(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller.cli.hallctl", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def add_operator(config: Path) -> dict[str, str]:
    done = hallctl(
        *("user", "add", "crash", "--role", "operator", "--password-stdin"),
        *("--token", "crash-test", "--config", str(config)),
        stdin="crash-test-password\n",
    )
    assert done.returncode == 0, done.stderr
    return {"Authorization": "Bearer " + done.stdout.strip().rsplit(" ", 1)[-1]}


async def test_kill9_on_postgres_keeps_every_acknowledged_ticket(
    tmp_path: Path, pg_dsn: str
) -> None:
    config_path = hall_on_postgres(tmp_path, pg_dsn)
    upgraded = hallctl("db", "upgrade", "--config", str(config_path))
    assert upgraded.returncode == 0 and "applied schema migrations 1" in upgraded.stdout
    headers = add_operator(config_path)
    listed = hallctl("user", "list", "--config", str(config_path))
    assert listed.returncode == 0 and listed.stdout.startswith("crash\toperator\tenabled")
    config = load_config(config_path)
    hall = config.hall.id

    daemon = DaemonProcess(config_path, None)
    await daemon.start()
    acked: list[tuple[int, str, int]] = []
    stop, enough = asyncio.Event(), asyncio.Event()
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
        await PostgresStore.open(pg_dsn, migrate=False), config, hall, acked
    )
    numbers = [e.number for e in issued]
    assert not [n for n in names(tmp_path) if n.endswith(".db")], "an SQLite log was written"

    daemon = DaemonProcess(config_path, None)
    await daemon.start()
    try:
        async with aiohttp.ClientSession(headers=headers) as http:
            url = f"{daemon.url}/api/v1/halls/{hall}/commands"
            async with http.post(url, json={"type": "issue_ticket", "service": "A"}) as resp:
                assert resp.status == 200
                [event] = (await resp.json())["events"]
        assert event["number"] not in numbers
        assert event["ticket"] == max(e.ticket for e in issued) + 1
        # one writer per hall: a second daemon on the same database refuses, naming the first
        second = hallctl("run", "--config", str(config_path), "--http", f"127.0.0.1:{free_port()}")
        assert second.returncode == 3, second.stderr
        assert "one writer per hall" in second.stderr and "hallctl pid" in second.stderr
        # and so does the command line's account tool while the daemon runs
        refused = hallctl(
            *("user", "add", "late", "--password-stdin", "--config", str(config_path)),
            stdin="late-password-123\n",
        )
        assert refused.returncode == 2 and "in use by" in refused.stderr
    finally:
        took = await daemon.terminate()
    assert took < 2.0, f"SIGTERM took {took:.2f} s"
    assert daemon.proc is not None and daemon.proc.returncode == 0


def test_an_unreachable_postgres_stops_the_daemon_and_writes_no_sqlite(
    tmp_path: Path,
) -> None:
    port = free_port()
    dsn = f"postgresql://hallctl@127.0.0.1:{port}/hallctl"  # its password would be in ~/.pgpass
    config = hall_on_postgres(tmp_path, dsn)
    checked = hallctl("check-config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    provision_controller(config, None)  # the broker login is in place: the store is the fault
    installed = ["baishi-town.db.mqtt-credentials", "hall.toml"]
    assert names(tmp_path) == installed
    ran = hallctl("run", "--config", str(config), "--http", f"127.0.0.1:{free_port()}")
    assert ran.returncode == 4, ran.stderr
    assert "cannot connect to PostgreSQL event store" in ran.stderr
    assert "postgresql://hallctl@127.0.0.1" in ran.stderr
    assert names(tmp_path) == installed, "nothing written: no SQLite log, no other file"
    with_password = f"postgresql://hallctl:pw@127.0.0.1:{port}/hallctl"
    upgrade = hallctl("db", "upgrade", "--dsn", with_password)
    assert upgrade.returncode == 4 and "cannot connect" in upgrade.stderr
    assert ":pw@" not in upgrade.stderr
    with_db = hallctl("run", "--config", str(config), "--db", str(tmp_path / "x.db"))
    assert with_db.returncode == 2 and "--db names an SQLite log" in with_db.stderr
    assert names(tmp_path) == installed
