"""What the bus master needs from a wire protocol, and what drivers get back.

Theory of operation: the bus master knows nothing of any protocol. For each device it holds a
``ProtocolAdapter`` that turns the device's codec (firmware_protocols) into *exchanges*: bytes
to send, whether a reply is due and how long the longest reply is (which sets the timeout).
While a reply is due the master feeds every received byte to that adapter, which decodes it
and says which item (if any) is the reply. After a good reply the adapter may ask for a
follow-up exchange (the keypad bus echoes a key press as its acknowledgement; the native
protocol acknowledges an event in its next frame). What a device reported reaches the driver
through a ``BusListener``; the adapter decides which items those are (``reportable``), e.g.
key presses but not IDLE, and drops repeated events where the protocol can tell.

A device that is never polled (a write-only LED strip without acknowledgements, a QSystem
board) returns ``None`` from ``poll``; its availability stays ``UNKNOWN``. Devices that talk
unasked (QSystem button boxes) have an ``unsolicited_decoder``: the master feeds it the bytes
that arrive while no reply is due.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from devices.serial.line import LineSettings
from firmware_protocols.base import DecodeError, Decoder


class Availability(enum.Enum):
    UNKNOWN = "unknown"  # not polled, or not polled yet
    ONLINE = "online"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Exchange:
    """One frame for the wire. ``max_reply_bytes`` bounds the reply; 0 when none is due."""

    frame: bytes
    expects_reply: bool
    max_reply_bytes: int = 0
    request: object = None  # the message encoded in ``frame`` (for the adapter's matching)

    def __post_init__(self) -> None:
        if not self.frame:
            raise ValueError("an exchange needs bytes to send")
        if self.expects_reply and self.max_reply_bytes <= 0:
            raise ValueError("an exchange that expects a reply needs max_reply_bytes > 0")


class UnsupportedCommandError(TypeError):
    """A driver asked an adapter to send a message its protocol does not have."""


class ProtocolAdapter(abc.ABC):
    """One device's protocol as the bus master sees it (one instance per device)."""

    protocol: str = ""  # the registry name, for logs and statistics

    def __init__(self, address: int) -> None:
        self.address = address

    # -- what to send --------------------------------------------------------------------

    @abc.abstractmethod
    def poll(self) -> Exchange | None:
        """The exchange for this device's turn in the poll cycle, or None to skip it."""

    @abc.abstractmethod
    def command(self, message: object) -> Exchange:
        """Encode a driver's message; ``UnsupportedCommandError`` or ``EncodeError`` if not."""

    def follow_up(self, exchange: Exchange, reply: object) -> Exchange | None:
        """After a good reply: an exchange to run at once (an acknowledgement), or None."""
        return None

    def gap_before_send(self, line: LineSettings) -> float:
        """Silence the protocol needs on the line before a request (Modbus: t3.5)."""
        return 0.0

    # -- what comes back -----------------------------------------------------------------

    def begin_reply(self, exchange: Exchange) -> None:  # noqa: B027 - optional hook
        """A reply to ``exchange`` is due from now on (reset or arm the decoder)."""

    @abc.abstractmethod
    def receive(self, data: bytes) -> Iterable[object | DecodeError]:
        """Feed bytes; return the frames and errors they completed, in wire order."""

    @abc.abstractmethod
    def is_reply(self, exchange: Exchange, item: object) -> bool:
        """Whether ``item`` (a decoded frame) is this device's reply to ``exchange``."""

    def end_reply(self) -> Iterable[object | DecodeError]:
        """The window closed (reply or not): flush what the decoder holds (a partial frame is
        TRUNCATED, stray bytes GARBAGE) and disarm."""
        return ()

    def reportable(self, item: object, exchange: Exchange | None) -> object | None:
        """What the driver should see of a reply to ``exchange`` (None: unsolicited), or None
        for nothing (IDLE, a plain ack, a repeated event)."""
        return item

    def unsolicited_decoder(self) -> Decoder[Any] | None:
        """For devices that talk unasked: a decoder for bytes heard while no reply is due."""
        return None

    def frame_address(self, item: object) -> int | None:
        """The device address a decoded frame carries (None if the protocol has none)."""
        address = getattr(item, "address", None)
        return address if isinstance(address, int) else None


@dataclass(frozen=True, slots=True)
class DeviceReport:
    """Something a device said, for its driver."""

    bus: str
    address: int
    item: object


@dataclass(frozen=True, slots=True)
class AvailabilityChange:
    bus: str
    address: int
    availability: Availability
    previous: Availability


class BusListener(Protocol):
    """Implemented by device drivers. Called on the bus task: return quickly, never block."""

    def device_report(self, report: DeviceReport) -> None: ...

    def availability_changed(self, change: AvailabilityChange) -> None: ...
