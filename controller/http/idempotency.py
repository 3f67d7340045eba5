"""``Idempotency-Key`` for commands: a retry after a lost answer gets the first answer.

Theory of operation. A client that sent a command and lost the answer (timeout, broken
connection, a daemon killed between its commit and its reply) cannot know whether the command
ran. With a key it can simply send it again. The key is recorded in the same transaction as the
command's record (``KeyClaim``, the store's ``idempotency_keys`` table), so it is durable exactly
when the command is: after a crash and restart it is still there, and it never names a command
that did not happen. A retry with a known key and the same command is not executed again: the
answer is rebuilt from the record the key points at (same status, byte-identical body). The same
key with a different command is refused (``KeyReused``, HTTP 422); while the first request is
still being decided and committed a retry is refused too (``KeyInUse``, HTTP 409), as in the IETF
``Idempotency-Key`` draft.

Keys are scoped per hall and per principal (the authenticated account): two clients cannot see
or collide with each other's keys. Only executed commands are remembered: a refusal (409) or an
unavailable hall (503) changed nothing, so retrying it simply runs it again. Keys are kept for
``RETENTION_MS`` (24 h); older ones are ignored at once and pruned by the store supervisor.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

import msgspec

from controller.core import commands as cmd
from controller.core import events as ev
from controller.daemon.runtime import HallRuntime, unavailable
from controller.store.base import EventStore, KeyClaim, StoreError, fault_of

HEADER: Final = "Idempotency-Key"
REPLAYED_HEADER: Final = "Idempotent-Replayed"
RETENTION_MS: Final = 24 * 3600 * 1000
MAX_KEY_CHARS: Final = 255

_canonical = msgspec.json.Encoder()


class BadKey(ValueError):
    """The header is not a usable key (API code ``bad_idempotency_key``)."""


class KeyReused(Exception):
    """The key was used for a different command (API code ``idempotency_key_reused``)."""


class KeyInUse(Exception):
    """A request with this key is still being decided (API code ``idempotency_key_in_use``)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A command's answer: ``replayed`` when it is the first answer given again."""

    seq: int
    events: list[ev.AnyEvent]
    replayed: bool


def parse_key(value: str) -> str:
    """1-255 printable ASCII characters, no spaces; a quoted string (the draft's sf-string) is
    unquoted first."""
    key = value.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not 1 <= len(key) <= MAX_KEY_CHARS or not all("!" <= c <= "~" for c in key):
        raise BadKey(f"{HEADER} must be 1-{MAX_KEY_CHARS} printable ASCII characters, no spaces")
    return key


def fingerprint(command: cmd.AnyCommand) -> str:
    """The command as decoded, so spacing or field order in the JSON body do not matter."""
    return hashlib.sha256(_canonical.encode(command)).hexdigest()


async def record_events(store: EventStore, hall_id: str, seq: int) -> list[ev.AnyEvent]:
    """The events of the record at ``seq`` (what the first answer carried)."""
    if seq == 0:
        return []
    async for chunk in store.read(hall_id, seq - 1):
        if chunk and chunk[0].seq == seq:
            return ev.decode_record(chunk[0].payload)
        break
    raise StoreError(f"hall {hall_id}: an idempotency key names record {seq}, which is missing")


class IdempotentCommands:
    """Runs keyed commands for every hall of a daemon (one per application)."""

    def __init__(self, *, retention_ms: int = RETENTION_MS) -> None:
        self._retention_ms = retention_ms
        self._in_flight: set[tuple[str, str, str]] = set()

    async def submit(
        self, runtime: HallRuntime, command: cmd.AnyCommand, *, principal: str, key: str
    ) -> Answer:
        """Run ``command`` once per key; raises ``KeyReused``, ``KeyInUse``, ``Rejected`` or
        ``HallUnavailable``."""
        where = (runtime.hall_id, principal, key)
        if where in self._in_flight:
            raise KeyInUse(f"a request with this {HEADER} is still being processed")
        self._in_flight.add(where)
        try:
            print_ = fingerprint(command)
            try:
                found = await runtime.store.find_claim(*where)
                if found is not None and found.at_ms >= runtime.now() - self._retention_ms:
                    if found.fingerprint != print_:
                        raise KeyReused(f"this {HEADER} was used for a different command")
                    events = await record_events(runtime.store, runtime.hall_id, found.seq)
                    return Answer(found.seq, events, replayed=True)
            except StoreError as exc:
                raise unavailable(f"hall {runtime.hall_id}: {exc}", fault_of(exc)) from exc
            claim = KeyClaim(runtime.hall_id, principal, key, print_, runtime.now())
            receipt = await runtime.submit(command, claim=claim)
            return Answer(receipt.seq, receipt.events, replayed=False)
        finally:
            self._in_flight.discard(where)
