"""create_store / create_async_store: URLs pick backends; third parties plug in."""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint
from typing import Any

import pytest

from refreshkit import ConfigurationError, MissingExtraError, create_async_store, create_store
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


def _block_module(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    """Make ``import module`` fail as if it were not installed, and forget the backends that
    already imported it (monkeypatch puts everything back afterwards)."""
    monkeypatch.setitem(sys.modules, module, None)
    for name in list(sys.modules):
        if name.startswith(("refreshkit.backends.sql", "refreshkit.backends.redis")):
            monkeypatch.delitem(sys.modules, name)


_SYNC, _ASYNC = create_store, create_async_store


@pytest.mark.parametrize(
    ("factory", "url", "module", "extra"),
    [
        (_SYNC, "sqlite:///app.db", "sqlalchemy", "sql"),
        (_ASYNC, "sqlite+aiosqlite:///app.db", "sqlalchemy", "sql"),
        (_SYNC, "postgresql+psycopg://u@h/db", "sqlalchemy", "postgres"),
        (_ASYNC, "mysql+aiomysql://u@h/db", "sqlalchemy", "mysql"),
        (_SYNC, "sqlite:///app.db", "alembic", "sql"),
        (_ASYNC, "sqlite+aiosqlite:///app.db", "aiosqlite", "sql"),
        (_SYNC, "postgresql+psycopg://u@h/db", "psycopg", "postgres"),
        (_ASYNC, "postgresql+psycopg://u@h/db", "psycopg", "postgres"),
        (_ASYNC, "postgresql+asyncpg://u@h/db", "asyncpg", "postgres"),
        (_SYNC, "mysql+pymysql://u@h/db", "pymysql", "mysql"),
        (_ASYNC, "mysql+aiomysql://u@h/db", "aiomysql", "mysql"),
        (_SYNC, "redis://127.0.0.1:6379/0", "redis", "redis"),
        (_ASYNC, "redis://127.0.0.1:6379/0", "redis", "redis"),
        (_ASYNC, "redis+cluster://127.0.0.1:7000", "redis", "redis"),
    ],
    ids=lambda value: value.__name__ if callable(value) else None,
)
def test_a_missing_extra_names_the_missing_module_and_the_pip_install(
    monkeypatch: pytest.MonkeyPatch, factory: Any, url: str, module: str, extra: str
) -> None:
    _block_module(monkeypatch, module)
    with pytest.raises(MissingExtraError) as caught:
        factory(url)
    message = str(caught.value)
    assert "None" not in message
    assert module in message
    assert f"pip install 'refreshkit[{extra}]'" in message


@pytest.mark.parametrize("query", ["prefix=app", "history=4", "colour=blue"])
def test_the_memory_store_takes_no_url_options(query: str) -> None:
    with pytest.raises(ConfigurationError, match="memory store"):
        create_store(f"memory://?{query}")
    with pytest.raises(ConfigurationError, match="memory store"):
        create_async_store(f"memory://?{query}")
