"""The one shape every codec in this package has (after websockets' sans-I/O layer).

Theory of operation: a transport (a serial bus master, a pseudo-terminal, a test) owns the
bytes; a codec owns nothing but a buffer. The transport hands whatever bytes arrived, in any
fragmentation, to ``receive_data``; it then drains ``events_received``, which yields complete
frames and, for bytes that could not be a frame, a ``DecodeError`` naming why. After an error the
decoder has already skipped past the bad bytes and resynchronises on the next valid frame, so a
single garbled frame never wedges a bus. Encoding is a pure function from values to bytes.

No asyncio, no sockets, no clocks: timing (inter-frame silence, turnaround) is the transport's
job, and a codec that needs it (Modbus RTU's t3.5) is told by the transport through
``receive_gap``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

FrameT = TypeVar("FrameT", covariant=True)


class ErrorReason(enum.Enum):
    """Why bytes were discarded; the same vocabulary for every protocol."""

    BAD_CHECKSUM = "bad_checksum"
    BAD_LENGTH = "bad_length"
    BAD_TERMINATOR = "bad_terminator"
    GARBAGE = "garbage"  # bytes before a start marker
    UNKNOWN_FUNCTION = "unknown_function"
    BAD_FIELD = "bad_field"  # a field's value is outside what the protocol allows
    OVERSIZED = "oversized"
    TRUNCATED = "truncated"  # a frame cut short by line silence
    COLLISION = "collision"  # two devices answered at once (wrong-length frame on a bus)


@dataclass(frozen=True, slots=True)
class DecodeError:
    """Bytes that were skipped, and why. Yielded in-band so the stream keeps flowing."""

    reason: ErrorReason
    data: bytes
    detail: str = ""


class EncodeError(ValueError):
    """A value cannot be put on the wire (text not in GB2312, address out of range...)."""


class Decoder(Protocol, Generic[FrameT]):
    """What a transport needs from any codec's decoder."""

    def receive_data(self, data: bytes) -> None:
        """Append bytes from the wire; never raises on bad input."""

    def events_received(self) -> Iterator[FrameT | DecodeError]:
        """Drain complete frames and errors found so far, in wire order."""
        ...


def gb2312_encode(text: str, *, encoding: str = "gb2312") -> bytes:
    """Encode display text for a device wire, naming the first character that cannot go."""
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        bad = text[exc.start : exc.end]
        raise EncodeError(f"{bad!r} cannot be encoded as {encoding}") from exc
