"""What an adapter is: records in, HTTP requests out, answers judged.

A plain ``Adapter`` sends one record per request. A ``BatchAdapter`` (a platform taking
batches) sends up to ``max_batch`` records per request and reads per-record refusals out of the
answer. An ``Acknowledging`` adapter (the 12345 hotline) reads a reference out of the answer
that the outbox records on the case as an event.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from controller.config.model import HallConfig, Reporting
from controller.core import commands as cmd
from controller.haochaping.keys import Credentials
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


@dataclass(frozen=True, slots=True)
class BatchAnswer:
    """RETRY: the whole batch again; DELIVERED: every record but those in ``rejected``."""

    verdict: Verdict
    rejected: dict[str, str] = field(default_factory=dict)  # record id -> the platform's reason


@dataclass(frozen=True, slots=True)
class Destination:
    """What a factory builds an adapter from: the ``[[reporting]]`` entry, the hall, secrets."""

    reporting: Reporting
    hall: HallConfig
    credentials: Credentials | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.hall.hall.timezone)

    def needed_credentials(self) -> Credentials:
        if self.credentials is None:
            raise MissingCredentials(
                f"hall {self.hall.hall.id}: [[reporting]] {self.reporting.name!r} "
                f'(adapter {self.reporting.adapter}) needs credentials = "<name>" and that '
                "entry in the secrets file"
            )
        return self.credentials


class MissingCredentials(Exception):
    """A signing adapter configured without credentials."""


class Adapter(Protocol):
    name: str

    def wants(self, record: AnyRecord) -> bool:
        """Whether this destination receives ``record`` at all."""
        ...

    def request(self, record: AnyRecord) -> Request: ...

    def verdict(self, status: int, body: bytes) -> Verdict: ...


@runtime_checkable
class BatchAdapter(Protocol):
    name: str
    max_batch: int

    def wants(self, record: AnyRecord) -> bool: ...

    def batch_request(self, records: Sequence[AnyRecord]) -> Request: ...

    def batch_verdict(
        self, status: int, body: bytes, records: Sequence[AnyRecord]
    ) -> BatchAnswer: ...


@runtime_checkable
class Acknowledging(Protocol):
    def acknowledgement(self, record: AnyRecord, body: bytes) -> cmd.RecordHandOver | None:
        """The command recording the destination's reference for a delivered record."""
        ...


def http_verdict(status: int) -> Verdict:
    """The usual reading of a status code when the body says nothing more."""
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if status in (408, 425, 429) or status >= 500:
        return Verdict.RETRY
    return Verdict.REJECTED
