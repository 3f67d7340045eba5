"""One adapter per provincial 好差评 platform (and the escalation webhook).

An adapter is pure: it chooses which records it sends, turns a record into one HTTP request
(field names, code direction, time format, encoding are the province's), and reads the answer
as delivered, retry later, or rejected. The outbox (``controller.haochaping.outbox``) does the
I/O, the retries and the bookkeeping. To add a province, see docs/haochaping.md.
"""

from __future__ import annotations

from collections.abc import Callable

from controller.config.model import HallConfig
from controller.haochaping.adapters.base import Adapter
from controller.haochaping.adapters.json_v1 import JsonV1Adapter
from controller.haochaping.adapters.webhook import EscalationWebhook

ADAPTERS: dict[str, Callable[[HallConfig], Adapter]] = {
    "json_v1": JsonV1Adapter.from_config,
}
"""Reporting adapters by the name ``[reporting] adapter`` gives."""

__all__ = ["ADAPTERS", "Adapter", "EscalationWebhook", "JsonV1Adapter"]
