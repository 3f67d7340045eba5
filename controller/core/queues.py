"""Waiting-ticket indexes: one heap per (service, class) and one per window for directed tickets.

These are derived data, rebuilt from the tickets on load, never logged. Heaps use lazy
deletion: an entry is live only while its ticket is waiting and still carries the generation
the entry was pushed with (a transfer or a re-queue bumps the generation), so cancelling,
calling by number or transferring never has to search a heap.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeVar

from controller.config.model import PriorityClass
from controller.core.lifecycle import TicketState

if TYPE_CHECKING:
    from controller.core.state import Ticket

K = TypeVar("K", str, int)

# (sort time, tie-break time, ticket id, generation)
Entry = tuple[int, int, int, int]


class QueueIndex:
    """Heaps of waiting tickets, consulted by the calling policy."""

    __slots__ = ("appointment", "directed", "green", "normal", "transfer")

    def __init__(self) -> None:
        self.normal: dict[str, list[Entry]] = {}
        self.green: dict[str, list[Entry]] = {}
        self.transfer: dict[str, list[Entry]] = {}
        self.appointment: dict[str, list[Entry]] = {}
        self.directed: dict[int, list[Entry]] = {}

    def enqueue(self, ticket: Ticket) -> None:
        """Index a ticket that has just become waiting; bumps its generation."""
        ticket.queue_gen += 1
        gen = ticket.queue_gen
        arrival = ticket.arrival_at
        if ticket.target_window is not None:
            _push(self.directed, ticket.target_window, (arrival, arrival, ticket.id, gen))
            return
        priority = ticket.priority
        if priority is PriorityClass.GREEN_CHANNEL:
            _push(self.green, ticket.service, (arrival, arrival, ticket.id, gen))
        elif priority is PriorityClass.TRANSFER:
            _push(self.transfer, ticket.service, (arrival, arrival, ticket.id, gen))
        else:
            # Appointments sit in the normal heap too: outside their slot they rank as
            # ordinary tickets by arrival (docs/calling-policy.md).
            _push(self.normal, ticket.service, (arrival, arrival, ticket.id, gen))
            if priority is PriorityClass.APPOINTMENT and ticket.slot_start_ms is not None:
                entry = (ticket.slot_start_ms, arrival, ticket.id, gen)
                _push(self.appointment, ticket.service, entry)


def _push(heaps: dict[K, list[Entry]], key: K, entry: Entry) -> None:
    heap = heaps.get(key)
    if heap is None:
        heap = heaps[key] = []
    heapq.heappush(heap, entry)


def live_head(heap: list[Entry] | None, tickets: Mapping[int, Ticket]) -> Ticket | None:
    """The first live ticket of a heap, discarding dead entries on the way."""
    if not heap:
        return None
    while heap:
        _, _, ticket_id, gen = heap[0]
        ticket = tickets.get(ticket_id)
        if ticket is not None and ticket.state is TicketState.WAITING and ticket.queue_gen == gen:
            return ticket
        heapq.heappop(heap)
    return None


def pop_head(heap: list[Entry]) -> None:
    heapq.heappop(heap)
