"""The SQL store holds the store contract on every dialect and driver, sync and async."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from refreshkit.backends.sql import AsyncSQLStore, SQLStore
from refreshkit.testing import AsyncStoreConformance, StoreConformance

from .conftest import MARIADB_ASYNC_URL, POSTGRES_ASYNCPG_URL, Database


def _sync_store(url: str | sa.Engine, database: Database) -> Iterator[SQLStore]:
    store = SQLStore(url, table_prefix=database.prefix)
    try:
        yield store
    finally:
        store.close()
        database.clear()


def _async_store(url: str, database: Database) -> Iterator[AsyncSQLStore]:
    """The suite closes an async store itself, in the event loop it ran the test in."""
    try:
        yield AsyncSQLStore(url, table_prefix=database.prefix)
    finally:
        database.clear()


# ---------------------------------------------------------------- SQLite


@pytest.mark.sqlite
class TestSQLiteFileStore(StoreConformance):
    @pytest.fixture
    def store(self, sqlite_file_db: Database) -> Iterator[SQLStore]:
        yield from _sync_store(sqlite_file_db.url, sqlite_file_db)


@pytest.mark.sqlite
class TestAsyncSQLiteFileStore(AsyncStoreConformance):
    @pytest.fixture
    def store(self, sqlite_file_db: Database) -> Iterator[AsyncSQLStore]:
        url = sqlite_file_db.url.replace("sqlite://", "sqlite+aiosqlite://", 1)
        yield from _async_store(url, sqlite_file_db)


@pytest.mark.sqlite
class TestSQLiteAutocommitDriverStore(StoreConformance):
    """A shared engine whose driver autocommits: the store opens its transactions itself."""

    @pytest.fixture
    def store(self, sqlite_file_db: Database) -> Iterator[SQLStore]:
        engine = sa.create_engine(sqlite_file_db.url, isolation_level="AUTOCOMMIT")
        try:
            yield from _sync_store(engine, sqlite_file_db)
        finally:
            engine.dispose()


@pytest.mark.sqlite
class TestSQLiteMemoryStore(StoreConformance):
    @pytest.fixture
    def store(self) -> Iterator[SQLStore]:
        store = SQLStore("sqlite://", create_tables=True)
        yield store
        store.close()


@pytest.mark.sqlite
class TestAsyncSQLiteMemoryStore(AsyncStoreConformance):
    @pytest.fixture
    def store(self) -> AsyncSQLStore:
        return AsyncSQLStore("sqlite+aiosqlite://", create_tables=True)


# ------------------------------------------------------------ PostgreSQL


@pytest.mark.postgres
class TestPostgresPsycopgStore(StoreConformance):
    @pytest.fixture
    def store(self, postgres_db: Database) -> Iterator[SQLStore]:
        yield from _sync_store(postgres_db.url, postgres_db)


@pytest.mark.postgres
class TestAsyncPostgresPsycopgStore(AsyncStoreConformance):
    @pytest.fixture
    def store(self, postgres_db: Database) -> Iterator[AsyncSQLStore]:
        yield from _async_store(postgres_db.url, postgres_db)


@pytest.mark.postgres
class TestAsyncPostgresAsyncpgStore(AsyncStoreConformance):
    @pytest.fixture
    def store(self, postgres_db: Database) -> Iterator[AsyncSQLStore]:
        yield from _async_store(POSTGRES_ASYNCPG_URL, postgres_db)


# --------------------------------------------------------------- MariaDB


@pytest.mark.mariadb
class TestMariaDBPyMySQLStore(StoreConformance):
    @pytest.fixture
    def store(self, mariadb_db: Database) -> Iterator[SQLStore]:
        yield from _sync_store(mariadb_db.url, mariadb_db)


@pytest.mark.mariadb
class TestAsyncMariaDBAiomysqlStore(AsyncStoreConformance):
    @pytest.fixture
    def store(self, mariadb_db: Database) -> Iterator[AsyncSQLStore]:
        yield from _async_store(MARIADB_ASYNC_URL, mariadb_db)
