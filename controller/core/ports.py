"""What the layers around the core may ask of a hall: the port the shell implements.

The daemon's ``HallRuntime`` is the one implementation; the device layer (hub, RS-485 buses)
is written against this protocol only, so it needs the pure core and never the daemon shell.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from controller.core import commands as cmd
from controller.core import events as ev
from controller.core.engine import HallEngine
from controller.core.state import HallState


class HallUnavailable(Exception):
    """The hall stopped accepting commands (its log could not be written); nothing changed.

    ``text`` is what the hall's staff read (the console, the API's ``message``); ``fault`` is the
    store's code for why (``disk_full``, ``read_only``, ``io_error``, ``store_error``)."""

    def __init__(
        self, message: str, text: str = "大厅暂停受理：事件日志无法写入", fault: str = "store_error"
    ) -> None:
        super().__init__(message)
        self.text = text
        self.fault = fault


@dataclass(frozen=True, slots=True)
class Receipt:
    """What an accepted command caused, and where it sits in the log (0: nothing logged)."""

    events: list[ev.AnyEvent]
    seq: int


Annotation = Callable[[list[ev.AnyEvent], int], ev.AnyEvent]
"""Given a command's events and the time, one more event for the same record: where the
command came from (``ev.RequestAnswered``), durable with what it caused or not at all."""


class HallPort(Protocol):
    """What a device driver needs of a hall (``controller.daemon.runtime.HallRuntime`` is one)."""

    hall_id: str
    engine: HallEngine

    @property
    def state(self) -> HallState: ...

    def now(self) -> int: ...

    async def submit(
        self, command: cmd.AnyCommand, *, annotate: Annotation | None = None
    ) -> Receipt: ...

    def subscribe(self, subscriber: Callable[[list[ev.AnyEvent], int], None]) -> None: ...
