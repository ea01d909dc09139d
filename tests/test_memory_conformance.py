"""The memory store holds the store contract, sync and async."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from refreshkit.backends.memory import AsyncMemoryStore, MemoryStore
from refreshkit.testing import AsyncStoreConformance, StoreConformance


class TestAsyncMemoryStore(AsyncStoreConformance):
    @pytest.fixture
    def store(self) -> AsyncMemoryStore:
        return AsyncMemoryStore()


class TestMemoryStore(StoreConformance):
    @pytest.fixture
    def store(self) -> Iterator[MemoryStore]:
        store = MemoryStore()
        yield store
        store.close()
