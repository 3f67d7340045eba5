"""kill -9 at an arbitrary moment loses nothing acknowledged and duplicates nothing."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from controller.store.sqlite import SqliteStore
from tests.controller.store.contract import read_all

CHILD = Path(__file__).with_name("crash_child.py")


def run_and_kill(path: Path, run_id: str, kill_after: int) -> list[tuple[str, int, bytes]]:
    """Start the child, SIGKILL it after ``kill_after`` acks; return every ack it printed."""
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(path), run_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    lines: list[bytes] = []
    try:
        while len(lines) < kill_after:
            line = child.stdout.readline()
            if not line:
                pytest.fail(f"child ended early: {child.stderr.read().decode(errors='replace')}")
            lines.append(line)
        child.send_signal(signal.SIGKILL)
        lines.extend(child.stdout.read().splitlines(keepends=True))
    finally:
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL  # it died mid-stream, not by finishing
    acks = []
    for line in lines:
        if line.endswith(b"\n"):  # a line is written with one write(); a torn one was not acked
            hall, seq, payload = line.decode().split()
            acks.append((hall, int(seq), payload.encode()))
    return acks


@pytest.mark.timeout(60)
async def test_sigkill_loses_no_acknowledged_record_and_duplicates_none(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    rng = random.Random(20_261_122)
    acked: list[tuple[str, int, bytes]] = []
    for run in range(3):  # each run continues the log the previous crash left behind
        kill_after = rng.randint(300, 3000)
        acked += await asyncio.to_thread(run_and_kill, path, f"run{run}", kill_after)

        store = await SqliteStore.open(path)
        try:
            stored = {hall: await read_all(store, hall) for hall in await store.halls()}
        finally:
            await store.close()
        for hall, records in stored.items():
            assert [r.seq for r in records] == list(range(1, len(records) + 1)), hall
        payloads = [r.payload for records in stored.values() for r in records]
        assert len(payloads) == len(set(payloads)), "a record was stored twice"
        for hall, seq, payload in acked:
            assert seq <= len(stored[hall]), f"acknowledged {hall} #{seq} lost"
            assert stored[hall][seq - 1].payload == payload
        assert len(payloads) >= len(acked)
