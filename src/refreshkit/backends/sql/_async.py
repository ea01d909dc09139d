"""The SQL token store on SQLAlchemy Core, async flavour (the sync twin is generated).

Every operation is one short transaction (or, on PostgreSQL, one autocommit
statement); the round trips each costs per dialect are listed in
``docs/backends/sql.rst``. ``consume`` takes the cheapest safe road:

* PostgreSQL, rotation on: one statement (:func:`statements.postgres_rotation`)
  locks the session, consumes the record if it is current, advances the
  session and inserts the successor: one round trip. When it finds nothing to
  rotate, the locked path below decides what happened.
* Otherwise (MariaDB, SQLite, grace, rotation off, rejections): one
  transaction reads the session and record locked (``FOR UPDATE``; SQLite
  holds the write lock from ``BEGIN IMMEDIATE``), applies
  :func:`refreshkit._policy.transition` and writes the result with updates
  guarded by the values read, checked by row count.
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
from ...models import (
    AccessCheck,
    ConsumeOutcome,
    ConsumeRequest,
    ConsumeResult,
    RefreshRecord,
    Session,
    TokenState,
)
from . import _engines, migrate, statements
from ._engines import (
    AsyncBackoff,
    AsyncSchemaRunner,
    AsyncSerializer,
    check_url,
    dialect_family,
    is_memory_sqlite,
    missing_driver_hint,
    prepare_engine,
)
from ._errors import TransientStoreError, map_errors
from .schema import DEFAULT_PREFIX, SQLTables, build_tables

__all__ = ["AsyncSQLStore"]


class _Mode(enum.Enum):
    #: Reads: autocommit on PostgreSQL, else a transaction rolled back at the end.
    READ = "read"
    #: One write statement: autocommit on PostgreSQL, else a committed transaction.
    STATEMENT = "statement"
    #: Several statements, committed together (SQLite: under BEGIN IMMEDIATE).
    TRANSACTION = "transaction"


class AsyncSQLStore:
    """An :class:`~refreshkit.backends.base.AsyncTokenStore` on a SQLAlchemy ``AsyncEngine``.

    ``engine`` is a URL (the store opens and, on :meth:`aclose`, disposes its
    own engine) or a ready ``AsyncEngine`` the application shares (left open).
    ``table_prefix`` names the tables; ``metadata`` puts them on the
    application's own ``MetaData``. ``create_tables=True`` creates missing
    tables on first use (embedded and demo setups; use migrations otherwise).
    Transient failures of ``consume`` (deadlock, serialization failure, lock
    timeout) are retried up to ``max_retries`` times. ``engine_options`` go to
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
        create_tables: bool = False,
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
        self._autocommit = (
            self._engine.execution_options(isolation_level="AUTOCOMMIT")
            if self._family == "postgresql"
            else None
        )
        self._serial = AsyncSerializer(is_memory_sqlite(self._engine.url))
        self._tables_ready = not create_tables
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
        with map_errors(operation):
            if self._autocommit is not None and mode is not _Mode.TRANSACTION:
                async with self._serial, self._autocommit.connect() as connection:
                    yield connection
                return
            async with self._serial, self._engine.connect() as connection:
                if self._family == "sqlite" and mode is not _Mode.READ:
                    await connection.exec_driver_sql("BEGIN IMMEDIATE")
                yield connection
                if mode is not _Mode.READ:
                    await connection.commit()

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

    async def create_session(self, session: Session, record: RefreshRecord) -> None:
        """Store a new session with its first refresh record, atomically.

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        t = self.tables
        if self._family == "postgresql":
            async with self._connect("create_session", _Mode.STATEMENT) as conn:
                await conn.execute(statements.postgres_create_session(t, session, record))
            return
        async with self._connect("create_session", _Mode.TRANSACTION) as conn:
            await conn.execute(statements.insert_session(t, session))
            await conn.execute(statements.insert_record(t, record))

    async def find(self, token_id: str) -> TokenState | None:
        """The record and its session, or None if either is unknown.

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        async with self._connect("find", _Mode.READ) as conn:
            row = (await conn.execute(statements.select_state(self.tables, token_id))).first()
        if row is None:
            return None
        record, session = statements.state_from_row(row._mapping)
        if record is None or session is None:
            return None
        return TokenState(record, session)

    async def get_session(self, sid: str) -> Session | None:
        """The session, or None if unknown.

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        async with self._connect("get_session", _Mode.READ) as conn:
            row = (await conn.execute(statements.select_session(self.tables, sid))).first()
        return statements.session_from_row(row._mapping) if row is not None else None

    async def list_sessions(self, subject: str) -> list[Session]:
        """Every stored session of ``subject``, live or not.

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        async with self._connect("list_sessions", _Mode.READ) as conn:
            result = await conn.execute(statements.select_sessions_of(self.tables, subject))
            rows = result.all()
        sessions = (statements.session_from_row(row._mapping) for row in rows)
        return [session for session in sessions if session is not None]

    # -------------------------------------------------------------- consume

    async def consume(self, request: ConsumeRequest) -> ConsumeResult:
        """Apply :func:`refreshkit._policy.transition` to the token atomically.

        Retries a transaction the database rolled back (deadlock, serialization
        failure, lock timeout) up to ``max_retries`` times; nothing is ever
        half-written. Raises :class:`~refreshkit.errors.StoreError` when the
        database fails or stays contended.
        """
        attempt = 0
        while True:
            try:
                return await self._consume_once(request)
            except TransientStoreError:
                attempt += 1
                if attempt > self._max_retries:
                    raise
                await AsyncBackoff.pause(attempt)

    async def _consume_once(self, request: ConsumeRequest) -> ConsumeResult:
        t = self.tables
        if self._family == "postgresql" and request.successor is not None:
            async with self._connect("consume", _Mode.STATEMENT) as conn:
                row = (await conn.execute(statements.postgres_rotation(t, request))).first()
            if row is not None:
                return statements.rotation_result(row._mapping, request)
            # Nothing rotated: mostly a replay or a lost race, which a plain read
            # of the committed state settles without a transaction.
            async with self._connect("consume", _Mode.READ) as conn:
                record, session = await self._state(conn, request.token_id, lock=False)
            if record is None or session is None:
                return ConsumeResult(ConsumeOutcome.REJECTED, record, session)
            result = _policy.transition(record, session, request)
            if not result.applied:
                return result
        async with self._connect("consume", _Mode.TRANSACTION) as conn:
            record, session = await self._state(conn, request.token_id, lock=True)
            if record is None or session is None:
                return ConsumeResult(ConsumeOutcome.REJECTED, record, session)
            result = _policy.transition(record, session, request)
            if result.applied:
                for write in statements.write_transition(t, record, session, result):
                    written = await conn.execute(write.statement)
                    if write.expected_rows not in (None, written.rowcount):
                        raise TransientStoreError("SQL store: consume raced; retrying")
            return result

    async def _state(
        self, conn: AsyncConnection, token_id: str, *, lock: bool
    ) -> tuple[RefreshRecord | None, Session | None]:
        """The token's record and its session, read together (locked with ``lock``)."""
        t = self.tables
        row = (await conn.execute(statements.select_state(t, token_id, lock=lock))).first()
        if row is not None:
            return statements.state_from_row(row._mapping)
        # No session joins it (purged, or stored under another session than its
        # id names): report the record alone, which classifies as unknown.
        found = (await conn.execute(statements.select_record(t, token_id))).first()
        return (statements.record_from_row(found._mapping) if found is not None else None), None

    # ----------------------------------------------------------- revocation

    async def revoke_session(self, sid: str, now: datetime, reason: str) -> bool:
        """Mark the session revoked; True if this call revoked it.

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        async with self._connect("revoke_session", _Mode.STATEMENT) as conn:
            result = await conn.execute(statements.revoke_session(self.tables, sid, now, reason))
        return result.rowcount == 1

    async def revoke_subject(self, subject: str, now: datetime, reason: str) -> int:
        """Revoke every session of ``subject``; how many this call revoked.

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        statement = statements.revoke_subject(self.tables, subject, now, reason)
        async with self._connect("revoke_subject", _Mode.STATEMENT) as conn:
            result = await conn.execute(statement)
        return result.rowcount

    async def deny_access(self, jti: str, until: datetime) -> None:
        """Deny the access token ``jti`` until ``until`` (a later denial wins).

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        statement = statements.deny_access(self.tables, self._family, jti, until)
        async with self._connect("deny_access", _Mode.STATEMENT) as conn:
            await conn.execute(statement)

    async def check_access(self, jti: str, sid: str, now: datetime) -> AccessCheck:
        """Is ``jti`` denied at ``now``, and the session's state.

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        t = self.tables
        async with self._connect("check_access", _Mode.READ) as conn:
            denied = (await conn.execute(statements.select_denied(t, jti, now))).first()
            row = (await conn.execute(statements.select_session(t, sid))).first()
        session = statements.session_from_row(row._mapping) if row is not None else None
        return AccessCheck(denied is not None, session)

    # ---------------------------------------------------------------- purge

    async def purge_expired(self, now: datetime, batch_size: int = 1000) -> int:
        """Delete sessions expired at ``now`` with their tokens, then expired denials.

        Each batch of ``batch_size`` is its own short transaction, found through
        the expiry index; revoked sessions stay until they expire. Returns the
        number of sessions deleted. Raises :class:`~refreshkit.errors.StoreError`
        when the database fails.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        deleted = 0
        while True:
            batch = await self._purge_sessions(now, batch_size)
            deleted += batch
            if batch < batch_size:
                break
        statement = statements.purge_denials(self.tables, self._family, now, batch_size)
        while True:
            async with self._connect("purge_expired", _Mode.STATEMENT) as conn:
                denials = (await conn.execute(statement)).rowcount
            if denials < batch_size:
                return deleted

    async def _purge_sessions(self, now: datetime, batch_size: int) -> int:
        t = self.tables
        if self._family == "postgresql":
            async with self._connect("purge_expired", _Mode.STATEMENT) as conn:
                count = await conn.scalar(statements.postgres_purge_batch(t, now, batch_size))
            return int(count or 0)
        lock = self._family == "mysql"
        async with self._connect("purge_expired", _Mode.TRANSACTION) as conn:
            expired = statements.select_expired_sessions(t, now, batch_size, lock=lock)
            sids = list((await conn.scalars(expired)).all())
            if sids:
                for statement in statements.delete_sessions(t, sids):
                    await conn.execute(statement)
        return len(sids)

    async def aclose(self) -> None:
        """Dispose of the engine if the store opened it; a shared engine stays open."""
        if self._owns_engine:
            await self._engine.dispose()

    def __repr__(self) -> str:
        url = self._engine.url.render_as_string(hide_password=True)
        return f"{type(self).__name__}({url!r}, table_prefix={self.tables.prefix!r})"
