"""What the Django store adds to the contract: its URL, and failures as StoreError."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from refreshkit import create_async_store, create_store
from refreshkit.adapters.django.store import AsyncDjangoStore, DjangoStore
from refreshkit.errors import ConfigurationError, SchemaMissingError, StoreError

pytestmark = pytest.mark.django

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def test_a_django_url_names_a_database_alias_default_when_empty() -> None:
    assert isinstance(create_store("django://default"), DjangoStore)
    assert create_store("django://").alias == "default"  # type: ignore[attr-defined]
    assert create_store("django://postgres").alias == "postgres"  # type: ignore[attr-defined]
    assert isinstance(create_async_store("django://default"), AsyncDjangoStore)


@pytest.mark.parametrize(
    "url", ["django://default/path", "django://default?prefix=x", "django://nowhere"]
)
def test_a_django_url_with_more_than_a_known_alias_is_refused(url: str) -> None:
    with pytest.raises(ConfigurationError):
        create_store(url)


def test_an_unreachable_database_is_a_store_error_not_a_token_error() -> None:
    store = DjangoStore("unreachable")
    with pytest.raises(StoreError):
        store.get_session("0" * 32)
    with pytest.raises(StoreError):
        store.revoke_subject("alice", NOW, "logout")


async def test_an_unreachable_database_is_a_store_error_in_the_async_store() -> None:
    with pytest.raises(StoreError):
        await AsyncDjangoStore("unreachable").check_access("jti", "0" * 32, NOW)


def test_a_database_never_migrated_names_manage_py_migrate() -> None:
    with pytest.raises(SchemaMissingError, match=r"manage.py migrate --database unmigrated"):
        DjangoStore("unmigrated").get_session("0" * 32)


def test_the_shipped_migrations_hold_every_model_change() -> None:
    from django.core.management import call_command

    call_command("makemigrations", "refreshkit", check=True, dry_run=True, verbosity=0)


@pytest.mark.parametrize(
    "database", ["default", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_migration_0002_adds_the_session_metadata_and_reverses(database: str) -> None:
    from io import StringIO

    from django.core.management import call_command
    from django.db import connections

    if database not in connections.settings:
        pytest.skip(f"the Django settings in use have no {database!r} database")
    forwards, backwards = StringIO(), StringIO()
    call_command("sqlmigrate", "refreshkit", "0002", database=database, stdout=forwards)
    call_command(
        "sqlmigrate", "refreshkit", "0002", database=database, backwards=True, stdout=backwards
    )
    for column in ("user_agent", "client_ip", "device_label", "idle_ttl"):
        assert column in forwards.getvalue() and column in backwards.getvalue()
    assert "DROP" in backwards.getvalue().upper() or "CREATE TABLE" in backwards.getvalue()
