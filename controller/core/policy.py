"""Call-next policy: which waiting ticket a window calls, decided by configuration.

The rule (docs/calling-policy.md has worked examples):

1. Candidates are the live heads of the window's heaps: for every service the window serves,
   the oldest normal ticket, the oldest green-channel ticket, the oldest transferred ticket and
   the appointment with the earliest slot; plus the oldest ticket transferred to this window.
2. Each candidate gets a rank ``(tier, -weight, time, ticket id)``, smallest first:
   - tier 0: a normal ticket that has waited longer than ``fairness_bound_minutes`` (it
     outranks every priority class; among these the oldest wins, weight ignored);
   - tier 1..k: the priority classes in ``priority_order`` (an appointment counts only from
     ``appointment_early_minutes`` before its slot to ``appointment_late_minutes`` after its end;
     outside that it is ranked as a normal ticket by arrival);
   - tier k+1: normal tickets (and classes left out of ``priority_order``, which rank exactly
     like normal tickets, fairness bound included).
   Within a tier a higher window weight for the ticket's service wins, then the earlier time
   (arrival, or slot start for appointments), then the lower ticket id. Tickets transferred to
   this window carry the highest weight the window has.

Pure: reads the state and ``now``, returns a ticket; it only ever drops dead heap entries.
"""

from __future__ import annotations

import heapq

from controller.config.model import CallingPolicy, PriorityClass
from controller.core.queues import live_head
from controller.core.state import HallState, Ticket, WindowRuntime

Rank = tuple[int, int, int, int]

_MINUTE_MS = 60_000


class CallingPolicyEngine:
    """The configured policy, with its constants precomputed."""

    def __init__(self, policy: CallingPolicy) -> None:
        self.policy = policy
        order = policy.priority_order
        self.tier = {cls: 1 + i for i, cls in enumerate(order)}
        self.normal_tier = 1 + len(order)
        self.fairness_ms = (
            None
            if policy.fairness_bound_minutes is None
            else int(policy.fairness_bound_minutes * _MINUTE_MS)
        )
        self.early_ms = int(policy.appointment_early_minutes * _MINUTE_MS)
        self.late_ms = int(policy.appointment_late_minutes * _MINUTE_MS)

    def choose(self, state: HallState, window: WindowRuntime, now: int) -> Ticket | None:
        """The ticket ``window`` should call now, or None when nothing waits for it."""
        best: Ticket | None = None
        best_rank: Rank | None = None
        tickets = state.tickets
        queues = state.queues
        top_weight = max((w for _, w in window.services), default=1)

        def consider(ticket: Ticket | None, rank_of: Rank | None) -> None:
            nonlocal best, best_rank
            if ticket is None or rank_of is None:
                return
            if best_rank is None or rank_of < best_rank:
                best, best_rank = ticket, rank_of

        directed = live_head(queues.directed.get(window.number), tickets)
        if directed is not None:
            consider(
                directed, self._priority_rank(PriorityClass.TRANSFER, top_weight, directed, now)
            )

        for service, weight in window.services:
            normal = live_head(queues.normal.get(service), tickets)
            if normal is not None:
                consider(normal, self._normal_rank(normal, weight, now))
            green = live_head(queues.green.get(service), tickets)
            if green is not None:
                consider(
                    green, self._priority_rank(PriorityClass.GREEN_CHANNEL, weight, green, now)
                )
            moved = live_head(queues.transfer.get(service), tickets)
            if moved is not None:
                consider(moved, self._priority_rank(PriorityClass.TRANSFER, weight, moved, now))
            appointment = self._appointment_head(state, service, now)
            if appointment is not None:
                consider(appointment, self._appointment_rank(appointment, weight))
        return best

    def _normal_rank(self, ticket: Ticket, weight: int, now: int) -> Rank:
        if self.fairness_ms is not None and now - ticket.arrival_at > self.fairness_ms:
            return (0, 0, ticket.arrival_at, ticket.id)
        return (self.normal_tier, -weight, ticket.arrival_at, ticket.id)

    def _priority_rank(self, cls: PriorityClass, weight: int, ticket: Ticket, now: int) -> Rank:
        tier = self.tier.get(cls)
        if tier is None:  # class not prioritised here: exactly like a normal ticket
            return self._normal_rank(ticket, weight, now)
        return (tier, -weight, ticket.arrival_at, ticket.id)

    def _appointment_rank(self, ticket: Ticket, weight: int) -> Rank | None:
        tier = self.tier.get(PriorityClass.APPOINTMENT)
        if tier is None:
            return None  # it is in the normal heap too and competes there
        assert ticket.slot_start_ms is not None
        return (tier, -weight, ticket.slot_start_ms, ticket.id)

    def _appointment_head(self, state: HallState, service: str, now: int) -> Ticket | None:
        """The in-slot appointment with the earliest slot; stale ones leave this heap (they
        stay in the normal heap)."""
        heap = state.queues.appointment.get(service)
        while heap:
            ticket = live_head(heap, state.tickets)
            if ticket is None:
                return None
            assert ticket.slot_start_ms is not None
            end = ticket.slot_end_ms if ticket.slot_end_ms is not None else ticket.slot_start_ms
            if now > end + self.late_ms:
                heapq.heappop(heap)  # missed its slot: from now on an ordinary ticket
                continue
            if now < ticket.slot_start_ms - self.early_ms:
                return None  # the earliest slot is not open yet, so none is
            return ticket
        return None
