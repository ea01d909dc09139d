"""Versioned schema changes for the SQL store, shipped inside the package (Alembic).

``refreshkit db upgrade URL`` calls :func:`upgrade`; applications may call these
functions directly (from a deploy script, or their own Alembic ``env.py``)::

    from refreshkit.backends.sql import migrate

    migrate.upgrade("postgresql+psycopg://app@db/app", table_prefix="refreshkit_")
    migrate.current("postgresql+psycopg://app@db/app")  # "0005"

Each table prefix has its own version table, ``<prefix>alembic_version``, so
refreshkit's history never mixes with the application's. A URL may carry the
store's options (``?prefix=app_``), so the store URL a deployment configures
migrates as it is; ``table_prefix=`` defaults to the URL's ``prefix``, else
``refreshkit_``. Everything here is
synchronous; an async URL (``+asyncpg``, ``+aiosqlite``, ``+aiomysql``) is
migrated through the matching sync driver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, pool
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from ...errors import ConfigurationError
from .._options import split_url_options
from ._engines import URL_OPTIONS, missing_driver_hint, sync_url
from ._errors import map_errors
from .schema import DEFAULT_PREFIX, SQLTables, check_prefix

__all__ = ["current", "downgrade", "head", "upgrade"]

Target = str | URL | Engine | AsyncEngine

_SCRIPTS = Path(str(resources.files(__package__) / "migrations"))


def _config(connection: Connection, table_prefix: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = connection
    config.attributes["table_prefix"] = check_prefix(table_prefix)
    return config


def _prefixed(target: Target, table_prefix: str | None) -> tuple[Target, str]:
    """The target without refreshkit's URL options, and the table prefix to use."""
    if isinstance(target, str):
        target, from_url = split_url_options(target, URL_OPTIONS, store="SQL store")
        url_prefix = from_url.get("table_prefix")
        if url_prefix is not None and table_prefix is not None and url_prefix != table_prefix:
            raise ConfigurationError(
                f"table prefix {table_prefix!r} given, but the URL says prefix={url_prefix}"
            )
        table_prefix = table_prefix or url_prefix
    return target, check_prefix(table_prefix or DEFAULT_PREFIX)


@contextmanager
def _connection(target: Target, operation: str) -> Iterator[Connection]:
    """A sync connection in a transaction, to ``target`` (an engine we dispose if we made it)."""
    with map_errors(operation):
        if isinstance(target, Engine):
            with target.begin() as connection:
                yield connection
            return
        url = sync_url(target.url if isinstance(target, AsyncEngine) else target)
        with missing_driver_hint(url):
            engine = create_engine(url, poolclass=pool.NullPool, hide_parameters=True)
        try:
            with engine.begin() as connection:
                yield connection
        finally:
            engine.dispose()


def head() -> str:
    """The newest revision shipped with this version of refreshkit."""
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    revision = ScriptDirectory.from_config(config).get_current_head()
    assert revision is not None
    return revision


def upgrade(target: Target, revision: str = "head", *, table_prefix: str | None = None) -> None:
    """Migrate the database at ``target`` (URL or engine) up to ``revision``.

    Idempotent: an up-to-date database is left alone. Raises
    :class:`~refreshkit.errors.StoreError` when the database is unreachable or
    refuses a change, and :class:`~refreshkit.errors.ConfigurationError` for
    an unknown revision, a bad prefix or URL option, or a missing driver.
    """
    target, prefix = _prefixed(target, table_prefix)
    with _connection(target, "upgrade") as connection:
        _run(command.upgrade, _config(connection, prefix), revision)


def downgrade(target: Target, revision: str, *, table_prefix: str | None = None) -> None:
    """Migrate down to ``revision`` (``"base"`` drops every refreshkit table: data is lost).

    Raises the same errors as :func:`upgrade`.
    """
    target, prefix = _prefixed(target, table_prefix)
    with _connection(target, "downgrade") as connection:
        _run(command.downgrade, _config(connection, prefix), revision)


def current(target: Target, *, table_prefix: str | None = None) -> str | None:
    """The revision the database is at, or None when refreshkit's tables were never created.

    Raises :class:`~refreshkit.errors.StoreError` when the database is unreachable.
    """
    target, prefix = _prefixed(target, table_prefix)
    version_table = f"{prefix}alembic_version"
    with _connection(target, "current") as connection:
        context = MigrationContext.configure(connection, opts={"version_table": version_table})
        return context.get_current_revision()


def _run(step: Callable[[Config, str], None], config: Config, revision: str) -> None:
    try:
        step(config, revision)
    except CommandError as error:
        raise ConfigurationError(f"migration to {revision!r} failed: {error}") from error


def create_and_stamp(connection: Connection, tables: SQLTables) -> None:
    """Create missing tables from the definitions and record them as the newest revision.

    For :meth:`create_tables`: a database set up this way can later be
    migrated with :func:`upgrade` like any other.
    """
    tables.metadata.create_all(connection, tables=tables.all, checkfirst=True)
    context = MigrationContext.configure(connection, opts={"version_table": tables.version_table})
    if context.get_current_revision() is None:
        command.stamp(_config(connection, tables.prefix), "head")


def drop(connection: Connection, tables: SQLTables) -> None:
    """Drop the tables and their version table (tests and teardown only: data is lost)."""
    tables.metadata.drop_all(connection, tables=tables.all, checkfirst=True)
    version = sa.Table(tables.version_table, sa.MetaData(), sa.Column("version_num", sa.String(32)))
    version.drop(connection, checkfirst=True)
