"""Checks every start-byte framed decoder must pass; used by the per-protocol test files."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from firmware_protocols.base import DecodeError
from firmware_protocols.framing import FrameScanner

FRAMES_DIR = Path(__file__).parent / "frames"
DOCS_DIR = Path(__file__).parents[2] / "docs" / "protocol"


def load_frames(name: str) -> dict[str, bytes]:
    """``frames/<name>.txt``: ``label: HEX BYTES`` per line, ``#`` starts a comment."""
    frames: dict[str, bytes] = {}
    for line in (FRAMES_DIR / name).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            label, hex_text = line.split(":", 1)
            frames[label.strip()] = bytes.fromhex(hex_text)
    return frames


def doc_hex_blocks(name: str) -> list[bytes]:
    """Every fenced ```hex block of a protocol doc: each must be exactly one valid frame."""
    blocks, current = [], None
    for line in (DOCS_DIR / name).read_text(encoding="utf-8").splitlines():
        if current is None and line.strip() == "```hex":
            current = []
        elif current is not None and line.strip() == "```":
            blocks.append(bytes.fromhex(" ".join(current)))
            current = None
        elif current is not None:
            current.append(line.strip())
    return blocks


def decode(decoder: FrameScanner[Any], chunks: Iterable[bytes], gap: bool = True) -> list[Any]:
    events: list[Any] = []
    for chunk in chunks:
        decoder.receive_data(chunk)
        events.extend(decoder.events_received())
    if gap:
        decoder.receive_gap()
        events.extend(decoder.events_received())
    return events


def frames_of(events: list[Any]) -> list[Any]:
    return [e for e in events if not isinstance(e, DecodeError)]


def errors_of(events: list[Any]) -> list[DecodeError]:
    return [e for e in events if isinstance(e, DecodeError)]


def check_any_bytes(
    make: Callable[[], FrameScanner[Any]], data: bytes, frame_types: tuple[type, ...]
) -> None:
    """Arbitrary input yields only typed frames or DecodeErrors, stays bounded, and the
    discarded bytes are never reported twice."""
    decoder = make()
    events: list[Any] = []
    for start in range(0, len(data), 7):
        decoder.receive_data(data[start : start + 7])
        assert decoder.pending_bytes < decoder._max_frame
        events.extend(decoder.events_received())
    decoder.receive_gap()
    events.extend(decoder.events_received())
    assert decoder.pending_bytes == 0
    for event in events:
        assert isinstance(event, (DecodeError, *frame_types)), event
    errors = errors_of(events)
    assert all(0 < len(e.data) <= 256 for e in errors)
    assert sum(len(e.data) for e in errors) <= len(data)


def check_split_invariance(make: Callable[[], FrameScanner[Any]], stream: bytes) -> None:
    """Whole, byte by byte, and cut at every position: the same events."""
    whole = decode(make(), [stream])
    assert decode(make(), [stream[i : i + 1] for i in range(len(stream))]) == whole
    for cut in range(len(stream) + 1):
        assert decode(make(), [stream[:cut], stream[cut:]]) == whole, cut
