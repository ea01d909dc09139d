"""Shipped migrations build exactly the tables the store defines, on every dialect."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from refreshkit.backends.sql import SQLStore, build_tables, migrate
from refreshkit.errors import ConfigurationError
from tests.services import MARIADB_SYNC_URL, POSTGRES_SYNC_URL

from .conftest import (
    MARIADB_ASYNC_URL,
    POSTGRES_ASYNCPG_URL,
    require_mariadb,
    require_postgres,
    unique_prefix,
)

DATABASES = [
    pytest.param("sqlite", marks=pytest.mark.sqlite, id="sqlite"),
    pytest.param("postgres", marks=pytest.mark.postgres, id="postgres"),
    pytest.param("mariadb", marks=pytest.mark.mariadb, id="mariadb"),
]


@pytest.fixture(params=DATABASES)
def urls(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, str]:
    """(sync URL, async URL) of an empty database."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("migrations") / "m.db"
        return f"sqlite:///{path}", f"sqlite+aiosqlite:///{path}"
    if request.param == "postgres":
        require_postgres()
        return POSTGRES_SYNC_URL, POSTGRES_ASYNCPG_URL
    require_mariadb()
    return MARIADB_SYNC_URL, MARIADB_ASYNC_URL


@pytest.fixture
def prefix(urls: tuple[str, str]) -> Iterator[str]:
    prefix = unique_prefix()
    yield prefix
    migrate.downgrade(urls[0], "base", table_prefix=prefix)


def _drift(url: str, prefix: str) -> list[object]:
    tables = build_tables(prefix)
    names = {table.name for table in tables.all}
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "include_name": lambda name, kind, _: kind != "table" or name in names,
                },
            )
            return list(compare_metadata(context, tables.metadata))
    finally:
        engine.dispose()


def test_upgrading_an_empty_database_builds_exactly_the_defined_tables(
    urls: tuple[str, str], prefix: str
) -> None:
    sync_url, _ = urls
    assert migrate.current(sync_url, table_prefix=prefix) is None
    migrate.upgrade(sync_url, table_prefix=prefix)
    assert migrate.current(sync_url, table_prefix=prefix) == migrate.head()
    assert _drift(sync_url, prefix) == []


def test_upgrade_is_idempotent_and_accepts_async_urls(urls: tuple[str, str], prefix: str) -> None:
    sync_url, async_url = urls
    migrate.upgrade(async_url, table_prefix=prefix)
    migrate.upgrade(sync_url, table_prefix=prefix)
    assert migrate.current(async_url, table_prefix=prefix) == migrate.head()


def test_downgrade_to_base_removes_every_table(urls: tuple[str, str], prefix: str) -> None:
    sync_url, _ = urls
    migrate.upgrade(sync_url, table_prefix=prefix)
    migrate.downgrade(sync_url, "base", table_prefix=prefix)
    assert migrate.current(sync_url, table_prefix=prefix) is None
    engine = sa.create_engine(sync_url)
    try:
        names = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert not any(name.startswith(prefix) and "alembic" not in name for name in names)


def test_migrated_tables_serve_the_store(urls: tuple[str, str], prefix: str) -> None:
    sync_url, _ = urls
    migrate.upgrade(sync_url, table_prefix=prefix)
    store = SQLStore(sync_url, table_prefix=prefix)
    try:
        assert store.list_sessions("nobody") == []
    finally:
        store.close()


def test_create_tables_stamps_the_newest_revision_so_upgrade_is_a_no_op(
    urls: tuple[str, str], prefix: str
) -> None:
    sync_url, _ = urls
    store = SQLStore(sync_url, table_prefix=prefix)
    try:
        store.create_tables()
        store.create_tables()
    finally:
        store.close()
    assert migrate.current(sync_url, table_prefix=prefix) == migrate.head()
    migrate.upgrade(sync_url, table_prefix=prefix)
    assert _drift(sync_url, prefix) == []


@pytest.mark.sqlite
def test_an_unknown_revision_is_a_configuration_error(tmp_path: object) -> None:
    with pytest.raises(ConfigurationError):
        migrate.upgrade("sqlite://", "no-such-revision")


@pytest.mark.sqlite
def test_migration_scripts_ship_inside_the_package() -> None:
    from importlib import resources

    scripts = resources.files("refreshkit.backends.sql") / "migrations"
    assert (scripts / "env.py").is_file()
    assert (scripts / "script.py.mako").is_file()
    assert any(entry.name.endswith(".py") for entry in (scripts / "versions").iterdir())
