"""What an adapter is: records in, HTTP requests out, answers judged."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol

from controller.haochaping.records import AnyRecord


class Verdict(enum.Enum):
    DELIVERED = "delivered"  # the platform has it (a duplicate of an earlier send counts)
    RETRY = "retry"  # try the same record again later (network, 5xx, 429, busy)
    REJECTED = "rejected"  # the platform refuses this record for good; set aside, go on


@dataclass(frozen=True, slots=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"


class Adapter(Protocol):
    name: str

    def wants(self, record: AnyRecord) -> bool:
        """Whether this destination receives ``record`` at all."""
        ...

    def request(self, record: AnyRecord) -> Request: ...

    def verdict(self, status: int, body: bytes) -> Verdict: ...


def http_verdict(status: int) -> Verdict:
    """The usual reading of a status code when the body says nothing more."""
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if status in (408, 425, 429) or status >= 500:
        return Verdict.RETRY
    return Verdict.REJECTED
