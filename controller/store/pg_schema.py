"""The PostgreSQL store's schema, as numbered migrations applied under an advisory lock.

Every table lives in the ``hallctl`` schema, so the store can share a city's database with
other software. ``upgrade`` applies the missing migrations in order, each in its own
transaction together with its row in ``hallctl.schema_migrations``; the whole run holds a
session advisory lock, so two processes starting at once (or ``hallctl db upgrade`` beside a
starting daemon) apply each migration exactly once. A database migrated by a newer hallctl
(a version this one does not know) is refused, never written. Migrations are only ever
appended to ``MIGRATIONS``; a shipped one is never edited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import asyncpg

from controller.store.base import StoreError


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


MIGRATIONS: Final = (
    Migration(
        1,
        "records, snapshots, values, idempotency keys",
        """
        CREATE TABLE hallctl.records (
            hall text NOT NULL,
            seq bigint NOT NULL CHECK (seq > 0),
            payload bytea NOT NULL,
            PRIMARY KEY (hall, seq)
        );
        CREATE TABLE hallctl.snapshots (
            hall text PRIMARY KEY,
            seq bigint NOT NULL CHECK (seq >= 0)
        );
        CREATE TABLE hallctl.snapshot_parts (
            hall text NOT NULL REFERENCES hallctl.snapshots (hall) ON DELETE CASCADE,
            part integer NOT NULL,
            payload bytea NOT NULL,
            PRIMARY KEY (hall, part)
        );
        CREATE TABLE hallctl.kv (
            key text PRIMARY KEY,
            value bytea NOT NULL
        );
        CREATE TABLE hallctl.idempotency_keys (
            hall text NOT NULL,
            principal text NOT NULL,
            key text NOT NULL,
            fingerprint text NOT NULL,
            seq bigint NOT NULL,
            at_ms bigint NOT NULL,
            PRIMARY KEY (hall, principal, key)
        );
        CREATE INDEX idempotency_keys_at ON hallctl.idempotency_keys (at_ms);
        """,
    ),
    Migration(
        2,
        "hall leases with a fencing token, checked by every append",
        """
        CREATE TABLE hallctl.hall_leases (
            hall text PRIMARY KEY,
            owner text NOT NULL,
            token bigint NOT NULL CHECK (token > 0),
            expires_at timestamptz NOT NULL
        );
        -- Called by the append statement with the tokens its writer holds (none: no check).
        -- The lease rows are locked FOR SHARE until the append commits, so a takeover (an
        -- UPDATE of the row with a new token) waits for it, and an append after a takeover
        -- sees the new token and fails: a stale owner never writes after losing its lease.
        CREATE FUNCTION hallctl.check_fence(halls text[], tokens bigint[]) RETURNS integer
        LANGUAGE plpgsql AS $$
        DECLARE
            stale text;
        BEGIN
            IF cardinality(halls) = 0 THEN
                RETURN 0;
            END IF;
            PERFORM 1 FROM hallctl.hall_leases WHERE hall = ANY (halls) FOR SHARE;
            SELECT f.hall INTO stale
                FROM unnest(halls, tokens) AS f (hall, token)
                LEFT JOIN hallctl.hall_leases l ON l.hall = f.hall
                WHERE l.token IS DISTINCT FROM f.token
                LIMIT 1;
            IF stale IS NOT NULL THEN
                RAISE EXCEPTION 'hall % is fenced: its lease is held with another token', stale
                    USING ERRCODE = 'HF001';
            END IF;
            RETURN cardinality(halls);
        END
        $$;
        """,
    ),
)

LATEST: Final = MIGRATIONS[-1].version
UPGRADE_LOCK: Final = 0x68616C6C637431  # "hallct1": the advisory lock held while migrating
FENCED_SQLSTATE: Final = "HF001"
"""Raised by ``hallctl.check_fence``: an append's lease token is no longer the hall's."""

_BOOKKEEPING: Final = """
    CREATE SCHEMA IF NOT EXISTS hallctl;
    CREATE TABLE IF NOT EXISTS hallctl.schema_migrations (
        version integer PRIMARY KEY,
        name text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
    );
"""


async def current_version(conn: asyncpg.Connection) -> int:
    """The highest applied migration, 0 for a database hallctl never touched."""
    exists = await conn.fetchval("SELECT to_regclass('hallctl.schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    version = await conn.fetchval("SELECT max(version) FROM hallctl.schema_migrations")
    return int(version or 0)


async def upgrade(conn: asyncpg.Connection, *, up_to: int = LATEST) -> list[int]:
    """Apply the missing migrations in order (up to ``up_to``: tests of the path from an
    older version); return the versions applied (maybe none)."""
    await conn.execute("SELECT pg_advisory_lock($1)", UPGRADE_LOCK)
    try:
        async with conn.transaction():
            await conn.execute(_BOOKKEEPING)
        have = await current_version(conn)
        if have > LATEST:
            raise StoreError(
                f"the database has hallctl schema version {have}; this hallctl knows versions "
                f"up to {LATEST} only (upgrade hallctl)"
            )
        applied = []
        for migration in MIGRATIONS:
            if migration.version <= have or migration.version > up_to:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO hallctl.schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version,
                    migration.name,
                )
            applied.append(migration.version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", UPGRADE_LOCK)


async def check_version(conn: asyncpg.Connection) -> None:
    """Refuse a database that is not at exactly this hallctl's schema version."""
    have = await current_version(conn)
    if have != LATEST:
        advice = "run `hallctl db upgrade`" if have < LATEST else "upgrade hallctl"
        raise StoreError(
            f"the database has hallctl schema version {have}; this hallctl needs version "
            f"{LATEST} ({advice})"
        )
