"""``hallctl demo --json`` end to end: broker, daemon, hub and simulated hall, as a user runs it."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from controller.demo import pad

ROOT = Path(__file__).resolve().parents[2]


async def test_headless_demo_reports_a_working_hall() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "controller.cli",
        "demo",
        "--duration",
        "15",
        "--json",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, out.decode()
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["lost"] == 0 and summary["errors"] == 0 and summary["violations"] == []
    assert summary["tickets_issued"] > 0 and summary["tickets_served"] > 0
    assert summary["ratings"] > 0
    assert summary["devices_online"] == summary["devices_total"] == 64
    # What the devices saw agrees with what the controller logged.
    seen = summary["seen_by_devices"]
    assert seen["tickets_printed"] == summary["tickets_issued"]
    assert seen["ratings_acknowledged"] == summary["ratings"]


def test_screen_columns_count_chinese_as_two() -> None:
    assert pad("窗口", 6) == "窗口  "
    assert pad("A1", 4) == "A1  "
