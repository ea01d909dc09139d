"""The SQL backend: SQLite, PostgreSQL and MariaDB/MySQL through SQLAlchemy Core.

:class:`AsyncSQLStore` runs on an ``AsyncEngine`` (``sqlite+aiosqlite``,
``postgresql+psycopg``, ``postgresql+asyncpg``, ``mysql+aiomysql``),
:class:`SQLStore` on an ``Engine`` (``sqlite``, ``postgresql+psycopg``,
``mysql+pymysql``). The module-level :func:`create_store` /
:func:`create_async_store` make it the registry's backend for ``sqlite://``,
``postgresql://``, ``mysql://`` and ``mariadb://`` URLs. Schema changes ship as
Alembic migrations: see :mod:`refreshkit.backends.sql.migrate`.
"""

from __future__ import annotations

import inspect
from typing import Any

from ...errors import ConfigurationError, MissingExtraError

try:
    import sqlalchemy as _sqlalchemy  # noqa: F401 - only to name the missing extra
except ImportError as _missing:
    raise MissingExtraError(
        f"refreshkit.backends.sql needs SQLAlchemy ({_missing.name}): pip install 'refreshkit[sql]'"
    ) from _missing

from .._options import merge_options, split_url_options
from ._async import AsyncSQLStore
from ._engines import URL_OPTIONS
from ._sync import SQLStore
from .schema import DEFAULT_PREFIX, SQLTables, build_tables

__all__ = [
    "DEFAULT_PREFIX",
    "AsyncSQLStore",
    "SQLStore",
    "SQLTables",
    "build_tables",
    "create_async_store",
    "create_store",
]


def _options(url: str, store: type[Any], options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The driver's URL and every option, from the URL's query and the keywords."""
    driver_url, from_url = split_url_options(url, URL_OPTIONS, store="SQL store")
    merged = merge_options(from_url, options)
    _check_options(store, merged)
    return driver_url, merged


def _check_options(store: type[Any], options: dict[str, Any]) -> None:
    accepted = set(inspect.signature(store.__init__).parameters) - {"self", "engine"}
    unknown = set(options) - accepted
    if unknown:
        raise ConfigurationError(
            f"unknown SQL store options: {', '.join(sorted(unknown))} "
            f"(accepted: {', '.join(sorted(accepted))})"
        )


def create_store(url: str, **options: Any) -> SQLStore:
    """A sync :class:`SQLStore` for a SQLAlchemy URL (``table_prefix=``, ``create_tables=`` ...).

    The URL's query may carry ``prefix``, ``create_tables`` and
    ``max_retries`` (``sqlite:///app.db?prefix=app_``); every other parameter
    goes to the driver. Raises :class:`~refreshkit.errors.ConfigurationError`
    for an async-only URL (naming the URL to use), an unknown option or value,
    or a missing driver.
    """
    driver_url, merged = _options(url, SQLStore, options)
    return SQLStore(driver_url, **merged)


def create_async_store(url: str, **options: Any) -> AsyncSQLStore:
    """An :class:`AsyncSQLStore` for a SQLAlchemy URL; see :func:`create_store`.

    Raises :class:`~refreshkit.errors.ConfigurationError` for a sync-only URL
    (naming the URL to use), an unknown option or value, or a missing driver.
    """
    driver_url, merged = _options(url, AsyncSQLStore, options)
    return AsyncSQLStore(driver_url, **merged)
