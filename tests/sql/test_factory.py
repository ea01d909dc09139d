"""Choosing and building SQL stores: URLs, drivers, options, shared engines, prefixes."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from refreshkit import backends
from refreshkit._async.conformance import _session
from refreshkit.backends.sql import (
    AsyncSQLStore,
    SQLStore,
    build_tables,
    create_async_store,
    create_store,
    migrate,
)
from refreshkit.errors import ConfigurationError

pytestmark = pytest.mark.sqlite


@pytest.mark.parametrize(
    ("url", "advice"),
    [
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite://", "sqlite+aiosqlite://"),
        ("mysql+pymysql://root@127.0.0.1/test", "mysql+aiomysql://root@127.0.0.1/test"),
        ("mariadb+pymysql://root@127.0.0.1/test", "mariadb+aiomysql://root@127.0.0.1/test"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_a_sync_only_url_given_to_the_async_factory_names_the_url_to_use(
    url: str, advice: str
) -> None:
    with pytest.raises(ConfigurationError, match=advice.replace("+", r"\+")):
        create_async_store(url)


@pytest.mark.parametrize(
    ("url", "advice"),
    [
        ("sqlite+aiosqlite:///x.db", "sqlite:///x.db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("mysql+aiomysql://root@h/test", "mysql+pymysql://root@h/test"),
    ],
)
def test_an_async_only_url_given_to_the_sync_factory_names_the_url_to_use(
    url: str, advice: str
) -> None:
    with pytest.raises(ConfigurationError, match=advice.replace("+", r"\+")):
        create_store(url)


async def test_psycopg_urls_serve_both_flavours() -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    sync_store, async_store = create_store(url), create_async_store(url)
    assert isinstance(sync_store, SQLStore) and isinstance(async_store, AsyncSQLStore)
    sync_store.close()
    await async_store.aclose()


def test_the_registry_routes_sql_urls_to_this_backend(tmp_path: Path) -> None:
    store = backends.create_store(f"sqlite:///{tmp_path}/r.db", table_prefix="app_rk_")
    try:
        assert isinstance(store, SQLStore)
        assert store.tables.sessions.name == "app_rk_sessions"
    finally:
        store.close()
    with pytest.raises(ConfigurationError, match="aiosqlite"):
        backends.create_async_store(f"sqlite:///{tmp_path}/r.db")


@pytest.mark.parametrize(
    ("url", "extra"),
    [("postgresql+psycopg2://u@h/db", "postgres"), ("mysql+mysqldb://u@h/db", "mysql")],
)
def test_a_missing_driver_names_the_extra_to_install(url: str, extra: str) -> None:
    with pytest.raises(ConfigurationError, match=rf"pip install 'refreshkit\[{extra}\]'"):
        create_store(url)


@pytest.mark.parametrize(
    ("url", "names"),
    [
        ("postgresql+nosuch://u@h/db", "no driver 'nosuch'"),
        ("sqlite+nosuch:///x.db", "no driver 'nosuch'"),
        ("postgresql+psycopg+x://u@h/db", "names more than one driver"),
    ],
)
@pytest.mark.parametrize("factory", [create_store, create_async_store])
def test_an_unknown_driver_is_a_configuration_error_not_a_driver_traceback(
    url: str, names: str, factory: object
) -> None:
    with pytest.raises(ConfigurationError, match=names):
        factory(url)  # type: ignore[operator]


def test_unknown_options_and_bad_prefixes_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="table_prefx"):
        create_store("sqlite://", table_prefx="x_")
    with pytest.raises(ConfigurationError, match="table_prefix"):
        create_store("sqlite://", table_prefix="drop table;")
    with pytest.raises(ConfigurationError):
        create_store("oracle://u@h/db")


async def test_a_shared_engine_stays_open_after_the_store_closes(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/shared.db")
    store = AsyncSQLStore(engine, create_tables=True)
    session = _session()
    await store.create_session(session)
    await store.aclose()
    async with engine.connect() as connection:
        count = await connection.scalar(
            sa.select(sa.func.count()).select_from(store.tables.sessions)
        )
    assert count == 1
    await engine.dispose()


def test_tables_can_join_the_applications_metadata(tmp_path: Path) -> None:
    metadata = sa.MetaData()
    sa.Table("users", metadata, sa.Column("id", sa.Integer, primary_key=True))
    store = SQLStore(f"sqlite:///{tmp_path}/app.db", metadata=metadata, table_prefix="auth_")
    try:
        assert {
            "users",
            "auth_sessions",
            "auth_denied_access",
            "auth_subject_cutoffs",
        } == set(metadata.tables)
        store.create_tables()
        names = set(sa.inspect(store.engine).get_table_names())
        assert "users" not in names, "create_tables creates only refreshkit's tables"
        assert migrate.current(store.engine, table_prefix="auth_") == migrate.head()
    finally:
        store.close()


def test_build_tables_names_every_table_and_index_with_the_prefix() -> None:
    tables = build_tables("tenant_a_")
    for table in tables.all:
        assert table.name.startswith("tenant_a_")
        assert all(index.name and "tenant_a_" in index.name for index in table.indexes)


def test_sqlite_files_run_in_wal_mode(tmp_path: Path) -> None:
    store = SQLStore(f"sqlite:///{tmp_path}/wal.db", create_tables=True)
    try:
        with store.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        store.close()


def test_naive_datetimes_are_refused_rather_than_guessed() -> None:
    from refreshkit.backends.sql.schema import UTCMicroseconds

    with pytest.raises(ValueError, match="timezone-aware"):
        UTCMicroseconds().process_bind_param(
            __import__("datetime").datetime(2030, 1, 1), sa.create_engine("sqlite://").dialect
        )
