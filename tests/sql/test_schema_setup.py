"""Who creates the tables: SQLite sets itself up, a server database must be migrated.

SQLite files (and in-memory SQLite) are private to the application, so a
store creates and stamps its tables on first use. A PostgreSQL or MariaDB
database is shared and migrated by the deploy: a store on an unmigrated one
fails with :class:`SchemaMissingError` naming the fix, on every driver.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from refreshkit import AsyncTokenManager, SchemaMissingError, Settings, TokenManager, _policy
from refreshkit._async.conformance import _session
from refreshkit.backends.sql import AsyncSQLStore, SQLStore, migrate
from tests.services import MARIADB_SYNC_URL, POSTGRES_SYNC_URL

from .conftest import (
    MARIADB_ASYNC_URL,
    POSTGRES_ASYNCPG_URL,
    require_mariadb,
    require_postgres,
    unique_prefix,
)


def _settings() -> Settings:
    return Settings(secret_key=secrets.token_urlsafe(32), issuer="https://auth.test")


@pytest.mark.sqlite
def test_the_quickstart_runs_on_a_fresh_sqlite_file_without_any_setup(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/app.db"
    manager = TokenManager(_settings(), store=url)
    try:
        pair = manager.issue("alice", scope=["read"])
        again = manager.refresh(pair.refresh_token)
        assert [s.sid for s in manager.sessions("alice")] == [again.sid]
    finally:
        manager.close()
    # Created the way a migration would leave it: `refreshkit db upgrade` takes over from here.
    assert migrate.current(url) == migrate.head()
    migrate.upgrade(url)
    assert migrate.current(url) == migrate.head()


@pytest.mark.sqlite
async def test_the_async_quickstart_runs_on_a_fresh_sqlite_file_without_any_setup(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/app.db"
    manager = AsyncTokenManager(_settings(), store=url)
    try:
        pair = await manager.issue("alice")
        await manager.refresh(pair.refresh_token)
    finally:
        await manager.aclose()
    assert migrate.current(url) == migrate.head()


@pytest.mark.sqlite
def test_in_memory_sqlite_creates_its_tables_by_default() -> None:
    store = SQLStore("sqlite://")
    try:
        session = _session()
        store.create_session(session)
        assert store.get_session(session.sid) == session
    finally:
        store.close()


def _assert_names_the_fix(error: SchemaMissingError, prefix: str) -> None:
    message = str(error)
    assert "refreshkit db upgrade" in message
    assert "create_tables=True" in message
    assert repr(prefix) in message


@pytest.mark.sqlite
def test_sqlite_with_table_creation_off_names_the_missing_schema_and_its_fix(
    tmp_path: Path,
) -> None:
    store = SQLStore(f"sqlite:///{tmp_path}/app.db", table_prefix="app_", create_tables=False)
    session = _session()
    try:
        with pytest.raises(SchemaMissingError) as caught:
            store.create_session(session)
        _assert_names_the_fix(caught.value, "app_")
        with pytest.raises(SchemaMissingError):
            store.list_sessions("alice")
    finally:
        store.close()


@pytest.mark.sqlite
async def test_async_sqlite_with_table_creation_off_names_the_missing_schema(
    tmp_path: Path,
) -> None:
    store = AsyncSQLStore(f"sqlite+aiosqlite:///{tmp_path}/app.db", create_tables=False)
    session = _session()
    try:
        with pytest.raises(SchemaMissingError) as caught:
            await store.create_session(session)
        _assert_names_the_fix(caught.value, "refreshkit_")
    finally:
        await store.aclose()


SERVERS = [
    pytest.param(POSTGRES_SYNC_URL, require_postgres, marks=pytest.mark.postgres, id="psycopg"),
    pytest.param(MARIADB_SYNC_URL, require_mariadb, marks=pytest.mark.mariadb, id="pymysql"),
]
ASYNC_SERVERS = [
    pytest.param(POSTGRES_SYNC_URL, require_postgres, marks=pytest.mark.postgres, id="psycopg"),
    pytest.param(POSTGRES_ASYNCPG_URL, require_postgres, marks=pytest.mark.postgres, id="asyncpg"),
    pytest.param(MARIADB_ASYNC_URL, require_mariadb, marks=pytest.mark.mariadb, id="aiomysql"),
]


@pytest.mark.parametrize(("url", "require"), SERVERS)
def test_an_unmigrated_server_database_names_the_missing_schema_and_its_fix(
    url: str, require: object
) -> None:
    assert callable(require)
    require()
    prefix = unique_prefix()
    store = SQLStore(url, table_prefix=prefix)
    session = _session()
    try:
        with pytest.raises(SchemaMissingError) as caught:
            store.create_session(session)
        _assert_names_the_fix(caught.value, prefix)
        with pytest.raises(SchemaMissingError):
            store.list_sessions("alice")
        with pytest.raises(SchemaMissingError):
            store.compare_and_set(_policy.revocation(session.sid, session.created_at, "logout"))
    finally:
        store.close()
    assert migrate.current(url, table_prefix=prefix) is None, "nothing was created"


@pytest.mark.parametrize(("url", "require"), ASYNC_SERVERS)
async def test_an_unmigrated_server_database_names_the_missing_schema_async(
    url: str, require: object
) -> None:
    assert callable(require)
    require()
    prefix = unique_prefix()
    store = AsyncSQLStore(url, table_prefix=prefix)
    session = _session()
    try:
        with pytest.raises(SchemaMissingError) as caught:
            await store.create_session(session)
        _assert_names_the_fix(caught.value, prefix)
        with pytest.raises(SchemaMissingError):
            await store.list_sessions("alice")
    finally:
        await store.aclose()
