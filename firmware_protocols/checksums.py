"""Checksums seen on hall-device wires, and a value type that says where one goes.

Vendors of the same kind of device differ mostly in the checksum (an 8-bit sum, an 8-bit XOR,
a CRC-16), so a protocol definition holds a ``Checksum`` value instead of code: supporting a
new vendor is a new value. CRC-16/MODBUS lives with the Modbus codec, not here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal


def sum8(data: bytes | bytearray | memoryview) -> int:
    """Arithmetic sum of all bytes, mod 256 (DL/T645 style)."""
    return sum(data) & 0xFF


def xor8(data: bytes | bytearray | memoryview) -> int:
    """XOR of all bytes (the "BCC" of many Chinese LED controllers)."""
    result = 0
    for byte in data:
        result ^= byte
    return result


def _ccitt_table() -> tuple[int, ...]:
    table = []
    for high in range(256):
        crc = high << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_CCITT_TABLE = _ccitt_table()


def crc16_ccitt(data: bytes | bytearray | memoryview, initial: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (a.k.a. CRC-16/IBM-3740): poly 0x1021, init 0xFFFF, not reflected.

    Check value: ``crc16_ccitt(b"123456789") == 0x29B1``. "CCITT" is used for several CRCs;
    this is the non-reflected one most LED controller manuals mean.
    """
    crc = initial
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CCITT_TABLE[((crc >> 8) ^ byte) & 0xFF]
    return crc


@dataclass(frozen=True, slots=True)
class Checksum:
    """An algorithm plus how its value is laid out on the wire (width and byte order)."""

    name: str
    width: int
    compute: Callable[[bytes | bytearray | memoryview], int]
    byteorder: Literal["big", "little"] = "big"

    def digest(self, data: bytes | bytearray | memoryview) -> bytes:
        """The checksum bytes exactly as they are sent."""
        return self.compute(data).to_bytes(self.width, self.byteorder)


SUM8 = Checksum("sum8", 1, sum8)
XOR8 = Checksum("xor8", 1, xor8)
CRC16_CCITT = Checksum("crc16_ccitt", 2, crc16_ccitt, "big")
