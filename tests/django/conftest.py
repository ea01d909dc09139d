"""Django, set up once for the Django tests: an SQLite file and a PostgreSQL schema of this run.

Before Django reads ``tests/django/settings.py`` this names the run's SQLite
file and PostgreSQL schema in environment variables (spawned racers inherit
them and open the same databases). ``default`` is migrated whole at start;
the ``postgres`` alias gets its schema and the app's tables on first use and
loses both at the end. Rows are cleared after every test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.django.environment import configure_django
from tests.services import POSTGRES_HOST, POSTGRES_PORT, POSTGRES_SYNC_URL, require_port

configure_django()

from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402

from refreshkit.adapters.django import models  # noqa: E402

_migrated: set[str] = set()


def clear(alias: str) -> None:
    """Delete every row of the store's tables in database ``alias``."""
    models.Session.objects.using(alias).all().delete()
    models.DeniedAccess.objects.using(alias).all().delete()
    models.SubjectCutoff.objects.using(alias).all().delete()


@pytest.fixture(scope="session")
def sqlite_alias() -> str:
    """``default``: this run's SQLite file, migrated (every installed app)."""
    if "default" not in _migrated:
        call_command("migrate", database="default", verbosity=0)
        _migrated.add("default")
    return "default"


@pytest.fixture(scope="session")
def postgres_alias() -> Iterator[str]:
    """``postgres``: this run's schema in the test database, with the app's tables."""
    require_port("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    if "postgres" not in connections.settings:
        pytest.skip("the Django settings in use have no 'postgres' database")
    import psycopg

    schema = os.environ["REFRESHKIT_DJANGO_PG_SCHEMA"]
    admin_url = POSTGRES_SYNC_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    try:
        call_command("migrate", "refreshkit", database="postgres", verbosity=0)
        yield "postgres"
    finally:
        connections["postgres"].close()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", marks=pytest.mark.postgres, id="postgres"),
    ]
)
def alias(request: pytest.FixtureRequest) -> Iterator[str]:
    """Each database in turn, emptied after the test."""
    name: str = request.getfixturevalue(f"{request.param}_alias")
    yield name
    clear(name)
