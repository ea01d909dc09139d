"""Shared fixtures of the adapter tests: a frozen clock and a store that fails on demand."""

from __future__ import annotations

import pytest

from refreshkit import FrozenClock, KeySet
from refreshkit.backends.memory._state import MemoryState

from .support import Gate, Outage


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def outage() -> Outage:
    return Outage()


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def state() -> MemoryState:
    return MemoryState()


@pytest.fixture(scope="session")
def keys() -> KeySet:
    return KeySet.generate("EdDSA")
