"""``hallctl broker-config`` and ``hallctl device credentials`` against the real Mosquitto.

The files the commands write are the broker's whole configuration here: Mosquitto runs from the
generated ``mosquitto.conf``; the daemon's own login comes from the credentials file beside the
log, the devices' from what the command printed once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.auth.device_keys import DeviceKeys, device_keys_path
from controller.config.loader import load_config
from controller.daemon.device_links import link_config
from devices.mqtt.credentials import credentials_path
from devices.mqtt.link import MqttLink
from devices.mqtt.mosquitto_process import MOSQUITTO, free_port, try_login
from firmware_protocols.rating_mac import KEY_BYTES

ROOT = Path(__file__).resolve().parents[3]
HALL_FILE = ROOT / "examples" / "small-hall.toml"
HALL = "baishi-town"


def hallctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller.cli.hallctl", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def wait_listening(port: int, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while try_login("127.0.0.1", port, "", "") == -1:
        assert time.monotonic() < deadline, f"mosquitto did not listen on {port}"
        time.sleep(0.02)


@pytest.fixture
def generated(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """broker-config run once, and Mosquitto started from what it wrote."""
    port, tls_port = free_port(), free_port()
    out = tmp_path / "broker"
    db = tmp_path / "hall.db"
    done = hallctl(
        "broker-config", "--config", str(HALL_FILE), "--db", str(db), "--out", str(out),
        "--listen", f"127.0.0.1:{port}", "--tls-listen", f"127.0.0.1:{tls_port}", "--tls-demo",
        "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    conf = out / "mosquitto.conf"
    if os.geteuid() == 0:  # a test machine: keep root rather than drop to user mosquitto
        conf.write_text(conf.read_text() + "user root\n")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        wait_listening(port)
        yield {
            "port": port,
            "tls_port": tls_port,
            "out": out,
            "db": db,
            "issued": json.loads(done.stdout)["issued"],
            "proc": proc,
        }
    finally:
        proc.terminate()
        proc.wait(5)


def test_files_and_modes(generated: dict[str, Any]) -> None:
    out, db = generated["out"], generated["db"]
    creds = credentials_path(db)
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "passwd").stat().st_mode) == 0o640
    assert stat.S_IMODE((out / "tls" / "server.key").stat().st_mode) == 0o600
    stored = creds.read_text()
    for row in generated["issued"]:  # device passwords are kept only as hashes
        assert row["password"] not in stored
        assert row["username"] == f"d/{HALL}/{row['device']}"
    acl = (out / "acl").read_text()
    assert f"user d/{HALL}/kiosk-1\ntopic write hallctl/v1/{HALL}/dev/kiosk-1/up\n" in acl
    assert f"user c/{HALL}\n" in acl


def test_printed_passwords_log_in_and_nothing_else_does(generated: dict[str, Any]) -> None:
    port = generated["port"]
    rows = generated["issued"]
    devices = {d.id for d in load_config(HALL_FILE).devices if d.link.value == "mqtt"}
    assert {row["device"] for row in rows} == devices
    for row in rows:
        assert try_login("127.0.0.1", port, row["username"], row["password"]) == 0
    assert try_login("127.0.0.1", port, rows[0]["username"], rows[1]["password"]) == 5
    # A second run keeps every password and prints none.
    again = hallctl(
        "broker-config", "--config", str(HALL_FILE), "--db", str(generated["db"]),
        "--out", str(generated["out"]), "--json",
    )  # fmt: skip
    assert again.returncode == 0 and json.loads(again.stdout)["issued"] == []


async def test_the_daemons_link_logs_in_over_tls_from_the_credentials_file(
    generated: dict[str, Any],
) -> None:
    from dataclasses import replace

    config = load_config(HALL_FILE)
    mqtt = replace(
        config.mqtt,
        host="127.0.0.1",
        port=generated["tls_port"],
        tls=True,
        ca_file=str(generated["out"] / "tls" / "ca.crt"),
    )
    config = replace(config, mqtt=mqtt)
    link = MqttLink(link_config(config, generated["db"]))
    async with link:
        async with asyncio.timeout(5):
            await link.wait_connected()
        assert link.refusal is None and link.config.username == f"c/{HALL}"


def test_rotating_a_device_password_and_reloading_the_broker(generated: dict[str, Any]) -> None:
    port, out, db = generated["port"], generated["out"], generated["db"]
    old = next(r for r in generated["issued"] if r["device"] == "kiosk-1")
    refused = hallctl(
        "device", "credentials", "kiosk-1", "--config", str(HALL_FILE), "--db", str(db)
    )
    assert refused.returncode == 1 and "--rotate" in refused.stderr
    unknown = hallctl("device", "credentials", "nope", "--config", str(HALL_FILE), "--db", str(db))
    assert unknown.returncode == 2 and "no MQTT device 'nope'" in unknown.stderr
    done = hallctl(
        "device", "credentials", "kiosk-1", "--rotate", "--config", str(HALL_FILE),
        "--db", str(db), "--out", str(out), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    new = json.loads(done.stdout)["issued"][0]["password"]
    generated["proc"].send_signal(signal.SIGHUP)  # what docs/security.md tells the installer
    deadline = time.monotonic() + 5
    while try_login("127.0.0.1", port, old["username"], new) != 0:
        assert time.monotonic() < deadline, "the broker did not take the new password"
        time.sleep(0.02)
    assert try_login("127.0.0.1", port, old["username"], old["password"]) == 5


def test_run_without_broker_credentials_says_what_to_do(tmp_path: Path) -> None:
    done = hallctl(
        "--plain-logs", "run", "--config", str(HALL_FILE), "--db", str(tmp_path / "hall.db"),
        "--http", "127.0.0.1:0",
    )  # fmt: skip
    assert done.returncode == 2
    assert "no MQTT password for hall baishi-town's controller" in done.stderr
    assert "hallctl broker-config" in done.stderr


def test_a_pads_signing_key_is_provisioned_and_rotated_with_its_credentials(
    tmp_path: Path,
) -> None:
    """Issue 11: each pad has a key, provisioned with its credentials; --rotate replaces both."""
    db = tmp_path / "hall.db"
    where = ("--config", str(HALL_FILE), "--db", str(db), "--json")
    first = hallctl("device", "credentials", "w1-pad", *where)
    assert first.returncode == 0, first.stderr
    [row] = json.loads(first.stdout)["issued"]
    key = row["signing_key"]
    assert key["key_id"].startswith("k") and len(bytes.fromhex(key["key"])) == KEY_BYTES
    stored = DeviceKeys(device_keys_path(db)).get(HALL, "w1-pad")
    assert stored is not None
    assert (stored.key_id, stored.secret.hex()) == (key["key_id"], key["key"])
    assert oct(device_keys_path(db).stat().st_mode & 0o777) == "0o600"
    rotated = hallctl("device", "credentials", "w1-pad", "--rotate", *where)
    assert rotated.returncode == 0, rotated.stderr
    new = json.loads(rotated.stdout)["issued"][0]["signing_key"]
    assert new["key_id"] != key["key_id"] and new["key"] != key["key"]
    current = DeviceKeys(device_keys_path(db)).get(HALL, "w1-pad")
    assert current is not None and current.key_id == new["key_id"]
    # A device that does not rate gets a password and no key.
    kiosk = hallctl("device", "credentials", "w1-caller", *where)
    assert kiosk.returncode == 0, kiosk.stderr
    assert "signing_key" not in json.loads(kiosk.stdout)["issued"][0]
