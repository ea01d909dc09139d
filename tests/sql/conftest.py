"""Fixtures for the SQL backend: one unique table prefix per test module and database.

Tables are created once per module and database (through a sync engine, so
no event loop owns them) and dropped at the end; rows are cleared between
tests. Concurrent runs (tox envs in parallel) never share a prefix.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from refreshkit.backends.sql import SQLStore, build_tables
from tests.services import (
    MARIADB_HOST,
    MARIADB_PORT,
    MARIADB_SYNC_URL,
    POSTGRES_HOST,
    POSTGRES_PORT,
    POSTGRES_SYNC_URL,
    require_port,
)

#: Async twins of the service URLs, per driver.
POSTGRES_ASYNCPG_URL = POSTGRES_SYNC_URL.replace("+psycopg", "+asyncpg", 1)
MARIADB_ASYNC_URL = MARIADB_SYNC_URL.replace("+pymysql", "+aiomysql", 1)


def unique_prefix() -> str:
    """A table prefix no other run uses."""
    return f"rkt_{uuid.uuid4().hex[:10]}_"


def require_postgres() -> None:
    """Skip (or fail in CI) unless PostgreSQL is listening."""
    require_port("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)


def require_mariadb() -> None:
    """Skip (or fail in CI) unless MariaDB is listening."""
    require_port("MariaDB", MARIADB_HOST, MARIADB_PORT)


@dataclass(frozen=True)
class Database:
    """A database with this run's tables in it."""

    url: str
    prefix: str

    def clear(self) -> None:
        """Delete every row of this run's tables."""
        engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        try:
            with engine.begin() as connection:
                for table in build_tables(self.prefix).all:
                    connection.execute(sa.delete(table))
        finally:
            engine.dispose()


def prepared(url: str) -> Iterator[Database]:
    """Create this run's tables at ``url``, yield, and drop them."""
    prefix = unique_prefix()
    store = SQLStore(url, table_prefix=prefix)
    store.create_tables()
    try:
        yield Database(url, prefix)
    finally:
        store.drop_tables()
        store.close()


@pytest.fixture(scope="module")
def sqlite_file_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    path: Path = tmp_path_factory.mktemp("sqlite") / "refreshkit.db"
    yield from prepared(f"sqlite:///{path}")


@pytest.fixture(scope="module")
def postgres_db() -> Iterator[Database]:
    require_postgres()
    yield from prepared(POSTGRES_SYNC_URL)


@pytest.fixture(scope="module")
def mariadb_db() -> Iterator[Database]:
    require_mariadb()
    yield from prepared(MARIADB_SYNC_URL)


#: The file-backed databases every cross-dialect test runs on, by fixture name.
DATABASES = [
    pytest.param("sqlite_file_db", marks=pytest.mark.sqlite, id="sqlite"),
    pytest.param("postgres_db", marks=pytest.mark.postgres, id="postgres"),
    pytest.param("mariadb_db", marks=pytest.mark.mariadb, id="mariadb"),
]


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    """Each database in turn, emptied after the test (a module may override it)."""
    database: Database = request.getfixturevalue(request.param)
    yield database
    database.clear()
