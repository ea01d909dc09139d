"""The Django ORM store holds the store contract on SQLite and PostgreSQL, sync and async."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from refreshkit.adapters.django.store import AsyncDjangoStore, DjangoStore
from refreshkit.testing import AsyncStoreConformance, ProcessRaceConformance, StoreConformance

from .conftest import clear

pytestmark = pytest.mark.django


def _sync(alias: str) -> Iterator[DjangoStore]:
    store = DjangoStore(alias)
    try:
        yield store
    finally:
        store.close()
        clear(alias)


def _async(alias: str) -> Iterator[AsyncDjangoStore]:
    """The suite closes an async store itself, in the loop it ran the test in."""
    try:
        yield AsyncDjangoStore(alias)
    finally:
        clear(alias)


class TestDjangoSQLiteStore(StoreConformance):
    @pytest.fixture
    def store(self, sqlite_alias: str) -> Iterator[DjangoStore]:
        yield from _sync(sqlite_alias)


class TestAsyncDjangoSQLiteStore(AsyncStoreConformance):
    @pytest.fixture
    def store(self, sqlite_alias: str) -> Iterator[AsyncDjangoStore]:
        yield from _async(sqlite_alias)


@pytest.mark.postgres
class TestDjangoPostgresStore(StoreConformance):
    @pytest.fixture
    def store(self, postgres_alias: str) -> Iterator[DjangoStore]:
        yield from _sync(postgres_alias)


@pytest.mark.postgres
class TestAsyncDjangoPostgresStore(AsyncStoreConformance):
    @pytest.fixture
    def store(self, postgres_alias: str) -> Iterator[AsyncDjangoStore]:
        yield from _async(postgres_alias)


@pytest.mark.slow
class TestDjangoProcessRaces(ProcessRaceConformance):
    """Spawned processes open ``django://<alias>`` from the URL alone (DJANGO_SETTINGS_MODULE)."""

    @pytest.fixture
    def store_url(self, alias: str) -> str:
        return f"django://{alias}"
