"""Child process of the crash test: append forever, print each acknowledged record.

Usage: python crash_child.py DB_PATH RUN_ID. Each line on stdout, ``hall seq payload``, is
written and flushed only after the append's future resolved, i.e. after the commit is durable.
The parent kills this process with SIGKILL at an arbitrary moment.
"""

from __future__ import annotations

import asyncio
import sys

from controller.store.group_commit import GroupCommitter
from controller.store.sqlite import SqliteStore

PRODUCERS = 16
HALLS = 3


async def main(path: str, run_id: str) -> None:
    store = await SqliteStore.open(path)
    async with GroupCommitter(store) as committer:

        async def produce(producer: int) -> None:
            hall = f"hall-{producer % HALLS}"
            count = 0
            while True:
                payload = f"{run_id}/{producer}/{count}"
                seq = await committer.append(hall, payload.encode())
                sys.stdout.write(f"{hall} {seq} {payload}\n")
                sys.stdout.flush()
                count += 1

        await asyncio.gather(*(produce(producer) for producer in range(PRODUCERS)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
