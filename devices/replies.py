"""The answers to devices' recent requests, kept as long as a device may ask again.

A device re-sends a request whose reply did not come 3 s later, at most 5 times
(docs/protocol/mqtt.md 6.2): 15 s, stretched only by a reconnect. Answers are kept here
``KEEP_S`` = 60 s, at most ``PER_DEVICE`` = 64 per device (a staff member or citizen presses
far less than once a second), and only for configured devices. The bound is therefore
64 × devices replies (≤ 1 KB each: about 40 MB for 600 devices in the worst case, a few MB in
practice), whatever a device sends. An answer that changed the hall is also in the log
(``controller.core.answers``) for the protocol's 10 minutes, so one forgotten here early is found
there; forgetting a refusal means deciding it again, which is harmless (it changed nothing).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from firmware_protocols import mqtt_v1 as proto

KEEP_S: Final = 60.0
PER_DEVICE: Final = 64


class ReplyCache:
    """device -> rid -> (when answered, reply); ``evicted`` counts answers dropped early."""

    def __init__(self, keep_s: float = KEEP_S, per_device: int = PER_DEVICE) -> None:
        self.keep_s = keep_s
        self.per_device = per_device
        self.evicted = 0
        self._by_device: dict[str, OrderedDict[int, tuple[float, proto.Reply]]] = {}

    def __len__(self) -> int:
        return sum(len(answers) for answers in self._by_device.values())

    def get(self, device: str, rid: int, now: float) -> proto.Reply | None:
        answers = self._by_device.get(device)
        entry = answers.get(rid) if answers is not None else None
        if entry is None or now - entry[0] > self.keep_s:
            return None
        return entry[1]

    def put(self, device: str, rid: int, reply: proto.Reply, now: float) -> None:
        answers = self._by_device.get(device)
        if answers is None:
            answers = self._by_device[device] = OrderedDict()
        answers[rid] = (now, reply)
        answers.move_to_end(rid)
        self._expire(answers, now)
        while len(answers) > self.per_device:
            answers.popitem(last=False)
            self.evicted += 1

    def expire(self, now: float) -> None:
        """Forget answers older than ``keep_s`` (the hub calls this about once a second)."""
        for device, answers in list(self._by_device.items()):
            self._expire(answers, now)
            if not answers:
                del self._by_device[device]

    def _expire(self, answers: OrderedDict[int, tuple[float, proto.Reply]], now: float) -> None:
        horizon = now - self.keep_s
        while answers and next(iter(answers.values()))[0] < horizon:
            answers.popitem(last=False)
