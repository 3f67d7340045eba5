"""Fencing: an append commits only while the hall's lease carries the writer's token.

The foundation of central mode (issue 12): ``hallctl.hall_leases`` and the check in the append
statement itself. Taking and renewing leases is not built yet; here the leases are written by
hand, as a taking-over process would.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from controller.store import pg_schema
from controller.store.base import KeyClaim, StoreFault
from controller.store.postgres import Fenced, PostgresStore
from tests.controller.store.contract import read_all


async def lease(dsn: str, hall: str, token: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """INSERT INTO hallctl.hall_leases (hall, owner, token, expires_at)
               VALUES ($1, 'test', $2, now() + interval '10 s')
               ON CONFLICT (hall) DO UPDATE SET token = excluded.token""",
            hall,
            token,
        )
    finally:
        await conn.close()


async def test_a_stale_token_writes_nothing_of_its_batch(pg_dsn: str) -> None:
    store = await PostgresStore.open(pg_dsn)
    try:
        await lease(pg_dsn, "h1", 7)
        store.set_fence("h1", 7)
        assert await store.append_many([("h1", [b"a"]), ("h2", [b"x"])]) == [[1], [1]]
        await lease(pg_dsn, "h1", 8)  # another process took the hall over
        claim = KeyClaim(hall="h1", principal="", key="k", fingerprint="f", at_ms=1)
        with pytest.raises(Fenced, match=r"hall h1 is fenced") as refused:
            await store.append_many([("h2", [b"y"]), ("h1", [b"b"])], [None, claim])
        assert refused.value.fault is StoreFault.FENCED
        assert [r.payload for r in await read_all(store, "h1")] == [b"a"]
        assert [r.payload for r in await read_all(store, "h2")] == [b"x"]
        assert await store.find_claim("h1", "", "k") is None
        store.clear_fence("h1")  # unfenced (single-process mode): no check
        assert await store.append("h1", [b"c"]) == [2]
    finally:
        await store.close()


async def test_a_fenced_hall_without_a_lease_is_refused(pg_dsn: str) -> None:
    store = await PostgresStore.open(pg_dsn)
    try:
        store.set_fence("h1", 1)
        with pytest.raises(Fenced):
            await store.append("h1", [b"a"])
        assert await store.last_seq("h1") == 0
        for bad in (0, -1, True, "1"):
            with pytest.raises(ValueError, match="positive integer"):
                store.set_fence("h1", bad)  # type: ignore[arg-type]
    finally:
        await store.close()


async def wait_until_blocked(dsn: str, pid: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + 10
        while (
            await conn.fetchval("SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid)
            != "Lock"
        ):
            assert time.monotonic() < deadline, "the append never waited for the takeover"
            await asyncio.sleep(0.01)
    finally:
        await conn.close()


async def test_an_append_racing_a_takeover_waits_for_it_then_is_refused(pg_dsn: str) -> None:
    store = await PostgresStore.open(pg_dsn)
    taker = await asyncpg.connect(pg_dsn)
    try:
        await lease(pg_dsn, "h1", 1)
        store.set_fence("h1", 1)
        assert await store.append("h1", [b"mine"]) == [1]
        takeover = taker.transaction()
        await takeover.start()
        await taker.execute("UPDATE hallctl.hall_leases SET token = 2 WHERE hall = 'h1'")
        racing = asyncio.create_task(store.append("h1", [b"stale"]))
        await wait_until_blocked(pg_dsn, store._writer.get_server_pid())
        await takeover.commit()
        with pytest.raises(Fenced):
            await racing
        assert [r.payload for r in await read_all(store, "h1")] == [b"mine"]
    finally:
        await taker.close()
        await store.close()


async def test_a_version_1_database_is_upgraded_at_start_keeping_its_log(pg_dsn: str) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await pg_schema.upgrade(conn, up_to=1) == [1]
        await conn.execute("INSERT INTO hallctl.records VALUES ('h1', 1, '\\x01')")
    finally:
        await conn.close()
    with pytest.raises(Exception, match="hallctl db upgrade"):
        await PostgresStore.open(pg_dsn, migrate=False)
    store = await PostgresStore.open(pg_dsn)
    try:
        assert await store.append("h1", [b"\x02"]) == [2]
        assert [r.payload for r in await read_all(store, "h1")] == [b"\x01", b"\x02"]
    finally:
        await store.close()
