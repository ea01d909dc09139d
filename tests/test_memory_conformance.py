"""The memory store holds the store contract, sync and async."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from refreshkit import AsyncTokenStore, TokenStore
from refreshkit.backends.memory import AsyncMemoryStore, MemoryStore
from refreshkit.testing import (
    AsyncLostReplyStore,
    AsyncStoreConformance,
    LostReplyStore,
    StoreConformance,
)


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


class TestDisarmedLostReplyStore(StoreConformance):
    """Disarmed, the lost-reply wrapper is the store it wraps: the whole contract holds."""

    @pytest.fixture
    def store(self) -> Iterator[LostReplyStore]:
        store = LostReplyStore(MemoryStore(), lose=0)
        yield store
        store.close()


class TestDisarmedAsyncLostReplyStore(AsyncStoreConformance):
    @pytest.fixture
    def store(self) -> AsyncLostReplyStore:
        return AsyncLostReplyStore(AsyncMemoryStore(), lose=0)


def test_the_lost_reply_wrappers_are_stores() -> None:
    assert isinstance(LostReplyStore(MemoryStore()), TokenStore)
    assert isinstance(AsyncLostReplyStore(AsyncMemoryStore()), AsyncTokenStore)


_THIRD_PARTY_SUITE = """
import pytest

from refreshkit.backends.memory import AsyncMemoryStore
from refreshkit.testing import AsyncStoreConformance


class TestThirdPartyAsyncStore(AsyncStoreConformance):
    @pytest.fixture
    def store(self):
        return AsyncMemoryStore()
"""


def test_the_async_suite_needs_no_pytest_plugin_and_no_marker(tmp_path: Path) -> None:
    """A backend author with pytest alone (no pytest-asyncio, no config) runs the async suite."""
    (tmp_path / "test_third_party.py").write_text(_THIRD_PARTY_SUITE)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not refreshkit's configuration
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    environment.pop("PYTEST_ADDOPTS", None)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:asyncio",
            "-p",
            "no:anyio",
            "-p",
            "no:cacheprovider",
            "--strict-markers",
            "-W",
            "error",
            "-q",
            "test_third_party.py",
        ],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    collected = [name for name in dir(AsyncStoreConformance) if name.startswith("test_")]
    assert f"{len(collected)} passed" in run.stdout, run.stdout
    assert "warning" not in run.stdout.lower(), run.stdout
