"""Tickets of closed days, rebuilt from the log: the live state archives final tickets at each
daily close (controller/core/state.py ``_archive``), so figures of an earlier day read the log.

The log is folded by the hall's own fold (exactly what the daemon folds); the tickets of the
asked day are collected as the close archives them, plus those of that day still live at the
end. Memory stays that of the live state; the fold yields to the event loop between chunks.
"""

from __future__ import annotations

from controller.config.model import HallConfig
from controller.core.state import HallState, Ticket
from controller.daemon.runtime import fold_log
from controller.store.base import EventStore


async def tickets_of_day(config: HallConfig, store: EventStore, day: str) -> list[Ticket]:
    """Every ticket of business day ``day`` as the log leaves it, in id order."""
    state = HallState(config)
    found: dict[int, Ticket] = {}

    def collect(ticket: Ticket) -> None:
        if ticket.day == day:
            found[ticket.id] = ticket

    state.on_archive = collect
    await fold_log(state, store, config.hall.id, 0)
    found.update((t.id, t) for t in state.tickets.values() if t.day == day)
    return [found[k] for k in sorted(found)]


async def day_tickets(
    config: HallConfig, state: HallState, store: EventStore, day: str
) -> list[Ticket]:
    """The tickets of ``day``: from the live state while the day is open, else from the log
    (a day that had no tickets, or is no date at all, reads nothing)."""
    if day not in state.ticket_days:
        return []
    if day > state.last_closed_day:
        return [t for t in state.tickets.values() if t.day == day]
    return await tickets_of_day(config, store, day)
