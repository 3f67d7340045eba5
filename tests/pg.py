"""pytest fixtures ``pg_cluster`` (one private PostgreSQL cluster per session) and ``pg_dsn``
(a fresh empty database in it per test). See tests/pg_cluster.py; registered in conftest.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pg_cluster import PostgresCluster


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def pg_dsn(pg_cluster: PostgresCluster) -> str:
    return pg_cluster.create_database()
