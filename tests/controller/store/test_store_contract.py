"""The one store test suite (``StoreContract``), run against every ``EventStore``.

PostgreSQL runs in the session's private cluster (tests/pg.py), a fresh database per test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from controller.store.memory import MemoryStore
from controller.store.postgres import PostgresStore
from controller.store.sqlite import SqliteStore
from tests.controller.store.contract import CHUNK, StoreContract


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    opened: Any
    if request.param == "memory":
        opened = MemoryStore(read_chunk=CHUNK)
    elif request.param == "sqlite":
        opened = await SqliteStore.open(tmp_path / "events.db", read_chunk=CHUNK)
    else:
        dsn = request.getfixturevalue("pg_dsn")
        opened = await PostgresStore.open(dsn, read_chunk=CHUNK)
    yield opened
    await opened.close()


class TestEveryStore(StoreContract):
    pass
