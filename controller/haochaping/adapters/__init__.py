"""One adapter per provincial 好差评 platform (and the 12345 hotline, the escalation webhook).

An adapter is pure: it chooses which records it sends, turns records into HTTP requests (field
names, code direction, time format, encoding, signing are the platform's), and reads the answer
as delivered, retry later, or rejected. The outbox (``controller.haochaping.outbox``) does the
I/O, the retries and the bookkeeping. To add a province, see docs/haochaping.md.
"""

from __future__ import annotations

from collections.abc import Callable

from controller.haochaping.adapters.b64_query import B64QueryAdapter
from controller.haochaping.adapters.base import Adapter, Destination, MissingCredentials
from controller.haochaping.adapters.hotline import HotlineAdapter
from controller.haochaping.adapters.json_v1 import JsonV1Adapter
from controller.haochaping.adapters.webhook import EscalationWebhook
from controller.haochaping.adapters.zwfw_batch import ZwfwBatchAdapter

ADAPTERS: dict[str, Callable[[Destination], Adapter]] = {
    "json_v1": JsonV1Adapter.from_destination,
    "zwfw_batch": ZwfwBatchAdapter.from_destination,
    "b64_query": B64QueryAdapter.from_destination,
    "hotline_12345": HotlineAdapter.from_destination,
}
"""Reporting adapters by the name ``[[reporting]] adapter`` gives."""

__all__ = [
    "ADAPTERS",
    "Adapter",
    "B64QueryAdapter",
    "Destination",
    "EscalationWebhook",
    "HotlineAdapter",
    "JsonV1Adapter",
    "MissingCredentials",
    "ZwfwBatchAdapter",
]
