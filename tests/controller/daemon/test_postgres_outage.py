"""The halls through a PostgreSQL server that goes away: stopped at once with the fault
数据库无法连接, rebuilt from the log and resumed by themselves when the server is back.

Its own cluster (stopped and started again on the same port), not the session's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from controller.core import commands as c
from controller.core import events as ev
from controller.core.ports import HallUnavailable
from controller.daemon.runtime import HallRuntime
from controller.daemon.store_supervisor import StoreHealth, StoreStatus, StoreSupervisor
from controller.store.base import StoreFault
from controller.store.group_commit import GroupCommitter
from controller.store.postgres import PostgresStore
from tests.controller.daemon.test_store_supervisor import until
from tests.controller.halls import small_hall
from tests.pg_cluster import PostgresCluster


@pytest.fixture
def own_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


async def test_a_server_restart_stops_the_halls_then_they_resume(
    own_cluster: PostgresCluster,
) -> None:
    dsn = await asyncio.to_thread(own_cluster.create_database)
    store = await PostgresStore.open(dsn)
    health = StoreHealth()
    stop = asyncio.Event()
    try:
        async with GroupCommitter(store) as committer:
            runtime = await HallRuntime.open(small_hall(), store, committer, config_text="x")
            supervisor = StoreSupervisor(
                store, committer, {runtime.hall_id: runtime}, health, first_retry_s=0.05
            )
            supervisor.attach()
            watching = asyncio.create_task(supervisor.run(stop))
            acked = [await runtime.submit(c.IssueTicket(service="A")) for _ in range(3)]

            await asyncio.to_thread(own_cluster.stop)
            with pytest.raises(HallUnavailable) as refused:
                await runtime.submit(c.IssueTicket(service="A"))
            assert refused.value.fault == StoreFault.UNREACHABLE.value
            assert "数据库无法连接" in refused.value.text
            assert health.failing and health.outages == 1
            with pytest.raises(HallUnavailable):  # refused at once while it lasts
                await runtime.submit(c.IssueTicket(service="A"))

            await asyncio.to_thread(own_cluster.start_again)
            await until(lambda: health.status is StoreStatus.WRITABLE, seconds=30)
            assert health.recoveries == 1 and runtime.failure is None
            receipt = await runtime.submit(c.IssueTicket(service="A"))
            stop.set()
            await watching
    finally:
        await store.close()

    issued = {e.number for r in acked for e in r.events if isinstance(e, ev.TicketIssued)}
    assert issued <= {t.number for t in runtime.state.tickets.values()}
    reopened = await PostgresStore.open(dsn)
    try:
        assert await reopened.last_seq(runtime.hall_id) == receipt.seq == runtime.state.seq
    finally:
        await reopened.close()
