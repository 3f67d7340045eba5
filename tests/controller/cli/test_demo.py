"""``hallctl demo --json`` end to end: broker, daemon, hub and simulated hall, as a user runs it."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from controller.cli.demo import pad
from controller.store.sqlite import SqliteStore

ROOT = Path(__file__).resolve().parents[3]


async def test_headless_demo_reports_a_working_hall() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "controller.cli.hallctl",
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


async def demo(*args: str) -> tuple[dict[str, Any], list[str]]:
    """A short headless demo: its summary and its own ``demo:`` lines on stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "controller.cli.hallctl", "demo", "--duration", "1", "--json", *args,
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 90)
    assert proc.returncode == 0, err.decode()
    notes = [line for line in err.decode().splitlines() if line.startswith("demo:")]
    return json.loads(out.decode().strip().splitlines()[-1]), notes


async def test_demo_says_where_its_log_is_and_that_it_deletes_it() -> None:
    summary, notes = await demo()
    path = summary["log"]["path"]
    assert summary["log"]["kept"] is False
    assert not await asyncio.to_thread(Path(path).parent.exists)  # its folder is gone
    assert notes == [
        f"demo: event log in {path} (deleted at the end; keep it with --db FILE)",
        f"demo: deleted its event log {path}; keep it next time with --db FILE",
    ]


async def test_demo_keeps_its_log_with_db(tmp_path: Path) -> None:
    db = tmp_path / "kept.db"
    summary, notes = await demo("--db", str(db))
    assert summary["log"] == {"path": str(db), "kept": True}
    assert notes == [f"demo: event log in {db}", f"demo: event log kept in {db}"]
    store = await SqliteStore.open(db)
    try:
        assert await store.last_seq(summary["hall"]) == summary["log_records"] > 0
    finally:
        await store.close()


def test_screen_columns_count_chinese_as_two() -> None:
    assert pad("窗口", 6) == "窗口  "
    assert pad("A1", 4) == "A1  "
