"""The SQL token store on SQLAlchemy Core, async flavour (the sync twin is generated).

Every operation is one short transaction (or, on PostgreSQL, one autocommit
statement) running statements built once per store
(:class:`~._statements.Statements`); the round trips each costs per dialect
are listed in ``docs/backends/sql.rst``. ``consume`` takes the cheapest safe
road:

* PostgreSQL, rotation on: one statement (``rotate_in_one``) locks the
  session, consumes the record if it is current, advances the session (with
  its sealed successor) and inserts the successor: one round trip. When it
  finds nothing to rotate, a plain read of the committed state settles it: a
  retry is REPLAYED, anything else refused, and nothing is written.
* SQLite, rotation on: one guarded ``UPDATE ... RETURNING`` consumes the
  record only if it is the current token of a live session, then the session
  advances and the successor is inserted, in one transaction whose first
  statement (the guarded update) takes the database write lock. When it
  touches no row, the locked path runs in the same transaction.
* The locked path (MariaDB, rotation off, retries, rejections): read the
  session and record locked (``FOR UPDATE``), apply
  :func:`refreshkit._policy.transition` and write the result, if it is one
  that writes (ROTATED or REUSED), with updates guarded by the values read,
  checked by row count (on MariaDB one joined ``UPDATE`` of both rows). A
  retry (REPLAYED) and a refusal write nothing.
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
    ConsumeRequest,
    ConsumeResult,
    RefreshRecord,
    Session,
    TokenState,
)
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
from ._rows import (
    record_from_row,
    record_params,
    session_from_row,
    session_params,
    state_from_row,
)
from .schema import DEFAULT_PREFIX, SQLTables, build_tables

__all__ = ["AsyncSQLStore"]


class _Mode(enum.Enum):
    #: Reads: autocommit on PostgreSQL, else a transaction rolled back at the end.
    READ = "read"
    #: One write statement: autocommit on PostgreSQL, else a committed transaction.
    STATEMENT = "statement"
    #: Several statements committed together, the first of which writes. SQLite
    #: relies on the driver's own BEGIN when it has one (see ``begins_implicitly``).
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

    async def create_session(self, session: Session, record: RefreshRecord) -> None:
        """Store a new session with its first refresh record, atomically.

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        sql = self._sql
        if self._family == "postgresql":
            params = {**session_params(session), **record_params(record)}
            async with self._connect("create_session", _Mode.STATEMENT) as conn:
                await conn.execute(sql.create_session_in_one, params)
            return
        async with self._connect("create_session", _Mode.WRITE) as conn:
            await conn.execute(sql.insert_session, session_params(session))
            await conn.execute(sql.insert_record, record_params(record))

    async def find(self, token_id: str) -> TokenState | None:
        """The record and its session, or None if either is unknown.

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        params = _statements.state_params(token_id)
        async with self._connect("find", _Mode.READ) as conn:
            row = (await conn.execute(self._sql.select_state, params)).first()
        if row is None:
            return None
        record, session = state_from_row(row._mapping)
        if record is None or session is None:
            return None
        return TokenState(record, session)

    async def get_session(self, sid: str) -> Session | None:
        """The session, or None if unknown.

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        async with self._connect("get_session", _Mode.READ) as conn:
            row = (await conn.execute(self._sql.select_session, {"session": sid})).first()
        return session_from_row(row._mapping) if row is not None else None

    async def list_sessions(self, subject: str) -> list[Session]:
        """Every stored session of ``subject``, live or not.

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        async with self._connect("list_sessions", _Mode.READ) as conn:
            result = await conn.execute(self._sql.select_sessions_of, {"owner": subject})
            rows = result.all()
        sessions = (session_from_row(row._mapping) for row in rows)
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
        rotating = request.successor is not None
        if rotating and self._family == "postgresql":
            params = _statements.rotation_params(request)
            async with self._connect("consume", _Mode.STATEMENT) as conn:
                row = (await conn.execute(self._sql.rotate_in_one, params)).first()
            if row is not None:
                return _statements.rotated(*state_from_row(row._mapping), request)
            # Nothing rotated: mostly a retry (REPLAYED, which writes nothing) or
            # a lost race, which a plain read of the committed state settles
            # without a transaction.
            async with self._connect("consume", _Mode.READ) as conn:
                record, session = await self._state(conn, request.token_id, lock=False)
            result = _policy.transition(record, session, request)
            if not result.applied:
                return result
        if rotating and self._family == "sqlite":
            async with self._connect("consume", _Mode.WRITE) as conn:
                rotated = await self._rotate_current(conn, request)
                if rotated is not None:
                    return rotated
                # The guarded update took the write lock even though it matched
                # nothing: the locked path runs in the same transaction.
                return await self._consume_locked(conn, request)
        async with self._connect("consume", _Mode.TRANSACTION) as conn:
            return await self._consume_locked(conn, request)

    async def _rotate_current(
        self, conn: AsyncConnection, request: ConsumeRequest
    ) -> ConsumeResult | None:
        """SQLite: rotate a current token in three statements, or None (nothing written).

        The guarded update consumes the record only when the rules say
        ROTATED, and takes the database write lock (matching or not), so the
        session cannot move before it advances.
        """
        sql = self._sql
        params = _statements.rotation_params(request)
        row = (await conn.execute(sql.consume_current, params)).first()
        if row is None:
            return None
        record = record_from_row(row._mapping)
        assert record is not None
        params["consumed_generation"] = record.generation
        moved = (await conn.execute(sql.advance_session, params)).first()
        if moved is None:
            raise TransientStoreError("SQL store: consume raced; retrying")
        result = _statements.rotated(record, session_from_row(moved._mapping), request)
        assert result.issued is not None
        await conn.execute(sql.insert_record, record_params(result.issued))
        return result

    async def _consume_locked(
        self, conn: AsyncConnection, request: ConsumeRequest
    ) -> ConsumeResult:
        """Read the state locked, apply the policy and write what it decided."""
        record, session = await self._state(conn, request.token_id, lock=True)
        result = _policy.transition(record, session, request)
        if not result.applied:
            return result
        assert record is not None and session is not None
        params = _statements.transition_params(record, session, result)
        for write in self._sql.transition_writes:
            written = await conn.execute(write.statement, params)
            if written.rowcount != write.expected_rows:
                raise TransientStoreError("SQL store: consume raced; retrying")
        if result.issued is not None:
            await conn.execute(self._sql.insert_record, record_params(result.issued))
        return result

    async def _state(
        self, conn: AsyncConnection, token_id: str, *, lock: bool
    ) -> tuple[RefreshRecord | None, Session | None]:
        """The token's record and its session, read together (locked with ``lock``)."""
        sql = self._sql
        params = _statements.state_params(token_id)
        select = sql.select_state_locked if lock else sql.select_state
        row = (await conn.execute(select, params)).first()
        if row is not None:
            return state_from_row(row._mapping)
        # No session joins it (purged, or stored under another session than its
        # id names): report the record alone, which classifies as unknown.
        found = (await conn.execute(sql.select_record, params)).first()
        return (record_from_row(found._mapping) if found is not None else None), None

    # ----------------------------------------------------------- revocation

    async def revoke_session(self, sid: str, now: datetime, reason: str) -> bool:
        """Mark the session revoked; True if this call revoked it.

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        params = {"session": sid, "now": now, "reason": reason}
        async with self._connect("revoke_session", _Mode.STATEMENT) as conn:
            result = await conn.execute(self._sql.revoke_session, params)
        return result.rowcount == 1

    async def revoke_subject(self, subject: str, now: datetime, reason: str) -> int:
        """Revoke every session of ``subject``; how many this call revoked.

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        params = {"owner": subject, "now": now, "reason": reason}
        async with self._connect("revoke_subject", _Mode.STATEMENT) as conn:
            result = await conn.execute(self._sql.revoke_subject, params)
        return result.rowcount

    async def deny_access(self, jti: str, until: datetime) -> None:
        """Deny the access token ``jti`` until ``until`` (a later denial wins).

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        async with self._connect("deny_access", _Mode.STATEMENT) as conn:
            await conn.execute(self._sql.deny_access, {"denied": jti, "until": until})

    async def check_access(self, jti: str, sid: str, now: datetime) -> AccessCheck:
        """Is ``jti`` denied at ``now``, and the session's state.

        Raises :class:`~refreshkit.errors.StoreError` when the database fails.
        """
        sql = self._sql
        async with self._connect("check_access", _Mode.READ) as conn:
            denied = (await conn.execute(sql.select_denied, {"denied": jti, "now": now})).first()
            row = (await conn.execute(sql.select_session, {"session": sid})).first()
        session = session_from_row(row._mapping) if row is not None else None
        return AccessCheck(denied is not None, session)

    # ---------------------------------------------------------------- purge

    async def purge_expired(self, now: datetime, batch_size: int = 1000) -> int:
        """Delete sessions expired at ``now`` with their tokens, then expired denials.

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
                doomed = {"doomed": [row.sid for row in expired]}
                for statement in sql.delete_sessions:
                    await conn.execute(statement, doomed)
        return len(expired), expired[-1].expires_at if expired else after

    async def aclose(self) -> None:
        """Dispose of the engine if the store opened it; a shared engine stays open."""
        if self._owns_engine:
            await self._engine.dispose()

    def __repr__(self) -> str:
        url = self._engine.url.render_as_string(hide_password=True)
        return f"{type(self).__name__}({url!r}, table_prefix={self.tables.prefix!r})"
