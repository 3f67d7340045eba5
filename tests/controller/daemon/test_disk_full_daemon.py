"""A real daemon on a real full disk: it says so everywhere, loses nothing it acknowledged, and
resumes by itself when space returns (a tmpfs of a few MB, filled by a file and freed again)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controller.config.loader import load_config
from controller.core.events import TicketIssued, decode_record
from controller.daemon.runtime import load_state
from controller.store.sqlite import SqliteStore
from devices.mqtt.identity import Identity
from firmware_protocols import mqtt_v1 as proto
from tests.controller.daemon.test_crash_recovery import (
    EXAMPLE,
    ROOT,
    DaemonProcess,
    add_operator,
    auth,
    provision_controller,
)
from tests.devices.fake_device import FakeDevice
from tests.diskfull import small_disk
from tests.mosquitto import MosquittoProcess, write_controller_credentials

pytestmark = pytest.mark.slow

RESUME_BOUND_S = 10.0  # retry backoff tops out at 5 s; a rebuild of this log takes milliseconds


async def post(http: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, Any]:
    async with http.post(url, json=body) as response:
        return response.status, await response.json()


async def take(kiosk: FakeDevice, service: str) -> proto.Reply:
    rid = kiosk.next_rid()
    kiosk.send(proto.TakeTicket(rid=rid, service=service))
    return await kiosk.reply_to(rid, within=5.0)


async def test_a_full_disk_stops_the_hall_and_it_resumes_by_itself(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    host, port = mosquitto
    with small_disk("8m") as disk:
        config_path = disk.path / "hall.toml"
        shutil.copy(EXAMPLE, config_path)
        with config_path.open("a", encoding="utf-8") as extra:
            extra.write(f'\n[mqtt]\nhost = "{host}"\nport = {port}\n')
        db = disk.path / "hall.db"
        add_operator(db)
        config = load_config(config_path)
        hall = config.hall.id
        write_controller_credentials(mosquitto, config, db)
        log_file = tmp_path / "daemon.log"  # on the real disk: the log must not need the tmpfs
        daemon = DaemonProcess(config_path, db, stderr=log_file)
        await daemon.start()
        kiosk = FakeDevice(
            host, port, hall, "kiosk-1", "kiosk", mosquitto.login(Identity(hall, "kiosk-1"))
        )
        acked: list[str] = []
        try:
            await kiosk.connect()
            async with aiohttp.ClientSession(headers=auth(db)) as http:
                commands = f"{daemon.url}/api/v1/halls/{hall}/commands"
                ticket = {"type": "issue_ticket", "service": "A"}
                first = await take(kiosk, "A")
                assert first.ok, first
                acked.append(first.number or "")
                for _ in range(20):
                    status, reply = await post(http, commands, ticket)
                    assert status == 200, reply
                    acked.append(reply["events"][0]["number"])

                disk.fill()
                refused: dict[str, Any] = {}
                for _ in range(3000):  # the log's WAL grows into the full disk
                    status, reply = await post(http, commands, ticket)
                    if status == 200:
                        acked.append(reply["events"][0]["number"])
                        continue
                    assert status == 503, reply
                    refused = reply
                    break
                assert refused["code"] == "hall_unavailable", refused
                assert "磁盘已满" in refused["message"]

                async with http.get(f"{daemon.url}/healthz") as response:
                    assert response.status == 503
                    health = await response.json()
                assert health["ok"] is False and health["store"]["fault"] == "disk_full"
                async with http.get(f"{daemon.url}/metrics") as response:
                    metrics = await response.text()
                assert "hallctl_store_writable 0.0" in metrics
                assert 'hallctl_store_fault{fault="disk_full"} 1.0' in metrics
                async with http.get(f"{daemon.url}/api/v1/halls/{hall}/alerts") as response:
                    alerts = await response.json()
                assert alerts[0]["kind"] == "store_unwritable" and "磁盘已满" in alerts[0]["text"]
                async with aiohttp.ClientSession() as anonymous:
                    login = {"user": "crash", "password": "crash-test-password"}
                    async with anonymous.post(
                        f"{daemon.url}/api/v1/session", json=login
                    ) as response:
                        assert response.status == 503
                        refusal = await response.json()
                assert refusal["code"] == "store_unavailable" and "稍后再试" in refusal["message"]
                unavailable = await take(kiosk, "B")
                assert not unavailable.ok and unavailable.code == "unavailable", unavailable
                for _ in range(20):  # many refused requests: still no traceback, one error line
                    assert (await post(http, commands, ticket))[0] == 503

                disk.free()
                freed = time.monotonic()
                while True:
                    async with http.get(f"{daemon.url}/healthz") as response:
                        if response.status == 200:
                            break
                    assert time.monotonic() - freed < RESUME_BOUND_S, "the hall did not resume"
                    await asyncio.sleep(0.05)
                resumed_s = time.monotonic() - freed
                status, reply = await post(http, commands, ticket)
                assert status == 200, reply
                acked.append(reply["events"][0]["number"])
                again = await take(kiosk, "B")
                assert again.ok, again
                acked.append(again.number or "")
                async with http.get(f"{daemon.url}/metrics") as response:
                    metrics = await response.text()
                assert "hallctl_store_writable 1.0" in metrics
                assert "hallctl_store_recoveries_total 1.0" in metrics
        finally:
            await kiosk.disconnect()
            await daemon.terminate()

        store = await SqliteStore.open(db)
        try:
            state = await load_state(load_config(config_path), store)
            issued = []
            async for chunk in store.read(hall):
                for record in chunk:
                    issued += [
                        e for e in decode_record(record.payload) if isinstance(e, TicketIssued)
                    ]
        finally:
            await store.close()
    numbers = {t.number for t in state.tickets.values()}
    assert set(acked) <= numbers, "an acknowledged ticket was lost"
    assert len({e.number for e in issued}) == len(issued), "a ticket number was given twice"
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.startswith("{")]
    assert "Traceback" not in log_file.read_text()
    assert not [line for line in lines if "exc" in line]
    errors = [line["msg"] for line in lines if line["level"] == "error"]
    assert errors == ["event log cannot be written; halls refuse commands until it can"]
    print(f"acked {len(acked)} tickets; resumed {resumed_s:.2f} s after the space came back")


@pytest.mark.parametrize("lock_exists", [False, True])
def test_a_read_only_store_at_start_up_is_one_line_naming_the_file(lock_exists: bool) -> None:
    with small_disk("4m") as disk:
        config = disk.path / "hall.toml"
        shutil.copy(EXAMPLE, config)
        db = disk.path / "hall.db"
        add_operator(db)
        provision_controller(config, db)  # the broker login is in place: the store is the fault
        if lock_exists:
            (disk.path / "hall.db.lock").write_text("1\n")
        disk.read_only(True)
        try:
            done = subprocess.run(
                [
                    *(sys.executable, "-m", "controller.cli.hallctl", "run"),
                    *("--config", str(config), "--db", str(db), "--http", "127.0.0.1:0"),
                ],
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=30,
            )
        finally:
            disk.read_only(False)
    assert done.returncode == 4
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert str(db) in lines[0] and "Read-only file system" in lines[0]
