"""``hallctl run`` that kills itself with SIGKILL right after a record is durable and before
anyone is answered: the first record issuing a ticket for service ``C``.

Runtime subscribers are told after the commit and before ``submit`` returns to the HTTP
handler, so a subscriber is exactly "committed but unanswered". Everything else is the real
daemon (``controller.cli.hallctl``); only this test entry point adds the subscriber.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from controller.cli import hallctl as cli
from controller.core import events as ev
from controller.daemon.process import Daemon

_run = Daemon.run


def _die_after_commit(events: list[ev.AnyEvent], seq: int) -> None:
    if any(isinstance(e, ev.TicketIssued) and e.service == "C" for e in events):
        os.kill(os.getpid(), signal.SIGKILL)


async def _hooked_run(
    self: Daemon, stop: asyncio.Event, ready: asyncio.Event | None = None
) -> None:
    async def hook(daemon: Daemon, tasks: asyncio.TaskGroup, stop: asyncio.Event) -> None:
        for runtime in daemon.halls.values():
            runtime.subscribe(_die_after_commit)

    self.extensions.insert(0, hook)
    await _run(self, stop, ready)


Daemon.run = _hooked_run  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(cli.main(sys.argv[1:]))
