"""create_store / create_async_store: URLs pick backends; third parties plug in."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any

import pytest

from refreshkit import ConfigurationError, create_async_store, create_store
from refreshkit import backends as registry
from refreshkit.backends.memory import AsyncMemoryStore, MemoryState, MemoryStore


def test_memory_urls_build_independent_stores_unless_they_share_state() -> None:
    first, second = create_store("memory://"), create_store("memory://")
    assert isinstance(first, MemoryStore) and first.state is not second.state
    state = MemoryState()
    shared_sync = create_store("memory://", state=state)
    shared_async = create_async_store("memory://", state=state)
    assert isinstance(shared_async, AsyncMemoryStore)
    assert shared_sync.state is shared_async.state is state


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("nonsense", "store URL looks like"),
        ("ftp://host/x", "no token store for ftp://"),
        ("memory://somewhere", "takes no host"),
    ],
)
def test_bad_urls_are_configuration_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        create_store(url)


def test_unknown_memory_options_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="colour"):
        create_store("memory://", colour="blue")


class _Factory:
    """A third-party backend: here it hands out memory stores, counting calls."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def create_store(self, url: str, **options: Any) -> MemoryStore:
        self.urls.append(url)
        return MemoryStore()

    def create_async_store(self, url: str, **options: Any) -> AsyncMemoryStore:
        self.urls.append(url)
        return AsyncMemoryStore()


def test_registered_backends_are_chosen_by_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    factory = _Factory()
    monkeypatch.setattr(registry, "_registered", {})
    registry.register_backend("dynamo", factory)
    assert isinstance(create_store("dynamo://table"), MemoryStore)
    assert isinstance(create_async_store("dynamo+fast://table"), AsyncMemoryStore)
    assert factory.urls == ["dynamo://table", "dynamo+fast://table"]


def test_entry_points_in_the_refreshkit_backends_group_are_found(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    factory = _Factory()
    monkeypatch.setattr(registry, "_registered", {})
    entry = EntryPoint(
        "cosmos", "tests.test_backends_registry:ENTRY_FACTORY", registry.ENTRY_POINT_GROUP
    )
    monkeypatch.setitem(globals(), "ENTRY_FACTORY", factory)
    monkeypatch.setattr(
        registry,
        "entry_points",
        lambda group: [entry] if group == registry.ENTRY_POINT_GROUP else [],
    )
    assert isinstance(create_store("cosmos://db"), MemoryStore)
    assert factory.urls == ["cosmos://db"]


def test_a_missing_extra_is_both_a_configuration_and_an_import_error() -> None:
    from refreshkit import MissingExtraError

    error = MissingExtraError(
        "refreshkit.backends.redis needs redis: pip install 'refreshkit[redis]'"
    )
    assert isinstance(error, ConfigurationError) and isinstance(error, ImportError)
    assert "pip install" in str(error)
