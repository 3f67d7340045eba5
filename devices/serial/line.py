"""Line settings of a serial bus and how long bytes take on the wire (no I/O).

Every timeout on a bus is derived from here: a character is a start bit, the data bits, an
optional parity bit and the stop bits, so 8N1 is 10 bits and 8E1 or 8N2 is 11.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from controller.config.model import SerialBus


class Parity(enum.Enum):
    """pyserial's parity letters."""

    NONE = "N"
    EVEN = "E"
    ODD = "O"
    MARK = "M"
    SPACE = "S"


class LineSettingsError(ValueError):
    """Line settings no UART can use (checked again here: the port may not come from config)."""


@dataclass(frozen=True, slots=True)
class LineSettings:
    baudrate: int = 9600
    bytesize: int = 8
    parity: Parity = Parity.NONE
    stopbits: int = 1

    def __post_init__(self) -> None:
        if self.baudrate <= 0:
            raise LineSettingsError(f"baud rate {self.baudrate} must be positive")
        if not 5 <= self.bytesize <= 8:
            raise LineSettingsError(f"byte size {self.bytesize} outside 5..8")
        if self.stopbits not in (1, 2):
            raise LineSettingsError(f"stop bits {self.stopbits} must be 1 or 2")

    @classmethod
    def from_bus(cls, bus: SerialBus) -> LineSettings:
        try:
            parity = Parity(bus.parity)
        except ValueError:
            raise LineSettingsError(f"parity {bus.parity!r} is not one of N E O M S") from None
        return cls(bus.baudrate, bus.bytesize, parity, bus.stopbits)

    @property
    def bits_per_char(self) -> int:
        parity_bits = 0 if self.parity is Parity.NONE else 1
        return 1 + self.bytesize + parity_bits + self.stopbits

    @property
    def char_time(self) -> float:
        """Seconds one character occupies the line."""
        return self.bits_per_char / self.baudrate

    def wire_time(self, nbytes: int) -> float:
        """Seconds ``nbytes`` back to back occupy the line."""
        return nbytes * self.char_time
