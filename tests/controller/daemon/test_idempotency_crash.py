"""A real daemon killed with SIGKILL after it committed a keyed command and before it answered:
after a restart the retry with the same key gets the same ticket, and the log holds it once."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from controller.config.loader import load_config
from controller.core.events import TicketIssued, decode_record
from controller.store.sqlite import SqliteStore
from tests.controller.daemon.test_crash_recovery import DaemonProcess, auth, hall_files

pytestmark = pytest.mark.slow
__all__ = ["hall_files"]  # the fixture, imported for its use below

TICKET_C = {"type": "issue_ticket", "service": "C"}


async def issued_c(db: Path, hall: str) -> list[TicketIssued]:
    store = await SqliteStore.open(db)
    try:
        found: list[TicketIssued] = []
        async for chunk in store.read(hall):
            for record in chunk:
                found += [
                    e
                    for e in decode_record(record.payload)
                    if isinstance(e, TicketIssued) and e.service == "C"
                ]
        return found
    finally:
        await store.close()


async def test_a_retry_after_kill9_between_commit_and_answer_gets_the_same_ticket(
    hall_files: tuple[Path, Path],
) -> None:
    config, db = hall_files
    hall = load_config(config).hall.id
    headers = auth(db) | {"Idempotency-Key": "kiosk-7f3a-0001"}
    hooked = DaemonProcess(config, db, module="tests.controller.daemon.kill_after_commit")
    await hooked.start()
    url = f"{hooked.url}/api/v1/halls/{hall}/commands"
    async with aiohttp.ClientSession(headers=headers) as http:
        with pytest.raises(aiohttp.ClientError):  # the answer is lost with the process
            async with http.post(url, json=TICKET_C) as response:
                await response.read()
    assert hooked.proc is not None
    assert await hooked.proc.wait() == -9  # it really died by SIGKILL, after the commit
    [committed] = await issued_c(db, hall)

    daemon = DaemonProcess(config, db)
    await daemon.start()
    try:
        url = f"{daemon.url}/api/v1/halls/{hall}/commands"
        async with aiohttp.ClientSession(headers=headers) as http:
            async with http.post(url, json=TICKET_C) as response:
                assert response.status == 200
                assert response.headers["Idempotent-Replayed"] == "true"
                reply = await response.json()
            async with http.post(url, json={"type": "issue_ticket", "service": "A"}) as response:
                assert response.status == 422  # the same key for another command
                assert (await response.json())["code"] == "idempotency_key_reused"
    finally:
        await daemon.terminate()
    [event] = reply["events"]
    assert (event["ticket"], event["number"]) == (committed.ticket, committed.number)
    assert reply["seq"] > 0
    assert len(await issued_c(db, hall)) == 1, "the retry issued a second ticket"
