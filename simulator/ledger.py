"""What the simulated people did and saw: the simulator's side of the story, for the checker.

Only facts the people learnt through devices: a slip printed by a kiosk, a number a keypad
Reply said was called, a finish a keypad Reply accepted. Never the controller's internals.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class IssuedTicket:
    number: str
    service: str
    kiosk: str
    green: bool
    sim_time: float


@dataclass(slots=True)
class Ledger:
    issued: dict[str, IssuedTicket] = field(default_factory=dict)  # by number
    called: dict[str, int] = field(default_factory=dict)  # number -> window of the last call
    served: list[tuple[str, int]] = field(default_factory=list)  # (number, window) finished
    no_shows: list[tuple[str, int]] = field(default_factory=list)
    transfers: list[tuple[str, int, str]] = field(default_factory=list)  # number, window, to
    suspends: list[tuple[str, int]] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)  # kiosk refusal codes
    turned_away: Counter[str] = field(default_factory=Counter)  # service not offered
    unanswered: Counter[str] = field(default_factory=Counter)  # device -> requests lost
    not_printed: list[tuple[str, str]] = field(default_factory=list)  # (kiosk, number)
    press_errors: Counter[str] = field(default_factory=Counter)  # keypad reject codes

    def issue(self, ticket: IssuedTicket) -> None:
        self.issued[ticket.number] = ticket

    def call(self, number: str, window: int) -> None:
        self.called[number] = window
