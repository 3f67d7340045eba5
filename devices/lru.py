"""A dict with a size bound that forgets its least recently used entries, and counts them.

For everything keyed by what the network sends (topics, device ids, request ids): a hall has a
few thousand of each, a hostile client can make millions, and memory must not follow.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    """At most ``limit`` entries; ``evicted`` counts those dropped to stay within it."""

    __slots__ = ("_items", "evicted", "limit")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("an LRU needs room for at least one entry")
        self.limit = limit
        self.evicted = 0
        self._items: OrderedDict[K, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        items = self._items
        items[key] = value
        items.move_to_end(key)
        if len(items) > self.limit:
            items.popitem(last=False)
            self.evicted += 1

    def pop(self, key: K) -> V | None:
        return self._items.pop(key, None)

    def oldest(self) -> tuple[K, V] | None:
        return next(iter(self._items.items()), None)

    def pop_oldest(self) -> None:
        self._items.popitem(last=False)
