from __future__ import annotations

import pytest

from controller.store.memory import MemoryStore


def test_memory_store_declares_itself_not_durable() -> None:
    assert MemoryStore().durable is False


def test_bad_chunk_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="read_chunk"):
        MemoryStore(read_chunk=0)


async def test_stores_are_independent() -> None:
    first, second = MemoryStore(), MemoryStore()
    await first.append("h1", [b"a"])
    assert await second.last_seq("h1") == 0
