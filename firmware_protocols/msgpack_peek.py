"""Read one integer key of a MessagePack map without decoding the rest, and without recursion.

Why: a payload the real decoder refuses (truncated after its ``rid``, or nested deeper than the
decoder's recursion limit in a later field) may still name the request it belongs to; the
answer ``reply{rid}`` lets the device stop re-sending. The walk is iterative (a count of items
still to skip), so a 4 KB payload of nested arrays costs a loop, not a stack, and any byte it
cannot follow ends it with ``None``. Only used on the error path.
"""

from __future__ import annotations

import struct
from typing import Final

# Lead byte -> (bytes of length field, fixed extra bytes) for the variable-size kinds.
_FIXED: Final[dict[int, int]] = {
    0xC0: 0, 0xC2: 0, 0xC3: 0,  # nil, false, true
    0xCA: 4, 0xCB: 8,  # float32, float64
    0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8,  # uint8..64
    0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8,  # int8..64
    0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17,  # fixext (type byte + data)
}  # fmt: skip
_SIZED: Final[dict[int, tuple[int, int]]] = {
    0xC4: (1, 0), 0xC5: (2, 0), 0xC6: (4, 0),  # bin
    0xC7: (1, 1), 0xC8: (2, 1), 0xC9: (4, 1),  # ext (length, then a type byte)
    0xD9: (1, 0), 0xDA: (2, 0), 0xDB: (4, 0),  # str
}  # fmt: skip
_CONTAINERS: Final[dict[int, tuple[int, int]]] = {
    0xDC: (2, 1), 0xDD: (4, 1),  # array16/32: count items
    0xDE: (2, 2), 0xDF: (4, 2),  # map16/32: count pairs
}  # fmt: skip
_INTS: Final[dict[int, str]] = {
    0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q",
    0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q",
}  # fmt: skip


class _End(Exception):
    """The bytes end or hold something this walk does not follow."""


def _uint(data: bytes, at: int, size: int) -> int:
    if at + size > len(data):
        raise _End
    return int.from_bytes(data[at : at + size], "big")


def _header(data: bytes, at: int) -> tuple[int, int]:
    """The item at ``at``: (offset just past it, unless a container: past its header; the
    number of child items it contains)."""
    if at >= len(data):
        raise _End
    lead = data[at]
    if lead <= 0x7F or lead >= 0xE0:
        return at + 1, 0
    if lead <= 0x8F:
        return at + 1, 2 * (lead & 0x0F)
    if lead <= 0x9F:
        return at + 1, lead & 0x0F
    if lead <= 0xBF:
        return at + 1 + (lead & 0x1F), 0
    if lead in _FIXED:
        return at + 1 + _FIXED[lead], 0
    if lead in _SIZED:
        size, extra = _SIZED[lead]
        return at + 1 + size + extra + _uint(data, at + 1, size), 0
    if lead in _CONTAINERS:
        size, per = _CONTAINERS[lead]
        return at + 1 + size, per * _uint(data, at + 1, size)
    raise _End  # 0xC1, never used


def _skip(data: bytes, at: int) -> int:
    """Offset past one whole item, however deeply nested."""
    pending = 1
    while pending:
        at, children = _header(data, at)
        pending += children - 1
    if at > len(data):
        raise _End
    return at


def _str(data: bytes, at: int) -> tuple[str | None, int]:
    lead = data[at] if at < len(data) else -1
    if 0xA0 <= lead <= 0xBF:
        start, size = at + 1, lead & 0x1F
    elif lead in (0xD9, 0xDA, 0xDB):
        width = _SIZED[lead][0]
        start, size = at + 1 + width, _uint(data, at + 1, width)
    else:
        return None, _skip(data, at)
    if start + size > len(data):
        raise _End
    try:
        return data[start : start + size].decode("utf-8"), start + size
    except UnicodeDecodeError:
        return None, start + size


def _int(data: bytes, at: int) -> int | None:
    lead = data[at]
    if lead <= 0x7F:
        return lead
    if lead >= 0xE0:
        return lead - 0x100
    fmt = _INTS.get(lead)
    if fmt is None:
        return None
    size = struct.calcsize(fmt)
    if at + 1 + size > len(data):
        raise _End
    value: int = struct.unpack_from(fmt, data, at + 1)[0]
    return value


def peek_int(data: bytes, key: str) -> int | None:
    """The integer value of ``key`` in the top-level map of ``data``, if it can be read before
    anything unreadable; ``None`` otherwise (not a map, key absent or not an integer)."""
    try:
        if not data:
            return None
        at, children = _header(data, 0)
        lead = data[0]
        if not (0x80 <= lead <= 0x8F or lead in (0xDE, 0xDF)):
            return None
        for _ in range(children // 2):
            name, at = _str(data, at)
            if name == key:
                return _int(data, at) if at < len(data) else None
            at = _skip(data, at)
    except _End:
        return None
    return None
