"""What only the PostgreSQL store has: migrations, a shared server, connections that die.

The contract every store keeps runs in test_store_contract.py; these run in the session's
private cluster (tests/pg.py), a fresh database per test.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from controller.store import pg_schema
from controller.store.base import StoredRecord, StoreError, StoreFault
from controller.store.postgres import PostgresStore, describe_dsn, upgrade_database
from tests.controller.store.contract import read_all
from tests.pg_cluster import PostgresCluster, free_port


async def sql(dsn: str, query: str, *args: object) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def test_reopen_keeps_records_snapshots_and_numbering(pg_dsn: str) -> None:
    store = await PostgresStore.open(pg_dsn)
    await store.append_many([("h1", [b"a", b"b"]), ("h2", [b"x"])])
    await store.close()
    reopened = await PostgresStore.open(pg_dsn)
    try:
        assert await reopened.halls() == ["h1", "h2"]
        assert await reopened.append("h1", [b"c"]) == [3]
        assert await reopened.append("h2", [b"y"]) == [2]
        assert [r.seq for r in await read_all(reopened, "h1")] == [1, 2, 3]
    finally:
        await reopened.close()


async def test_db_upgrade_applies_each_migration_once(pg_dsn: str) -> None:
    results = await asyncio.gather(*(upgrade_database(pg_dsn) for _ in range(3)))
    assert sorted(results) == [[], [], [m.version for m in pg_schema.MIGRATIONS]]
    assert await upgrade_database(pg_dsn) == []
    count = await sql(pg_dsn, "SELECT count(*) FROM hallctl.schema_migrations")
    assert count == len(pg_schema.MIGRATIONS)


async def test_without_migrating_an_empty_database_is_refused(pg_dsn: str) -> None:
    with pytest.raises(StoreError, match=r"schema version 0.*hallctl db upgrade"):
        await PostgresStore.open(pg_dsn, migrate=False)
    assert await sql(pg_dsn, "SELECT to_regclass('hallctl.records') IS NULL") is True
    await upgrade_database(pg_dsn)
    store = await PostgresStore.open(pg_dsn, migrate=False)
    await store.close()


async def test_a_newer_schema_is_refused_and_left_alone(pg_dsn: str) -> None:
    await upgrade_database(pg_dsn)
    await sql(pg_dsn, "INSERT INTO hallctl.schema_migrations (version, name) VALUES (99, 'x')")
    with pytest.raises(StoreError, match=r"version 99.*upgrade hallctl"):
        await PostgresStore.open(pg_dsn)
    with pytest.raises(StoreError, match=r"version 99"):
        await upgrade_database(pg_dsn)
    assert await sql(pg_dsn, "SELECT max(version) FROM hallctl.schema_migrations") == 99


async def test_a_foreign_table_in_the_way_is_refused(pg_dsn: str) -> None:
    await sql(pg_dsn, "CREATE SCHEMA hallctl")
    await sql(pg_dsn, "CREATE TABLE hallctl.records (x int)")
    with pytest.raises(StoreError, match="not a usable hallctl event store"):
        await PostgresStore.open(pg_dsn)
    assert await sql(pg_dsn, "SELECT to_regclass('hallctl.schema_migrations') IS NOT NULL")
    assert await sql(pg_dsn, "SELECT count(*) FROM hallctl.schema_migrations") == 0


async def test_a_server_that_does_not_answer_is_unreachable() -> None:
    dsn = f"postgresql://hallctl:secret@127.0.0.1:{free_port()}/nowhere"
    with pytest.raises(StoreError, match="cannot connect") as failed:
        await PostgresStore.open(dsn)
    assert failed.value.fault is StoreFault.UNREACHABLE
    assert "secret" not in str(failed.value)  # the password is never printed
    assert describe_dsn(dsn) == f"postgresql://hallctl@127.0.0.1:{dsn.split(':')[3]}"


async def test_commits_are_synchronous_even_if_the_server_says_otherwise(
    pg_cluster: PostgresCluster, pg_dsn: str
) -> None:
    name = pg_dsn.rsplit("/", 1)[1]
    await sql(pg_cluster.dsn(), f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    store = await PostgresStore.open(pg_dsn)
    try:
        setting = await store._writer.fetchval("SHOW synchronous_commit")
        pooled = await store._run(lambda c: c.fetchval("SHOW synchronous_commit"))
        assert (setting, pooled) == ("on", "on")
    finally:
        await store.close()


async def test_foreign_writer_causes_an_error_not_a_duplicate(pg_dsn: str) -> None:
    store = await PostgresStore.open(pg_dsn)
    try:
        await store.append("h1", [b"mine"])
        await sql(pg_dsn, "INSERT INTO hallctl.records VALUES ('h1', 2, '\\x00')")
        with pytest.raises(StoreError, match="another process"):
            await store.append_many([("h2", [b"innocent"]), ("h1", [b"clash"])])
        assert await store.last_seq("h2") == 0  # the whole batch was rolled back
        # the cache was dropped: the next append numbers after what is really there
        assert await store.append("h1", [b"after"]) == [3]
    finally:
        await store.close()


async def test_a_cancelled_append_still_commits_and_numbering_stays_true(pg_dsn: str) -> None:
    store = await PostgresStore.open(pg_dsn)
    try:
        task = asyncio.create_task(store.append("h1", [b"a", b"b"]))
        await asyncio.sleep(0)  # the statement is on its way
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await store.append("h1", [b"c"]) == [3]
        assert await read_all(store, "h1") == [
            StoredRecord(1, b"a"),
            StoredRecord(2, b"b"),
            StoredRecord(3, b"c"),
        ]
    finally:
        await store.close()


async def test_a_lost_connection_fails_the_append_then_reopen_resumes(pg_dsn: str) -> None:
    store = await PostgresStore.open(pg_dsn)
    try:
        await store.append("h1", [b"a"])
        pid = store._writer.get_server_pid()
        assert await sql(pg_dsn, "SELECT pg_terminate_backend($1)", pid) is True
        with pytest.raises(StoreError) as failed:
            await store.append("h1", [b"lost"])
        assert failed.value.fault is StoreFault.UNREACHABLE
        await store.reopen()
        await store.probe()
        assert await store.append("h1", [b"b"]) == [2]
        assert [r.payload for r in await read_all(store, "h1")] == [b"a", b"b"]
    finally:
        await store.close()
