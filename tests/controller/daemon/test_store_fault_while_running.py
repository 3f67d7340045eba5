"""The log's file system failing under a running daemon, and coming back, with no hand on it.

A real daemon, an RS-485 keypad on a simulated bus behind a pseudo-terminal, a web session.
While it runs, every write and fsync of its files fails: ``strace`` attached to the daemon
injects the error into its ``pwrite64``/``fsync``/``fdatasync`` calls (the kernel refuses to
remount a file system read-only while the log is open for writing: ``mount: ... busy``; a disk
that goes read-only under a process, as ext4 ``errors=remount-ro`` does, fails its writes like
this; one case also mounts a read-only file system over the log's folder, so the daemon sees
the folder read-only as it would then). Everything must say so (503 with the reason, a refusal
beep), nothing may trace back, and once the fault is lifted the hall resumes by itself.
"""

from __future__ import annotations

import asyncio
import errno
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from controller.config.loader import load_config
from devices.serial.line import LineSettings
from firmware_protocols import keypad_bus as kb
from simulator.serial.bus import SimBus
from simulator.serial.keypad import SimKeypad
from simulator.serial.led import SimLedStrip
from tests.controller.daemon.test_crash_recovery import EXAMPLE, DaemonProcess, add_operator, auth
from tests.mosquitto import MosquittoProcess, write_controller_credentials

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to inject faults"),
]

RESUME_BOUND_S = 10.0  # retry backoff tops out at 5 s
FAULT_BOUND_S = 10.0  # strace attaching to every thread of a loaded daemon
WINDOW = 3  # the example's serial window: keypad at address 3, LED strip at 13 on bus1
INJECTED = "pwrite64,fsync,fdatasync"


