"""The example third-party backend of docs/custom-backend.rst passes the shipped suite.

The very suite every built-in store runs, processes included: what the page
promises a backend author is what this proves on its example.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from refreshkit import ConfigurationError, create_async_store, create_store
from refreshkit.backends import register_backend
from refreshkit.testing import ProcessRaceConformance, StoreConformance

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from examples.custom_backend.kvstore import KVBackend, KVStore  # noqa: E402

register_backend("kv", KVBackend())


class TestExampleBackend(StoreConformance, ProcessRaceConformance):
    store_factory = "examples.custom_backend.kvstore:open_store"

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[KVStore]:
        store = create_store(f"kv://{tmp_path / 'sessions.db'}")
        assert isinstance(store, KVStore)
        yield store
        store.close()

    @pytest.fixture
    def store_url(self, tmp_path: Path) -> str:
        return f"kv://{tmp_path / 'shared.db'}"


def test_the_example_backend_says_it_is_sync_only() -> None:
    with pytest.raises(ConfigurationError, match="sync only"):
        create_async_store("kv:///tmp/nowhere.db")
