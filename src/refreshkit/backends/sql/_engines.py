"""Engines for the SQL store: URL checks, driver hints, SQLite set-up.

Kept apart from the generated store modules because it is the same code for
both flavours: the store passes :class:`~sqlalchemy.ext.asyncio.AsyncEngine`
or :class:`~sqlalchemy.engine.Engine` as ``flavour`` and gets the right checks.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import StaticPool

from ...errors import ConfigurationError, MissingExtraError
from .._options import URLOption, boolean, integer, text

#: What a SQL store URL may carry besides the driver's own parameters.
URL_OPTIONS = (
    URLOption("prefix", "table_prefix", text),
    URLOption("create_tables", "create_tables", boolean),
    URLOption("max_retries", "max_retries", integer(0)),
)
#: Query parameters that are refreshkit's, never the driver's.
_OURS = frozenset({"table_prefix", *(option.name for option in URL_OPTIONS)})

__all__ = [
    "URL_OPTIONS",
    "AsyncBackoff",
    "AsyncSchemaRunner",
    "Backoff",
    "AsyncSerializer",
    "SchemaRunner",
    "Serializer",
    "begins_implicitly",
    "check_url",
    "dialect_family",
    "engine_options",
    "is_memory_sqlite",
    "missing_driver_hint",
    "prepare_engine",
    "sync_url",
]

T = TypeVar("T")

#: backend -> drivers usable with a plain Engine / with an AsyncEngine.
_SYNC_DRIVERS = {
    "sqlite": {"pysqlite"},
    "postgresql": {"psycopg", "psycopg2", "pg8000"},
    "mysql": {"pymysql", "mysqldb", "mariadbconnector", "mysqlconnector"},
}
_ASYNC_DRIVERS = {
    "sqlite": {"aiosqlite"},
    "postgresql": {"psycopg", "psycopg_async", "asyncpg"},
    "mysql": {"aiomysql", "asyncmy"},
}
#: What to use instead, per backend, when a URL is of the wrong flavour.
_SYNC_REPLACEMENT = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg", "mysql": "pymysql"}
_ASYNC_REPLACEMENT = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+psycopg",
    "mysql": "aiomysql",
}
#: Driverless URLs get the driver refreshkit's extras install.
_DEFAULT_SYNC_DRIVER = {"postgresql": "psycopg", "mysql": "pymysql"}
_EXTRA = {"sqlite": "sql", "postgresql": "postgres", "mysql": "mysql"}


def dialect_family(name: str) -> str:
    """``postgresql``, ``mysql`` (MySQL and MariaDB) or ``sqlite``."""
    return "mysql" if name in ("mysql", "mariadb") else name


def _parse(url: str | URL) -> URL:
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError) as error:
        raise ConfigurationError("not a SQLAlchemy database URL") from error
    if parsed.drivername.count("+") > 1:
        raise ConfigurationError(
            f"not a SQLAlchemy database URL: {parsed.drivername}:// names more than one driver"
        )
    return parsed


def _with_driver(url: URL, backend: str, replacement: str) -> str:
    if backend == "mysql" and "+" not in replacement:
        replacement = f"{url.get_backend_name()}+{replacement}"
    return url.set(drivername=replacement).render_as_string(hide_password=True)


def check_url(url: str | URL, flavour: type[Engine] | type[AsyncEngine]) -> URL:
    """The URL, checked to be of a backend refreshkit supports and a driver of ``flavour``.

    Driverless ``postgresql://`` and ``mysql://`` URLs get the drivers the
    extras install (psycopg, PyMySQL). Raises ConfigurationError naming the
    URL to use instead when a sync-only driver is given to the async store or
    the reverse.
    """
    parsed = _parse(url)
    ours = sorted(set(parsed.query) & _OURS)
    if ours:
        raise ConfigurationError(
            f"{', '.join(ours)} in the URL: store URL options are read by create_store() and "
            "create_async_store(); pass them to the store's constructor as keywords"
        )
    backend = dialect_family(parsed.get_backend_name())
    if backend not in _EXTRA:
        raise ConfigurationError(
            f"the SQL store supports sqlite, postgresql, mysql and mariadb, not {backend}"
        )
    want_async = flavour is AsyncEngine
    driver = parsed.get_driver_name() if "+" in parsed.drivername else ""
    if not driver:
        if want_async:
            suggestion = _with_driver(parsed, backend, _ASYNC_REPLACEMENT[backend])
            raise ConfigurationError(
                f"{parsed.drivername}:// names no async driver; "
                f"for the async store use {suggestion}"
            )
        if backend in _DEFAULT_SYNC_DRIVER:
            parsed = parsed.set(drivername=f"{parsed.drivername}+{_DEFAULT_SYNC_DRIVER[backend]}")
        return parsed
    usable = _ASYNC_DRIVERS if want_async else _SYNC_DRIVERS
    if driver in usable[backend]:
        return parsed
    other = _SYNC_DRIVERS if want_async else _ASYNC_DRIVERS
    if driver in other[backend]:
        replacement = (_ASYNC_REPLACEMENT if want_async else _SYNC_REPLACEMENT)[backend]
        flavour_name = "async" if want_async else "sync"
        raise ConfigurationError(
            f"{parsed.drivername} is not usable by the {flavour_name} store; "
            f"use {_with_driver(parsed, backend, replacement)}"
        )
    try:
        parsed.get_dialect()  # a driver refreshkit does not list may still be SQLAlchemy's
    except sa.exc.NoSuchModuleError:
        known = ", ".join(sorted(usable[backend]))
        raise ConfigurationError(
            f"SQLAlchemy knows no driver {driver!r} for {backend} (refreshkit's extras "
            f"install: {known})"
        ) from None
    return parsed


def sync_url(url: str | URL) -> URL:
    """The same database through a sync driver (for migrations and tooling)."""
    parsed = _parse(url)
    backend = dialect_family(parsed.get_backend_name())
    driver = parsed.get_driver_name() if "+" in parsed.drivername else ""
    if backend in _ASYNC_DRIVERS and driver in _ASYNC_DRIVERS[backend] - _SYNC_DRIVERS[backend]:
        replacement = _SYNC_REPLACEMENT[backend]
        if backend == "mysql":
            replacement = f"{parsed.get_backend_name()}+{replacement}"
        return parsed.set(drivername=replacement)
    return check_url(parsed, Engine)


def is_memory_sqlite(url: URL) -> bool:
    """Whether ``url`` is a private in-memory SQLite database."""
    if dialect_family(url.get_backend_name()) != "sqlite":
        return False
    database = url.database or ""
    return database in ("", ":memory:") or "mode=memory" in database


def engine_options(url: URL, options: dict[str, Any] | None) -> dict[str, Any]:
    """Engine keyword arguments for a URL the store opens itself.

    In-memory SQLite gets one shared connection (every pooled connection
    would otherwise be a different, empty database); file SQLite a generous
    busy timeout so writers queue for the write lock instead of failing.
    """
    merged: dict[str, Any] = {"hide_parameters": True}
    if dialect_family(url.get_backend_name()) == "sqlite":
        if is_memory_sqlite(url):
            merged.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            merged.update(connect_args={"timeout": 30.0})
    merged.update(options or {})
    return merged


@contextmanager
def missing_driver_hint(url: URL) -> Iterator[None]:
    """Turn a missing driver module into ConfigurationError naming the extra to install."""
    try:
        yield
    except ImportError as error:
        extra = _EXTRA.get(dialect_family(url.get_backend_name()), "sql")
        missing = error.name or url.get_driver_name()
        raise MissingExtraError(
            f"{url.drivername} needs a driver that is not installed ({missing}): "
            f"pip install 'refreshkit[{extra}]'"
        ) from error


def prepare_engine(engine: Engine | AsyncEngine, url: URL) -> None:
    """Set SQLite pragmas on every new connection of an engine the store owns.

    WAL lets readers run beside the one writer; ``synchronous=NORMAL`` is the
    durable-enough setting WAL is designed for.
    """
    if dialect_family(url.get_backend_name()) != "sqlite":
        return
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    memory = is_memory_sqlite(url)

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    sa.event.listen(sync_engine, "connect", on_connect)


def begins_implicitly(connection: Connection | AsyncConnection) -> bool:
    """Whether the SQLite driver opens a transaction by itself before the first write.

    Python's ``sqlite3`` does (a deferred ``BEGIN`` before the first
    INSERT/UPDATE/DELETE) unless the connection autocommits
    (``isolation_level=None``, SQLAlchemy's ``AUTOCOMMIT``, or Python 3.12's
    ``autocommit=True``). A deferred transaction whose first statement writes
    takes the write lock before it reads anything, so it is as safe as
    ``BEGIN IMMEDIATE`` and saves the statement.
    """
    sync = connection.sync_connection if isinstance(connection, AsyncConnection) else connection
    assert sync is not None
    driver = sync.connection.dbapi_connection
    if driver is None or getattr(driver, "isolation_level", None) is None:
        return False
    return getattr(driver, "autocommit", None) is not True


class AsyncSerializer:
    """Serialises a store's operations when its database is one shared connection.

    An in-memory SQLite database lives in a single connection; without this,
    two tasks would interleave their transactions on it. A no-op otherwise.
    """

    def __init__(self, enabled: bool) -> None:
        self._lock = asyncio.Lock() if enabled else None

    async def __aenter__(self) -> None:
        if self._lock is not None:
            await self._lock.acquire()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._lock is not None:
            self._lock.release()


class Serializer:
    """The thread flavour of :class:`AsyncSerializer`."""

    def __init__(self, enabled: bool) -> None:
        self._lock = threading.Lock() if enabled else None

    def __enter__(self) -> None:
        if self._lock is not None:
            self._lock.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._lock is not None:
            self._lock.release()


def backoff_seconds(attempt: int) -> float:
    """A short, jittered pause before retrying a rolled-back transaction."""
    return float(min(0.2, 0.002 * 2**attempt) * (0.5 + random.random()))  # noqa: S311


class AsyncBackoff:
    """Waits before a retry without blocking the event loop."""

    @staticmethod
    async def pause(attempt: int) -> None:
        """Sleep :func:`backoff_seconds` for the ``attempt``-th retry."""
        await asyncio.sleep(backoff_seconds(attempt))


class Backoff:
    """The thread flavour of :class:`AsyncBackoff`."""

    @staticmethod
    def pause(attempt: int) -> None:
        """Sleep :func:`backoff_seconds` for the ``attempt``-th retry."""
        time.sleep(backoff_seconds(attempt))


class AsyncSchemaRunner:
    """Runs a blocking schema function (metadata, Alembic) on an async connection."""

    @staticmethod
    async def run(connection: AsyncConnection, function: Callable[[Connection], T]) -> T:
        """``function(sync_connection)``, on the connection's greenlet."""
        return await connection.run_sync(function)


class SchemaRunner:
    """The sync flavour of :class:`AsyncSchemaRunner`: calls the function directly."""

    @staticmethod
    def run(connection: Connection, function: Callable[[Connection], T]) -> T:
        """``function(connection)``."""
        return function(connection)