async def until(predicate: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        assert time.monotonic() < deadline, f"{what}: not within {within} s"
        await asyncio.sleep(0.05)


async def inject(pid: int, error: str) -> asyncio.subprocess.Process:
    """strace on every thread of ``pid``: its file writes and syncs fail with ``error``."""
    return await asyncio.create_subprocess_exec(
        *("strace", "-f", "-qq", "-p", str(pid), "-o", "/dev/null"),
        *("-e", f"trace={INJECTED}", "-e", f"inject={INJECTED}:error={error}"),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


def mount_read_only_over(folder: Path) -> None:
    """A read-only file system where the log's folder was (new look-ups see it read-only)."""
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")


def unmount(folder: Path, *, lazy: bool = False) -> None:
    subprocess.run(["umount", *(["-l"] if lazy else []), str(folder)], check=not lazy)


@pytest.mark.parametrize(
    ("error", "read_only_mount", "fault"),
    [
        ("EIO", False, "io_error"),
        ("EROFS", False, "io_error"),
        pytest.param(
            "EROFS",
            True,
            "read_only",
            # Known open defect (issue 9, see the session note): on the merged tree, in about 1
            # run of 3, after the hall is rebuilt the RS-485 keypad's call is refused (a beep)
            # and window 3's strip shows 欢迎光临 or 暂停服务 instead of the call; the bus also
            # loses its pty while strace is attached. Cause not yet found.
            marks=pytest.mark.xfail(strict=False, reason="RS-485 call after a read-only mount"),
        ),
    ],
    ids=["io-error", "erofs", "read-only-fs"],
)
async def test_a_store_failing_while_running_is_reported_and_the_hall_resumes_by_itself(
    mosquitto: MosquittoProcess, tmp_path: Path, error: str, read_only_mount: bool, fault: str
) -> None:
    """``read_only_mount``: the folder also turns read-only (as after ext4 remounts itself
    read-only): the fault is named ``read_only``; otherwise SQLite says only I/O error."""
    assert hasattr(errno, error)
    host, port = mosquitto
    keypad, strip = SimKeypad(3), SimLedStrip(13)
    async with SimBus(LineSettings(9600), [keypad, strip]) as bus:
        config_path = tmp_path / "hall.toml"
        text = EXAMPLE.read_text(encoding="utf-8").replace('"/dev/ttyUSB0"', f'"{bus.path}"')
        config_path.write_text(text + f'\n[mqtt]\nhost = "{host}"\nport = {port}\n')
        store_dir = tmp_path / "store"
        store_dir.mkdir()
        db = store_dir / "hall.db"
        add_operator(db)
        config = load_config(config_path)
        hall = config.hall.id
        write_controller_credentials(mosquitto, config, db)  # the broker needs its login
        log_file = tmp_path / "daemon.log"
        daemon = DaemonProcess(config_path, db, stderr=log_file)
        await daemon.start()
        assert daemon.proc is not None
        strace: asyncio.subprocess.Process | None = None
        mounted = False
        try:
            async with (
                aiohttp.ClientSession(headers=auth(db)) as http,
                aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser,
            ):
                url = daemon.url
                commands = f"{url}/api/v1/halls/{hall}/commands"

                async def command(body: dict[str, Any]) -> tuple[int, Any]:
                    async with http.post(commands, json=body) as response:
                        return response.status, await response.json()

                async def health() -> tuple[int, Any]:
                    async with http.get(f"{url}/healthz") as response:
                        return response.status, await response.json()

                assert (await command({"type": "login", "window": WINDOW, "staff": "0102"}))[
                    0
                ] == 200
                for _ in range(2):
                    status, reply = await command({"type": "issue_ticket", "service": "C"})
                    assert status == 200, reply
                login = {"user": "crash", "password": "crash-test-password"}
                async with browser.post(f"{url}/api/v1/session", json=login) as response:
                    assert response.status == 200, await response.text()
                    csrf = (await response.json())["csrf"]

                async def keypad_polled() -> bool:
                    return keypad.polls > 2

                await until(keypad_polled, 15, "the daemon polls the RS-485 keypad")

                if read_only_mount:
                    mount_read_only_over(store_dir)
                    mounted = True
                strace = await inject(daemon.proc.pid, error)
                refused: dict[str, Any] = {}

                async def refused_now() -> bool:
                    status, reply = await command({"type": "issue_ticket", "service": "A"})
                    if status == 200:
                        return False
                    assert status == 503, reply
                    refused.update(reply)
                    return True

                await until(refused_now, FAULT_BOUND_S, "a command refused")
                assert refused["code"] == "hall_unavailable", refused
                status, body = await health()
                assert status == 503 and body["ok"] is False, body
                assert body["store"]["fault"] == fault, body
                assert (await command({"type": "issue_ticket", "service": "C"}))[0] == 503

                async with browser.delete(
                    f"{url}/api/v1/session", headers={"X-CSRF-Token": csrf}
                ) as response:
                    assert response.status == 503, await response.text()
                    logout = await response.json()
                assert logout["code"] == "store_unavailable" and "稍后再试" in logout["message"]

                beeps = keypad.beeps
                keypad.press(kb.Key.CALL)  # two tickets wait: refused only for the outage

                async def beeped() -> bool:
                    return keypad.beeps > beeps

                await until(beeped, 10, "a refusal beep for the keypad's press")

                if mounted:
                    unmount(store_dir)
                    mounted = False
                strace.terminate()  # detaches: the writes go through again
                await asyncio.wait_for(strace.wait(), 10)
                freed = time.monotonic()

                async def healthy() -> bool:
                    return (await health())[0] == 200

                await until(healthy, RESUME_BOUND_S, "the hall resumes by itself")
                resumed_s = time.monotonic() - freed

                keypad.press(kb.Key.CALL)

                async def called() -> bool:
                    return "请C001号到3号窗口办理" in (strip.text or "")

                await until(called, 10, "the keypad's call goes through after the outage")
                status, reply = await command({"type": "issue_ticket", "service": "C"})
                assert status == 200, reply
                async with browser.delete(
                    f"{url}/api/v1/session", headers={"X-CSRF-Token": csrf}
                ) as response:
                    assert response.status == 200, await response.text()
        finally:
            if mounted:
                unmount(store_dir, lazy=True)
            if strace is not None and strace.returncode is None:
                strace.terminate()
                await strace.wait()
            await daemon.terminate()

    text = log_file.read_text()
    assert "Traceback" not in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert not [line for line in lines if "exc" in line]
    errors = [line["msg"] for line in lines if line["level"] == "error"]
    assert errors == ["event log cannot be written; halls refuse commands until it can"]
    print(f"{error}: resumed {resumed_s:.2f} s after the writes went through again")
