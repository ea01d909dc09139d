"""Store options ride in the URL, so ``REFRESHKIT_STORE_URL`` alone configures a SQL store.

refreshkit takes ``prefix``, ``create_tables`` and ``max_retries`` out of the
query; every other parameter still reaches the driver.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from refreshkit import ConfigurationError, SchemaMissingError, create_async_store, create_store
from refreshkit._async.conformance import _session
from refreshkit.backends.sql import AsyncSQLStore, SQLStore, migrate
from tests.services import MARIADB_SYNC_URL, POSTGRES_SYNC_URL

from .conftest import require_mariadb, require_postgres, unique_prefix


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


@pytest.mark.sqlite
def test_the_url_chooses_the_table_prefix(tmp_path: Path) -> None:
    store = create_store(f"sqlite:///{tmp_path}/app.db?prefix=myapp_")
    assert isinstance(store, SQLStore)
    try:
        session = _session()
        store.create_session(session)
        assert {"myapp_sessions", "myapp_denied_access"} <= _tables(store.engine)
        assert "myapp_refresh_tokens" not in _tables(store.engine)
        assert not any(name.startswith("refreshkit_") for name in _tables(store.engine))
    finally:
        store.close()


@pytest.mark.sqlite
def test_the_url_turns_table_creation_off(tmp_path: Path) -> None:
    store = create_store(f"sqlite:///{tmp_path}/app.db?create_tables=false&prefix=app_")
    try:
        with pytest.raises(SchemaMissingError, match="'app_'"):
            store.list_sessions("alice")
    finally:
        store.close()


@pytest.mark.sqlite
async def test_async_urls_take_the_same_options(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/app.db?prefix=async_&max_retries=2"
    store = create_async_store(url)
    assert isinstance(store, AsyncSQLStore)
    try:
        session = _session()
        await store.create_session(session)
        assert store.tables.sessions.name == "async_sessions"
        assert store._max_retries == 2
    finally:
        await store.aclose()


@pytest.mark.sqlite
def test_driver_parameters_pass_through_and_ours_are_stripped(tmp_path: Path) -> None:
    store = create_store(f"sqlite:///{tmp_path}/app.db?timeout=7&prefix=app_&max_retries=0")
    try:
        assert dict(store.engine.url.query) == {"timeout": "7"}
        assert store._max_retries == 0
    finally:
        store.close()


@pytest.mark.sqlite
def test_migrations_read_the_prefix_from_the_store_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/app.db?prefix=app_&create_tables=false"
    migrate.upgrade(url)
    assert migrate.current(f"sqlite:///{tmp_path}/app.db", table_prefix="app_") == migrate.head()
    assert migrate.current(url) == migrate.head()
    store = create_store(url)
    try:
        assert store.list_sessions("alice") == []
    finally:
        store.close()


@pytest.mark.sqlite
@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("prefx=app_", "unknown SQL store URL option 'prefx'.*create_tables, max_retries, prefix"),
        ("table_prefix=app_", "unknown SQL store URL option 'table_prefix'"),
        ("history=3", "unknown SQL store URL option 'history'"),
        ("create_tables=maybe", "create_tables= .* true or false, not 'maybe'"),
        ("max_retries=lots", "max_retries= .* whole number >= 0"),
        ("prefix=", "prefix= in the store URL needs a value"),
        ("prefix=a_&prefix=b_", "prefix= appears twice"),
        ("prefix=drop%20table", "table_prefix"),
    ],
)
def test_a_bad_url_option_is_a_configuration_error_naming_the_valid_ones(
    query: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        create_store(f"sqlite://?{query}")
    with pytest.raises(ConfigurationError, match=message):
        create_async_store(f"sqlite+aiosqlite://?{query}")


@pytest.mark.sqlite
def test_an_option_given_in_the_url_and_as_a_keyword_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="table_prefix given both"):
        create_store("sqlite://?prefix=a_", table_prefix="b_")


@pytest.mark.sqlite
def test_the_constructors_refuse_url_options_they_would_hand_to_the_driver() -> None:
    with pytest.raises(ConfigurationError, match="create_store"):
        SQLStore("sqlite://?prefix=a_")
    with pytest.raises(ConfigurationError, match="create_store"):
        AsyncSQLStore("sqlite+aiosqlite://?create_tables=true")


SERVERS = [
    pytest.param(
        POSTGRES_SYNC_URL,
        require_postgres,
        "application_name=refreshkit_test",
        marks=pytest.mark.postgres,
        id="postgres",
    ),
    pytest.param(
        MARIADB_SYNC_URL,
        require_mariadb,
        "charset=utf8mb4",
        marks=pytest.mark.mariadb,
        id="mariadb",
    ),
]


@pytest.mark.parametrize(("url", "require", "driver_option"), SERVERS)
def test_a_server_url_chooses_prefix_and_creation_and_keeps_driver_options(
    url: str, require: object, driver_option: str
) -> None:
    assert callable(require)
    require()
    prefix = unique_prefix()
    store = create_store(f"{url}?{driver_option}&prefix={prefix}&create_tables=true")
    assert isinstance(store, SQLStore)
    try:
        session = _session()
        store.create_session(session)
        assert f"{prefix}sessions" in _tables(store.engine)
        assert dict(store.engine.url.query) == dict([driver_option.split("=")])
        if "application_name" in driver_option:
            with store.engine.connect() as connection:
                name = connection.exec_driver_sql("SHOW application_name").scalar()
            assert name == "refreshkit_test"
        assert migrate.current(f"{url}?prefix={prefix}") == migrate.head()
    finally:
        store.drop_tables()
        store.close()
