"""``hallctl db upgrade``, and the PostgreSQL one-writer locks the command line shares with the
daemon."""

from __future__ import annotations

import pytest

from controller.cli.db import upgrade_main
from controller.cli.hallctl import main
from controller.daemon.ownership import HallOwned, acquire_stream_locks
from controller.store.pg_schema import MIGRATIONS
from tests.controller.daemon.test_crash_recovery import EXAMPLE


def test_upgrade_of_an_sqlite_hall_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", "--config", str(EXAMPLE)]) == 2
    assert "not PostgreSQL: nothing to upgrade" in capsys.readouterr().err


async def test_upgrade_twice_applies_once(pg_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await upgrade_main(pg_dsn) == 0
    assert await upgrade_main(pg_dsn) == 0
    out = capsys.readouterr().out.splitlines()
    versions = ", ".join(str(m.version) for m in MIGRATIONS)
    assert out[0].endswith(f"applied schema migrations {versions}")
    assert out[1].endswith("up to date")


async def test_stream_locks_are_all_or_nothing_and_name_the_owner(pg_dsn: str) -> None:
    first = await acquire_stream_locks(pg_dsn, ["h2", "~access"])
    try:
        with pytest.raises(HallOwned, match=r"'h2' .* in use by hallctl pid \d+"):
            await acquire_stream_locks(pg_dsn, ["h1", "h2"])
        other = await acquire_stream_locks(pg_dsn, ["h1"])  # h1 was released with the failure
        await other.release()
    finally:
        await first.release()
    again = await acquire_stream_locks(pg_dsn, ["h2", "~access"])  # released: free again
    await again.release()
