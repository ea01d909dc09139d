"""The SQL token store on SQLAlchemy Core, async flavour (the sync twin is generated).

A session is one row, and every write to it is a compare-and-set
(:meth:`AsyncSQLStore.compare_and_set`) translated from the generic checks
and changes into one guarded ``UPDATE`` built once per update shape
(:class:`~._statements.Statements`); the store decides nothing. The round
trips each operation costs per dialect are listed in ``docs/backends/sql.rst``:

* PostgreSQL: ``UPDATE ... WHERE sid = :key AND <checks> RETURNING *`` in
  autocommit, one round trip; when no row comes back (the checks failed, the
  rare path) a plain read of the committed row reports the session as found.
* SQLite: the same ``UPDATE ... RETURNING``, whose transaction takes the
  database write lock with that first statement, then ``COMMIT``; when it
  matched nothing the read of the row runs in the same transaction.
* MariaDB/MySQL (no ``UPDATE ... RETURNING``): one transaction of the
  ``UPDATE`` (applied when it matched the row), a locking read of the row
  (the latest committed version, never a stale REPEATABLE READ snapshot),
  and ``COMMIT``.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from ... import _policy
from ...errors import StoreError
from ...models import AccessCheck, Session, SessionUpdate, SubjectCutoff, UpdateResult
from .._rows import session_from_row, session_values
from ..base import validate_update
from . import _engines, _statements, migrate
from ._engines import (
    AsyncBackoff,
    AsyncSchemaRunner,
    AsyncSerializer,
    begins_implicitly,
    check_url,
    dialect_family,
    is_memory_sqlite,
    missing_driver_hint,
    prepare_engine,
)
from ._errors import TransientStoreError, map_errors, missing_schema_message
from .schema import DEFAULT_PREFIX, SQLTables, build_tables

__all__ = ["AsyncSQLStore"]


class _Mode(enum.Enum):
    #: Reads: autocommit on PostgreSQL, else a transaction rolled back at the end.
    READ = "read"
    #: A write statement (and maybe reads after it): each autocommits on
    #: PostgreSQL, else one committed transaction. SQLite relies on the
    #: driver's own BEGIN before the write when it has one (``begins_implicitly``).
    STATEMENT = "statement"
    #: Statements committed together, the first of which writes; on PostgreSQL too.
    WRITE = "write"
    #: Several statements committed together, reading first (SQLite: BEGIN IMMEDIATE).
    TRANSACTION = "transaction"


class AsyncSQLStore:
    """An :class:`~refreshkit.backends.base.AsyncTokenStore` on a SQLAlchemy ``AsyncEngine``.

    ``engine`` is a URL (the store opens and, on :meth:`aclose`, disposes its
    own engine) or a ready ``AsyncEngine`` the application shares (left open).
    ``table_prefix`` names the tables; ``metadata`` puts them on the
    application's own ``MetaData``. ``create_tables=True`` creates missing
    tables on first use and stamps them with the newest migration, so
    ``refreshkit db upgrade`` takes over later; the default (None) does so on
    SQLite, a private database, and never on a shared PostgreSQL or MariaDB,
    which the deploy migrates. Using a store whose tables are missing raises
    ``refreshkit.SchemaMissingError`` naming the fix.
    Transient failures of :meth:`compare_and_set` (deadlock, serialization
    failure, lock timeout) are retried up to ``max_retries`` times. ``engine_options`` go to
    ``create_async_engine`` when the store opens the engine.

    Raises :class:`~refreshkit.errors.ConfigurationError` for a URL of the
    wrong flavour, an unsupported database or a missing driver.
    """

    def __init__(
        self,
        engine: AsyncEngine | str | sa.URL,
        *,
        table_prefix: str = DEFAULT_PREFIX,
        metadata: sa.MetaData | None = None,
        create_tables: bool | None = None,
        max_retries: int = 5,
        engine_options: dict[str, Any] | None = None,
    ) -> None:
        self.tables: SQLTables = build_tables(table_prefix, metadata)
        if isinstance(engine, str | sa.URL):
            url = check_url(engine, AsyncEngine)
            with missing_driver_hint(url):
                self._engine = create_async_engine(
                    url, **_engines.engine_options(url, engine_options)
                )
            prepare_engine(self._engine, url)
            self._owns_engine = True
        else:
            self._engine = engine
            self._owns_engine = False
        self._family = dialect_family(self._engine.dialect.name)
        self._sql = _statements.Statements(self.tables, self._family)
        self._autocommit = (
            self._engine.execution_options(isolation_level="AUTOCOMMIT")
            if self._family == "postgresql"
            else None
        )
        self._serial = AsyncSerializer(is_memory_sqlite(self._engine.url))
        if create_tables is None:
            create_tables = self._family == "sqlite"
        self._tables_ready = not create_tables
        self._missing_schema = missing_schema_message(self.tables.prefix, DEFAULT_PREFIX)
        self._max_retries = max_retries

    @property
    def engine(self) -> AsyncEngine:
        """The engine the store runs on."""
        return self._engine

    # ------------------------------------------------------------- plumbing

    @asynccontextmanager
    async def _connect(
        self, operation: str, mode: _Mode, *, ensure_tables: bool = True
    ) -> AsyncIterator[AsyncConnection]:
        """A connection for one operation, with errors mapped to StoreError."""
        if ensure_tables and not self._tables_ready:
            await self.create_tables()
        with map_errors(operation, self._missing_schema):
            if self._autocommit is not None and mode in (_Mode.READ, _Mode.STATEMENT):
                async with self._serial, self._autocommit.connect() as connection:
                    yield connection
                return
            async with self._serial, self._engine.connect() as connection:
                if self._locks_first(mode, connection):
                    await connection.exec_driver_sql("BEGIN IMMEDIATE")
                yield connection
                if mode is not _Mode.READ:
                    await connection.commit()

    def _locks_first(self, mode: _Mode, connection: AsyncConnection) -> bool:
        """SQLite: whether to take the write lock with ``BEGIN IMMEDIATE`` up front.

        Needed when the transaction reads before it writes (a deferred one
        could then fail to upgrade), or when the driver autocommits.
        """
        if self._family != "sqlite" or mode is _Mode.READ:
            return False
        return mode is _Mode.TRANSACTION or not begins_implicitly(connection)

    async def create_tables(self) -> None:
        """Create any missing table and stamp the newest migration; idempotent.

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        tables = self.tables
        async with self._connect("create_tables", _Mode.TRANSACTION, ensure_tables=False) as conn:
            await AsyncSchemaRunner.run(conn, lambda sync: migrate.create_and_stamp(sync, tables))
        self._tables_ready = True

    async def drop_tables(self) -> None:
        """Drop the store's tables and their version table (tests only: data is lost).

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        tables = self.tables
        async with self._connect("drop_tables", _Mode.TRANSACTION, ensure_tables=False) as conn:
            await AsyncSchemaRunner.run(conn, lambda sync: migrate.drop(sync, tables))
        self._tables_ready = False

    # -------------------------------------------------------------- storing

    async def create_session(self, session: Session) -> None:
        """Store a new session (one row, its first token's hash included).

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        async with self._connect("create_session", _Mode.STATEMENT) as conn:
            await conn.execute(self._sql.insert_session, session_values(session))

    async def get_session(self, sid: str) -> Session | None:
        """The session, or None if unknown.

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        async with self._connect("get_session", _Mode.READ) as conn:
            row = (await conn.execute(self._sql.select_session, {"key": sid})).first()
        return session_from_row(row._mapping) if row is not None else None

    async def list_sessions(self, subject: str) -> list[Session]:
        """Every stored session of ``subject``, live or not.

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        async with self._connect("list_sessions", _Mode.READ) as conn:
            result = await conn.execute(self._sql.select_sessions_of, {"owner": subject})
            rows = result.all()
        return [session_from_row(row._mapping) for row in rows]

    # ------------------------------------------------------ compare-and-set

    async def compare_and_set(self, update: SessionUpdate) -> UpdateResult:
        """Apply ``update`` atomically, as :func:`~refreshkit.backends.base.apply_update` defines.

        Retries a transaction the database rolled back (deadlock, serialization
        failure, lock timeout) up to ``max_retries`` times; nothing is ever
        half-written. Raises :class:`ValueError` for an update naming a field
        outside the contract, and :class:`~refreshkit.errors.StoreError` when
        the database fails or stays contended.
        """
        validate_update(update)
        statements = self._sql.compare_and_set(_statements.shape_of(update))
        params = _statements.update_params(update)
        attempt = 0
        while True:
            try:
                return await self._compare_and_set_once(statements, params)
            except TransientStoreError:
                attempt += 1
                if attempt > self._max_retries:
                    raise
                await AsyncBackoff.pause(attempt)

    async def _compare_and_set_once(
        self, statements: _statements.CompareAndSet, params: dict[str, Any]
    ) -> UpdateResult:
        sql = self._sql
        if statements.update is None:
            # Nothing to write: the checks and the row in one consistent read.
            async with self._connect("compare_and_set", _Mode.READ) as conn:
                held = (await conn.execute(statements.select_held, params)).first()
            if held is None:
                return UpdateResult(False, None)
            return UpdateResult(bool(held.held), session_from_row(held._mapping))
        if sql.returning:
            async with self._connect("compare_and_set", _Mode.STATEMENT) as conn:
                written = (await conn.execute(statements.update, params)).first()
                if written is not None:
                    return UpdateResult(True, session_from_row(written._mapping))
                # The checks failed: report the row as it is now (in SQLite's
                # transaction, under the write lock the update took).
                found = (await conn.execute(sql.select_session, params)).first()
            return UpdateResult(False, session_from_row(found._mapping) if found else None)
        async with self._connect("compare_and_set", _Mode.WRITE) as conn:
            applied = (await conn.execute(statements.update, params)).rowcount == 1
            found = (await conn.execute(sql.select_session_latest, params)).first()
        return UpdateResult(applied, session_from_row(found._mapping) if found else None)

    # ----------------------------------------------------------- revocation

    async def revoke_subject(self, subject: str, now: datetime, reason: str) -> int:
        """Revoke every unrevoked session of ``subject`` in one statement; how many it revoked.

        The policy's revocation (:func:`refreshkit._policy.revocation`),
        translated like any compare-and-set, for all the subject's rows.
        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        revocation = _policy.revocation("", now, reason)
        statement = self._sql.revoke_subject(revocation)
        params = _statements.update_params(revocation, key=subject)
        async with self._connect("revoke_subject", _Mode.STATEMENT) as conn:
            result = await conn.execute(statement, params)
        return result.rowcount

    async def deny_access(self, jti: str, until: datetime) -> None:
        """Deny the access token ``jti`` until ``until`` (a later denial wins).

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        async with self._connect("deny_access", _Mode.STATEMENT) as conn:
            await conn.execute(self._sql.deny_access, {"denied": jti, "until": until})

    async def check_access(
        self, jti: str, sid: str, now: datetime, subject: str | None = None
    ) -> AccessCheck:
        """Is ``jti`` denied at ``now``, the session's state, and ``subject``'s cutoff.

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        sql = self._sql
        cutoff = None
        async with self._connect("check_access", _Mode.READ) as conn:
            denied = (await conn.execute(sql.select_denied, {"denied": jti, "now": now})).first()
            row = (await conn.execute(sql.select_session, {"key": sid})).first()
            if subject is not None:
                cutoff = (await conn.execute(sql.select_cutoff, {"owner": subject})).first()
        session = session_from_row(row._mapping) if row is not None else None
        return AccessCheck(
            denied is not None, session, cutoff.cutoff_at if cutoff is not None else None
        )

    async def record_cutoff(self, cutoff: SubjectCutoff) -> SubjectCutoff:
        """Store ``cutoff`` unless a later one is stored (one upsert); the one stored.

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        params = {
            "owner": cutoff.subject,
            "cutoff_at": cutoff.before,
            "reason": cutoff.reason,
            "recorded_at": cutoff.recorded_at,
        }
        async with self._connect("record_cutoff", _Mode.STATEMENT) as conn:
            await conn.execute(self._sql.record_cutoff, params)
        stored = await self.get_cutoff(cutoff.subject)
        if stored is None:  # pragma: no cover - the upsert just wrote it
            raise StoreError("the cutoff just recorded is missing")
        return stored

    async def get_cutoff(self, subject: str) -> SubjectCutoff | None:
        """The subject's cutoff, or None.

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        async with self._connect("get_cutoff", _Mode.READ) as conn:
            row = (await conn.execute(self._sql.select_cutoff, {"owner": subject})).first()
        if row is None:
            return None
        return SubjectCutoff(subject, row.cutoff_at, row.reason, row.recorded_at)

    # ---------------------------------------------------------------- purge

    async def purge_expired(self, now: datetime, batch_size: int = 1000) -> int:
        """Delete sessions expired at ``now``, then expired denials.

        Each batch of ``batch_size`` is its own short transaction, found through
        the expiry index and starting where the previous batch ended, so every
        batch costs the same however many were deleted before it; revoked
        sessions stay until they expire. Returns the number of sessions
        deleted. Raises :class:`~refreshkit.errors.StoreError` when the
        database fails.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        deleted, after = 0, _statements.PURGE_START
        while True:
            batch, after = await self._purge_sessions(now, after, batch_size)
            deleted += batch
            if batch < batch_size:
                break
        statement = self._sql.purge_denials(batch_size)
        while True:
            async with self._connect("purge_expired", _Mode.STATEMENT) as conn:
                denials = (await conn.execute(statement, {"now": now})).rowcount
            if denials < batch_size:
                return deleted

    async def _purge_sessions(
        self, now: datetime, after: datetime, batch_size: int
    ) -> tuple[int, datetime]:
        """Delete one batch expiring from ``after`` on: how many, and the latest expiry deleted."""
        sql = self._sql
        params = _statements.purge_params(now, after, batch_size)
        if self._family == "postgresql":
            async with self._connect("purge_expired", _Mode.STATEMENT) as conn:
                row = (await conn.execute(sql.purge_batch_in_one, params)).one()
            return int(row.deleted), row.last if row.last is not None else after
        async with self._connect("purge_expired", _Mode.TRANSACTION) as conn:
            expired = (await conn.execute(sql.select_expired, params)).all()
            if expired:
                await conn.execute(sql.delete_sessions, {"doomed": [row.sid for row in expired]})
        return len(expired), expired[-1].expires_at if expired else after

    async def aclose(self) -> None:
        """Dispose of the engine if the store opened it; a shared engine stays open."""
        if self._owns_engine:
            await self._engine.dispose()

    def __repr__(self) -> str:
        url = self._engine.url.render_as_string(hide_password=True)
        return f"{type(self).__name__}({url!r}, table_prefix={self.tables.prefix!r})"
