"""Snapshots written without stalling commands: a consistent cut, encoded a slice at a time.

Theory of operation. At the cut (``SnapshotWriter(state, seq)``) everything but the tickets is
encoded at once (windows, cases, counters: small). The tickets, hundreds of thousands of them,
are encoded in slices of ``SLICE`` between which the event loop runs commands. Those commands
change tickets in place, so before their events are folded the runtime calls ``preserve``:
a ticket an event names that is not encoded yet is encoded first, as it was at the cut. A
daily close (which expires and archives tickets wholesale) finishes the encoding first. The
result is exactly the state at the cut, in parts that concatenate to one MessagePack value
``[head, tickets]`` and go to the store as they are (no copy into one buffer on the loop).
"""

from __future__ import annotations

import asyncio
import struct
from array import array
from typing import Final

import msgspec

from controller.core import events as ev
from controller.core.state import SNAPSHOT_DECODER, SNAPSHOT_ENCODER, HallState, Snapshot, Ticket

SLICE: Final = 2_000
"""Tickets encoded per turn of the event loop (about 1 ms of work)."""

PAUSE_S: Final = 0.001
"""Between slices: the store's thread and the commands get the interpreter."""

_PAIR: Final = b"\x92"  # MessagePack: an array of two
_TICKETS_DECODER: Final = msgspec.msgpack.Decoder(tuple[Snapshot, list[Ticket]])


def _array_header(count: int) -> bytes:
    return b"\xdd" + struct.pack(">I", count)  # array32: valid for any count


def _strip_array_header(encoded: bytes) -> bytes:
    """The items of an encoded array, without its header."""
    first = encoded[0]
    if first <= 0x9F:  # fixarray
        return encoded[1:]
    return encoded[3:] if first == 0xDC else encoded[5:]


class SnapshotWriter:
    """One snapshot in progress; the runtime owns at most one per hall."""

    def __init__(self, state: HallState, seq: int) -> None:
        self.seq = seq
        self._state = state
        head = msgspec.structs.replace(state.to_snapshot(tickets=[]), seq=seq)
        self._head = SNAPSHOT_ENCODER.encode(head)
        # The ids at the cut, in id order (issue order, kept by folds); the tickets are looked
        # up as they are encoded (only a daily close removes tickets, and it finishes the
        # encoding first). An array, not a list of the tickets: the cyclic GC walks a young
        # list of 250,000 at each collection until it is promoted (13-37 ms each, measured).
        self._ids = array("q", state.tickets.keys())
        self._next = 0  # index of the first ticket not encoded yet
        self._done_below = self._ids[0] if self._ids else 0
        self._last_id = self._ids[-1] if self._ids else 0
        self._early: dict[int, msgspec.Raw] = {}
        self._pieces: list[bytes] = []

    def preserve(self, events: list[ev.AnyEvent]) -> None:
        """Keep, as at the cut, what ``events`` are about to change (call before folding)."""
        if self._next >= len(self._ids):
            return
        tickets = self._state.tickets
        for event in events:
            if isinstance(event, ev.DayClosed):
                self._encode_slice(len(self._ids))
                return
            ticket_id = getattr(event, "ticket", None)
            if (
                ticket_id is not None
                and self._done_below <= ticket_id <= self._last_id
                and ticket_id not in self._early
            ):
                ticket = tickets.get(ticket_id)
                if ticket is not None:
                    self._early[ticket_id] = msgspec.Raw(SNAPSHOT_ENCODER.encode(ticket))

    async def encode(self) -> tuple[bytes, ...]:
        """Encode the tickets a slice per turn of the loop; the snapshot's parts."""
        while self._next < len(self._ids):
            self._encode_slice(self._next + SLICE)
            # A real pause, not sleep(0): the loop then waits in poll without the GIL, so the
            # store's thread can finish the commits that commands wait for.
            await asyncio.sleep(PAUSE_S)
        prefix = _PAIR + self._head + _array_header(len(self._ids))
        return (prefix, *self._pieces)

    def _encode_slice(self, end: int) -> None:
        early = self._early
        batch = self._ids[self._next : end]
        if not batch:
            return
        tickets = self._state.tickets
        items: list[Ticket | msgspec.Raw] = (
            [early.pop(i) if i in early else tickets[i] for i in batch]
            if early
            else [tickets[i] for i in batch]
        )
        self._pieces.append(_strip_array_header(SNAPSHOT_ENCODER.encode(items)))
        self._next += len(batch)
        self._done_below = batch[-1] + 1


def decode_snapshot(payload: bytes) -> Snapshot:
    """A snapshot written by ``SnapshotWriter`` or, as before, one ``Snapshot`` value."""
    if payload[:1] == _PAIR:
        head, tickets = _TICKETS_DECODER.decode(payload)
        head.tickets = tickets
        return head
    return SNAPSHOT_DECODER.decode(payload)
