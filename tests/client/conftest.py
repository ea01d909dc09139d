"""Fixtures of the client tests: loopback servers and their clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from refreshkit import KeySet

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from .servers import Server, example_server, outage_server


@pytest.fixture(scope="session")
def keys() -> KeySet:
    return KeySet.generate("EdDSA")


@pytest.fixture
def example(tmp_path: Path, keys: KeySet) -> Iterator[Server]:
    """The shipped FastAPI example on loopback, its clock frozen."""
    with example_server(tmp_path / "example.db", keys) as server:
        yield server


@pytest.fixture
def flaky(keys: KeySet) -> Iterator[Server]:
    """An adapter app on loopback whose token store fails while ``flaky.outage.active``."""
    with outage_server(keys) as server:
        yield server
