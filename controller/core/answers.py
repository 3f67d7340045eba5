"""Device requests answered in the last ten minutes, folded from the log: who asked what
(device, rid) and which answer they got.

Why in the log: the reply to a request goes out only after its events are durable, so a crash
can fall between the commit and the reply. The device then re-sends the same ``rid`` to the
restarted controller, which must give the same answer, not a second ticket
(docs/protocol/mqtt.md 6.2). The hub records a ``RequestAnswered`` event in the same record as
the request's events, so the two are durable together; this index, part of the fold and of
snapshots, finds it again. Only requests that changed the hall are recorded: a refusal changed
nothing, so deciding it again after a restart is harmless.

Bounded by time (``KEEP_MS``: the protocol's ten minutes) and, as a safeguard, by count.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from controller.core import events as ev

KEEP_MS: Final = 600_000
MAX_ENTRIES: Final = 100_000


class AnsweredRequests:
    """(device, rid) -> the ``RequestAnswered`` event, in log order."""

    __slots__ = ("_items",)

    def __init__(self, events: list[ev.RequestAnswered] | None = None) -> None:
        self._items: OrderedDict[tuple[str, int], ev.RequestAnswered] = OrderedDict()
        for event in events or ():
            self.add(event)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, event: ev.RequestAnswered) -> None:
        """Fold step (log order, so times never decrease)."""
        items = self._items
        key = (event.device, event.rid)
        items[key] = event
        items.move_to_end(key)
        horizon = event.at - KEEP_MS
        while len(items) > MAX_ENTRIES or next(iter(items.values())).at < horizon:
            items.popitem(last=False)

    def get(self, device: str, rid: int, now_ms: int) -> ev.RequestAnswered | None:
        event = self._items.get((device, rid))
        if event is None or now_ms - event.at > KEEP_MS:
            return None
        return event

    def to_list(self) -> list[ev.RequestAnswered]:
        return list(self._items.values())
