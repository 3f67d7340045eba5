from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from controller.store.memory import MemoryStore
from tests.controller.store.contract import CHUNK, StoreContract


class TestMemoryStoreContract(StoreContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[MemoryStore]:
        store = MemoryStore(read_chunk=CHUNK)
        yield store
        await store.close()


def test_memory_store_declares_itself_not_durable() -> None:
    assert MemoryStore().durable is False


def test_bad_chunk_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="read_chunk"):
        MemoryStore(read_chunk=0)


async def test_stores_are_independent() -> None:
    first, second = MemoryStore(), MemoryStore()
    await first.append("h1", [b"a"])
    assert await second.last_seq("h1") == 0
