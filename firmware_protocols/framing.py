"""The receive loop shared by start-byte framed protocols: find a start, parse, resynchronise.

Theory of operation: bytes before any start byte are garbage. At a start byte the protocol's
``parse_candidate`` either needs more bytes, accepts a frame of some length, or rejects the
candidate with a reason. A rejected candidate costs only its first byte(s) (``Rejected.skip``),
so a real frame hidden behind a false start (a start byte inside garbage or inside text) is
still found. Every decision depends only on the bytes themselves, never on how the transport
happened to split them, so feeding a stream whole or byte by byte yields the same events.

Discarded bytes are reported as ``DecodeError``s: a rejection opens a new error and the garbage
that follows it joins that error, so one corrupted frame gives one error, not a dozen.
Garbage is held back until a frame, a rejection or ``receive_gap`` closes it (or it reaches
``max_error_bytes``), which keeps errors whole however slowly bytes trickle in.

Bounds: after every ``receive_data`` the buffer holds less than ``max_frame`` bytes, and a
pending error at most ``max_error_bytes``; no input makes either grow without limit.
"""

from __future__ import annotations

import abc
import enum
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from firmware_protocols.base import DecodeError, ErrorReason

FrameT = TypeVar("FrameT")


class NeedMore(enum.Enum):
    """The candidate may still become a frame: wait for more bytes."""

    NEED_MORE = "need_more"


NEED_MORE = NeedMore.NEED_MORE


@dataclass(frozen=True, slots=True)
class Parsed(Generic[FrameT]):
    """A whole frame of ``length`` bytes starting at the candidate."""

    frame: FrameT
    length: int


@dataclass(frozen=True, slots=True)
class Rejected:
    """Not a frame; drop ``skip`` bytes from the candidate start and scan on.

    ``reason=GARBAGE`` means "this start byte was not a start at all": the bytes join the
    current garbage run instead of opening a new error.
    """

    reason: ErrorReason
    detail: str = ""
    skip: int = 1


ParseResult = Parsed[FrameT] | Rejected | NeedMore


class FrameScanner(abc.ABC, Generic[FrameT]):
    """A sans-I/O decoder for protocols whose frames begin with one of ``start_bytes``."""

    def __init__(self, *, start_bytes: bytes, max_frame: int, max_error_bytes: int = 256) -> None:
        if not start_bytes or max_frame < 1 or max_error_bytes < 1:
            raise ValueError("need start bytes and positive bounds")
        self._start_bytes = start_bytes
        self._max_frame = max_frame
        self._max_error_bytes = max_error_bytes
        self._buffer = bytearray()
        self._events: deque[FrameT | DecodeError] = deque()
        self._error_reason: ErrorReason | None = None
        self._error_detail = ""
        self._error_data = bytearray()

    @abc.abstractmethod
    def parse_candidate(self, buffer: bytearray, start: int) -> ParseResult[FrameT]:
        """Judge the candidate at ``buffer[start]`` (one of the start bytes)."""

    # -- the Decoder interface -------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Append bytes from the wire and decode what is complete; never raises."""
        self._buffer += data
        self._scan(line_quiet=False)

    def receive_gap(self) -> None:
        """The line went quiet: a partial frame can no longer complete, report what is held."""
        self._scan(line_quiet=True)
        self._close_error()

    def events_received(self) -> Iterator[FrameT | DecodeError]:
        """Drain frames and errors found so far, in wire order."""
        while self._events:
            yield self._events.popleft()

    @property
    def pending_bytes(self) -> int:
        """Bytes held for a frame that is not complete yet (bounded by ``max_frame``)."""
        return len(self._buffer)

    # -- the loop --------------------------------------------------------------------------

    def _find_start(self, begin: int) -> int:
        found = [p for p in (self._buffer.find(b, begin) for b in self._start_bytes) if p >= 0]
        return min(found) if found else -1

    def _scan(self, *, line_quiet: bool) -> None:
        buffer = self._buffer
        position = 0
        while position < len(buffer):
            start = self._find_start(position)
            if start < 0:
                self._discard(ErrorReason.GARBAGE, buffer[position:], "")
                position = len(buffer)
                break
            if start > position:
                self._discard(ErrorReason.GARBAGE, buffer[position:start], "")
            result = self.parse_candidate(buffer, start)
            if result is NEED_MORE:
                if len(buffer) - start >= self._max_frame:
                    result = Rejected(ErrorReason.OVERSIZED, f"no frame within {self._max_frame}")
                elif line_quiet:
                    result = Rejected(ErrorReason.TRUNCATED, "line went quiet inside a frame")
                else:
                    position = start
                    break
            if isinstance(result, Rejected):
                end = start + max(1, result.skip)
                self._discard(result.reason, buffer[start:end], result.detail)
                position = end
            elif isinstance(result, Parsed):
                self._close_error()
                self._events.append(result.frame)
                position = start + result.length
        del buffer[:position]

    def _discard(self, reason: ErrorReason, data: bytes | bytearray, detail: str) -> None:
        if reason is not ErrorReason.GARBAGE or self._error_reason is None:
            self._close_error()
            self._error_reason, self._error_detail = reason, detail
        offset = 0
        while offset < len(data):
            room = self._max_error_bytes - len(self._error_data)
            self._error_data += data[offset : offset + room]
            offset += room
            if len(self._error_data) >= self._max_error_bytes:
                kept = self._error_reason, self._error_detail
                self._close_error()
                self._error_reason, self._error_detail = kept  # the run goes on

    def _close_error(self) -> None:
        if self._error_reason is not None and self._error_data:
            self._events.append(
                DecodeError(self._error_reason, bytes(self._error_data), self._error_detail)
            )
        self._error_reason, self._error_detail = None, ""
        self._error_data = bytearray()
