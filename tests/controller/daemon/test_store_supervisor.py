"""The halls through a log that cannot be written: stopped at once, rebuilt and resumed by
themselves when it can (a real SQLITE_FULL on a real SQLite file)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from controller.core import commands as c
from controller.core import events as ev
from controller.core.ports import HallUnavailable
from controller.daemon.runtime import HallRuntime
from controller.daemon.store_supervisor import StoreHealth, StoreStatus, StoreSupervisor
from controller.store.base import StoreFault
from controller.store.group_commit import GroupCommitter
from controller.store.sqlite import SqliteStore
from tests.controller.halls import small_hall
from tests.controller.store.test_store_faults import cap_pages


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_a_full_log_stops_every_hall_then_they_resume_rebuilt_from_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    store = await SqliteStore.open(tmp_path / "log.db")
    health = StoreHealth()
    stop = asyncio.Event()
    try:
        async with GroupCommitter(store) as committer:
            runtime = await HallRuntime.open(small_hall(), store, committer, config_text="x")
            halls = {runtime.hall_id: runtime}
            supervisor = StoreSupervisor(store, committer, halls, health, first_retry_s=0.05)
            supervisor.attach()
            watching = asyncio.create_task(supervisor.run(stop))
            acked = [await runtime.submit(c.IssueTicket(service="A")) for _ in range(3)]
            pages = await store._call(
                lambda: store._conn.execute("PRAGMA page_count").fetchone()[0]
            )
            await cap_pages(store, pages)  # the next commit that needs a page fails for real
            lost: list[BaseException] = []
            for _ in range(200):
                try:
                    await runtime.submit(c.IssueTicket(service="A"))
                except HallUnavailable as exc:
                    lost.append(exc)
                    break
            assert lost and isinstance(lost[0], HallUnavailable)
            assert lost[0].fault == StoreFault.DISK_FULL.value
            assert "磁盘已满" in lost[0].text
            # The outage is recorded; recovery (reopen drops the cap) follows by itself.
            assert health.outages == 1
            await until(lambda: health.status is StoreStatus.WRITABLE)
            assert health.recoveries == 1 and runtime.failure is None
            receipt = await runtime.submit(c.IssueTicket(service="A"))
            stop.set()
            await watching
    finally:
        await store.close()

    issued = [e for r in acked for e in r.events if isinstance(e, ev.TicketIssued)]
    [after] = [e for e in receipt.events if isinstance(e, ev.TicketIssued)]
    state_numbers = {t.number for t in runtime.state.tickets.values()}
    assert {e.number for e in issued} <= state_numbers  # nothing acknowledged was lost
    assert receipt.seq == runtime.state.seq
    # The ticket refused during the outage is not in the rebuilt state: memory equals the log.
    reopened = await SqliteStore.open(tmp_path / "log.db")
    try:
        assert await reopened.last_seq(runtime.hall_id) == receipt.seq
    finally:
        await reopened.close()
    assert after.number not in {e.number for e in issued}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and not any(r.exc_info for r in caplog.records)


async def test_commands_during_an_outage_are_refused_at_once_with_the_fault(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(tmp_path / "log.db")
    health = StoreHealth()
    try:
        async with GroupCommitter(store) as committer:
            runtime = await HallRuntime.open(small_hall(), store, committer, config_text="x")
            supervisor = StoreSupervisor(store, committer, {runtime.hall_id: runtime}, health)
            supervisor.attach()
            supervisor.on_failure(OSError(30, "Read-only file system"))  # as the committer does
            assert health.failing and health.fault is StoreFault.READ_ONLY
            seq = runtime.state.seq
            with pytest.raises(HallUnavailable) as refused:
                await runtime.submit(c.IssueTicket(service="A"))
            assert refused.value.fault == StoreFault.READ_ONLY.value
            assert runtime.state.seq == seq and not runtime.state.tickets  # nothing changed
    finally:
        await store.close()
