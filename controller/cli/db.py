"""``hallctl db upgrade``: apply the PostgreSQL store's schema migrations, and the one place
the command line decides which log a hall file names (its ``[store]``).

The daemon also migrates at start (under the same advisory lock); this command lets an operator
migrate ahead of a rollout, or check a database, without starting a hall.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.daemon.ownership import acquire_log_lock, acquire_stream_locks
from controller.store.base import StoreError
from controller.store.postgres import PostgresStore, describe_dsn, upgrade_database
from controller.store.sqlite import SqliteStore


@dataclass(frozen=True, slots=True)
class LogTarget:
    """The log a command works on: an SQLite file, or a PostgreSQL database (``dsn``)."""

    db: Path
    dsn: str = ""

    @property
    def where(self) -> str:
        return describe_dsn(self.dsn) if self.dsn else str(self.db)


def log_target(config: str | None, db: str | None) -> LogTarget:
    """``--db FILE`` (SQLite), or the ``[store]`` of ``--config`` (SQLite or PostgreSQL)."""
    if db:
        return LogTarget(Path(db))
    if not config:
        raise ValueError("give --config or --db")
    from controller.cli.hallctl import load_sources
    from controller.daemon.process import resolve_db_path

    source = load_sources([config])[0]
    store = source.config.store
    dsn = store.dsn.strip() if store.kind == "postgres" else ""
    return LogTarget(resolve_db_path(source), dsn)


@contextlib.asynccontextmanager
async def owned_log(
    target: LogTarget, streams: list[str]
) -> AsyncIterator[SqliteStore | PostgresStore]:
    """The log opened with the daemon's one-writer lock on ``streams`` (``HallOwned`` while
    the daemon runs)."""
    if target.dsn:
        locks = await acquire_stream_locks(target.dsn, streams)
        try:
            store = await PostgresStore.open(target.dsn)
            try:
                yield store
            finally:
                await store.close()
        finally:
            await locks.release()
        return
    lock = await acquire_log_lock(target.db)
    try:
        sqlite = await SqliteStore.open(target.db)
        try:
            yield sqlite
        finally:
            await sqlite.close()
    finally:
        lock.release()


async def open_log(target: LogTarget) -> SqliteStore | PostgresStore:
    """The log opened for reading (no lock: readers never disturb the writer)."""
    if target.dsn:
        return await PostgresStore.open(target.dsn, migrate=False)
    return await SqliteStore.open(target.db)


def register_db_command(subparsers: Any) -> None:
    db = subparsers.add_parser("db", help="the PostgreSQL store's schema")
    actions = db.add_subparsers(dest="db_action", required=True)
    upgrade = actions.add_parser("upgrade", help="apply the schema migrations this hallctl has")
    where = upgrade.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", help="hall TOML whose [store] is PostgreSQL")
    where.add_argument("--dsn", help="postgresql://user@host:port/database")
    upgrade.set_defaults(func=_cmd_upgrade)


def _cmd_upgrade(args: argparse.Namespace) -> int:
    from controller.cli.hallctl import run_async
    from controller.config.errors import ConfigError

    dsn = args.dsn or ""
    if args.config:
        try:
            target = log_target(args.config, None)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
        if not target.dsn:
            print(
                f'hallctl db upgrade: {args.config} keeps its log in SQLite ({target.db}), '
                'not PostgreSQL: nothing to upgrade ([store] kind = "postgres" to use one)',
                file=sys.stderr,
            )
            return 2
        dsn = target.dsn
    return run_async(lambda: upgrade_main(dsn))


async def upgrade_main(dsn: str) -> int:
    try:
        applied = await upgrade_database(dsn)
    except StoreError as exc:
        print(f"hallctl: {exc}", file=sys.stderr)
        return 4
    if applied:
        print(f"{describe_dsn(dsn)}: applied schema migrations {', '.join(map(str, applied))}")
    else:
        print(f"{describe_dsn(dsn)}: schema is up to date")
    return 0
