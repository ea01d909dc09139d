"""Fixtures of the client tests: loopback servers on a frozen clock.

The servers need FastAPI and uvicorn, imported only by the tests that use
them (marked ``fastapi``); the unit tests need nothing but httpx.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from refreshkit import KeySet

if TYPE_CHECKING:
    from .servers import Server


@pytest.fixture(scope="session")
def keys() -> KeySet:
    return KeySet.generate("EdDSA")


@pytest.fixture
def example(tmp_path: Path, keys: KeySet) -> Iterator[Server]:
    """The shipped FastAPI example on loopback, its clock frozen."""
    pytest.importorskip("uvicorn")
    from .servers import example_server

    with example_server(tmp_path / "example.db", keys) as server:
        yield server


@pytest.fixture
def flaky(keys: KeySet) -> Iterator[Server]:
    """An adapter app on loopback whose token store fails while ``flaky.outage.active``."""
    pytest.importorskip("uvicorn")
    from .servers import outage_server

    with outage_server(keys) as server:
        yield server
