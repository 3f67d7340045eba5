"""LED window strips and hall screens (firmware_protocols.led_strip): a write-only display.

The protocol has no poll. Its optional acknowledgement (``StripAck``, docs/protocol/led-strip.md)
is how we know a display is alive: with ``acknowledged=True`` every text frame waits for the
ack, and every ``refresh_every`` poll turns the display's current text is sent again, which
is harmless (the display shows the same text) and proves it is still there. Without
acknowledgements a display is never polled, text frames expect no reply, and its availability
stays UNKNOWN: the master cannot tell a dead display from a quiet one.
"""

from __future__ import annotations

from collections.abc import Iterable

from devices.serial.adapter import Exchange, ProtocolAdapter, UnsupportedCommandError
from firmware_protocols import led_strip as led
from firmware_protocols.base import DecodeError

DEFAULT_REFRESH_EVERY = 10


class LedStripAdapter(ProtocolAdapter):
    protocol = "led_strip"

    def __init__(
        self,
        address: int,
        target: led.LedTarget,
        *,
        acknowledged: bool = True,
        refresh_every: int = DEFAULT_REFRESH_EVERY,
    ) -> None:
        super().__init__(address)
        if refresh_every < 0:
            raise ValueError("refresh_every must be >= 0 (0: never)")
        self.target = target
        self.acknowledged = acknowledged
        self._refresh_every = refresh_every
        self._turns = 0
        self._shown: led.ShowText | None = None
        self._decoder = led.LedStripDecoder(target.protocol)
        self._max_reply = led.encode(led.StripAck(address, led.AckStatus.SHOWN), target.protocol)

    def poll(self) -> Exchange | None:
        if not self.acknowledged or not self._refresh_every or self._shown is None:
            return None
        self._turns += 1
        if self._turns < self._refresh_every:
            return None
        self._turns = 0
        return self._exchange(self._shown)

    def command(self, message: object) -> Exchange:
        if not isinstance(message, led.ShowText) or message.address != self.address:
            raise UnsupportedCommandError(f"LED {self.address} takes ShowText, not {message!r}")
        exchange = self._exchange(message)
        self._shown = message
        self._turns = 0
        return exchange

    def _exchange(self, message: led.ShowText) -> Exchange:
        frame = led.encode(message, self.target.protocol)
        return Exchange(frame, self.acknowledged, len(self._max_reply), message)

    def begin_reply(self, exchange: Exchange) -> None:
        self._decoder.receive_gap()
        list(self._decoder.events_received())

    def receive(self, data: bytes) -> Iterable[led.LedFrame | DecodeError]:
        self._decoder.receive_data(data)
        return list(self._decoder.events_received())

    def end_reply(self) -> Iterable[led.LedFrame | DecodeError]:
        self._decoder.receive_gap()
        return list(self._decoder.events_received())

    def is_reply(self, exchange: Exchange, item: object) -> bool:
        return isinstance(item, led.StripAck) and item.address == self.address

    def reportable(self, item: object, exchange: Exchange | None) -> object | None:
        # A rejected text is news for the driver; a plain "shown" is not.
        if isinstance(item, led.StripAck) and item.status is led.AckStatus.REJECTED:
            return item
        return None
