"""A real ``hallctl run`` process wired to a test broker, for device tests about restarts,
crashes, floods and memory: the daemon's CPU, memory and stderr are its own, as in a hall.

The broker is the secured one of the ``mosquitto`` fixture: ``write_config`` also leaves the
controller's password beside the log (as `hallctl broker-config` does) and ``hall_device``
logs a fake device in with its own password.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp

from controller.config.loader import load_config
from controller.config.model import HallConfig
from controller.core.events import AnyEvent, decode_record
from controller.store.sqlite import SqliteStore
from devices.mqtt.identity import Identity
from devices.mqtt.mosquitto_process import MosquittoProcess
from tests.controller.daemon.test_crash_recovery import ROOT, free_port
from tests.devices.fake_device import FakeDevice
from tests.mosquitto import write_controller_credentials

HALL = "hub-test"

CONFIG = """\
[hall]
id = "{hall}"
name = "设备测试大厅"
closing_time = "17:00"

[mqtt]
host = "{host}"
port = {port}

[[services]]
id = "A"
name = "社保医保"
prefix = "A"

[[windows]]
number = 1
services = ["A"]

[[staff]]
id = "0101"
name = "陈晓燕"

[[devices]]
id = "kiosk-1"
kind = "kiosk"
link = "mqtt"

[[devices]]
id = "kiosk-2"
kind = "kiosk"
link = "mqtt"

[[devices]]
id = "caller-1"
kind = "caller"
link = "mqtt"
window = 1
"""


def write_config(folder: Path, broker: MosquittoProcess, db: Path) -> Path:
    """The hall's configuration in ``folder``; its controller and devices granted on ``broker``
    and the controller's password beside ``db``."""
    path = folder / "hall.toml"
    path.write_text(CONFIG.format(hall=HALL, host=broker.host, port=broker.port), "utf-8")
    write_controller_credentials(broker, load_config(path), db)
    return path


def hall_device(broker: MosquittoProcess, device: str, kind: str) -> FakeDevice:
    """A fake ``device`` of the hall, logged in with its own password (granted by write_config)."""
    login = broker.login(Identity(HALL, device))
    return FakeDevice(broker.host, broker.port, HALL, device, kind, login)


class HallDaemon:
    """One daemon process; ``stderr`` collects its log (for size checks)."""

    def __init__(self, config: Path, db: Path, *, env: dict[str, str] | None = None) -> None:
        self.config, self.db = config, db
        self.port = free_port()
        self.env = {**os.environ, **(env or {})}
        self.stderr = db.with_name(f"daemon-{self.port}.log")
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        with self.stderr.open("wb") as err:
            self.proc = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "controller.cli.hallctl", "run"),
                *("--config", str(self.config), "--db", str(self.db)),
                *("--http", f"127.0.0.1:{self.port}"),
                cwd=ROOT,
                env=self.env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=err,
            )
        async with asyncio.timeout(20), aiohttp.ClientSession() as http:
            while True:
                assert self.proc.returncode is None, self.stderr.read_text()[-2000:]
                try:
                    async with http.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)

    def rss_kb(self) -> int:
        assert self.proc is not None
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1])

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def wait_exit(self, within: float) -> int:
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), within)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


async def logged_events(config: Path, db: Path) -> list[AnyEvent]:
    """Every event in the hall's log, in order (read after the daemon stopped)."""
    hall: HallConfig = load_config(config)
    store = await SqliteStore.open(db)
    events: list[AnyEvent] = []
    try:
        async for chunk in store.read(hall.hall.id):
            for record in chunk:
                events += decode_record(record.payload)
    finally:
        await store.close()
    return events
