"""Outages surface as StoreError and never leave a half-applied refresh behind.

Connection refused: every operation of every flavour raises StoreError.
Connection cut mid-consume: our own server connection is killed from another
connection (``pg_terminate_backend`` / ``KILL``) just before a chosen
statement or the commit; the call raises StoreError, and afterwards the old
token is either still usable or consumed with its successor stored. The
shared servers themselves are never stopped.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from refreshkit._async.conformance import _request, _session
from refreshkit.backends.sql import AsyncSQLStore, SQLStore, migrate
from refreshkit.errors import StoreError
from refreshkit.models import ConsumeOutcome, RefreshRecord

from .conftest import Database

T1 = timedelta(minutes=1)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


REFUSED = [
    pytest.param("postgresql+psycopg://postgres@127.0.0.1:{port}/test", id="psycopg"),
    pytest.param("mysql+pymysql://root@127.0.0.1:{port}/test", id="pymysql"),
    pytest.param("sqlite:////nonexistent-directory/refreshkit.db", id="sqlite"),
]
ASYNC_REFUSED = [
    pytest.param("postgresql+psycopg://postgres@127.0.0.1:{port}/test", id="psycopg-async"),
    pytest.param("postgresql+asyncpg://postgres@127.0.0.1:{port}/test", id="asyncpg"),
    pytest.param("mysql+aiomysql://root@127.0.0.1:{port}/test", id="aiomysql"),
    pytest.param("sqlite+aiosqlite:////nonexistent-directory/refreshkit.db", id="aiosqlite"),
]


def _operations() -> list[tuple[str, Callable[[Any], Any]]]:
    session, record, _ = _session()
    now = session.created_at
    return [
        ("create_session", lambda s: s.create_session(session, record)),
        ("consume", lambda s: s.consume(_request(record, now=now))),
        ("consume without rotation", lambda s: s.consume(_request(record, now=now, rotate=False))),
        ("find", lambda s: s.find(record.token_id)),
        ("get_session", lambda s: s.get_session(session.sid)),
        ("list_sessions", lambda s: s.list_sessions("alice")),
        ("revoke_session", lambda s: s.revoke_session(session.sid, now, "logout")),
        ("revoke_subject", lambda s: s.revoke_subject("alice", now, "logout")),
        ("deny_access", lambda s: s.deny_access("jti", now)),
        ("check_access", lambda s: s.check_access("jti", session.sid, now)),
        ("purge_expired", lambda s: s.purge_expired(now)),
        ("create_tables", lambda s: s.create_tables()),
    ]


@pytest.mark.parametrize("url", REFUSED)
def test_a_refused_connection_is_a_store_error_on_every_operation(url: str) -> None:
    store = SQLStore(url.format(port=_closed_port()), engine_options={"pool_pre_ping": False})
    try:
        for name, operation in _operations():
            with pytest.raises(StoreError) as caught:
                operation(store)
            assert caught.value.__cause__ is not None, name
    finally:
        store.close()


@pytest.mark.parametrize("url", ASYNC_REFUSED)
async def test_a_refused_connection_is_a_store_error_on_every_async_operation(url: str) -> None:
    store = AsyncSQLStore(url.format(port=_closed_port()))
    try:
        for name, operation in _operations():
            with pytest.raises(StoreError) as caught:
                await operation(store)
            assert caught.value.__cause__ is not None, name
    finally:
        await store.aclose()


@pytest.mark.parametrize("url", REFUSED)
def test_migrating_an_unreachable_database_is_a_store_error(url: str) -> None:
    with pytest.raises(StoreError):
        migrate.upgrade(url.format(port=_closed_port()))


@pytest.mark.sqlite
def test_store_errors_never_show_secret_hashes(tmp_path: Any) -> None:
    path = tmp_path / "wrong-tables.db"
    with sqlite3.connect(path) as broken:  # tables of the right names and the wrong shape
        broken.execute("CREATE TABLE refreshkit_sessions (sid TEXT)")
        broken.execute("CREATE TABLE refreshkit_refresh_tokens (token_id TEXT)")
    store = SQLStore(f"sqlite:///{path}", create_tables=False)
    session, record, _ = _session()
    try:
        with pytest.raises(StoreError) as caught:
            store.create_session(session, record)
    finally:
        store.close()
    shown = f"{caught.value} {caught.value!r} {caught.value.__cause__}"
    assert record.secret_hash not in shown


# ------------------------------------------------------ cut mid-consume


class ConnectionKiller:
    """Kills the store's own server connection once, just before a chosen moment."""

    def __init__(self, store: SQLStore, admin: sa.Engine) -> None:
        self.store, self.admin = store, admin
        self.armed: str | None = None
        self.fired = False
        engine = store.engine
        sa.event.listen(engine, "before_cursor_execute", self._before_statement)
        sa.event.listen(engine, "commit", self._before_commit)

    def _server_id(self, connection: sa.Connection) -> int:
        dbapi = connection.connection.dbapi_connection
        if connection.dialect.name == "postgresql":
            return int(dbapi.info.backend_pid)  # type: ignore[union-attr]
        return int(dbapi.thread_id())  # type: ignore[union-attr]

    def _kill(self, connection: sa.Connection) -> None:
        self.armed, self.fired = None, True
        server_id = self._server_id(connection)
        with self.admin.connect() as admin:
            if connection.dialect.name == "postgresql":
                admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": server_id})
            else:
                admin.exec_driver_sql(f"KILL {server_id}")

    def _before_statement(
        self, connection: sa.Connection, _c: Any, statement: str, *_: Any
    ) -> None:
        if self.armed and self.armed != "commit" and statement.lstrip().startswith(self.armed):
            self._kill(connection)

    def _before_commit(self, connection: sa.Connection) -> None:
        if self.armed == "commit":
            self._kill(connection)


CUT_DATABASES = [
    pytest.param("postgres_db", marks=pytest.mark.postgres, id="postgres"),
    pytest.param("mariadb_db", marks=pytest.mark.mariadb, id="mariadb"),
]


@pytest.fixture(params=CUT_DATABASES)
def database(request: pytest.FixtureRequest) -> Iterator[Database]:
    database: Database = request.getfixturevalue(request.param)
    yield database
    database.clear()


def _killer(database: Database) -> Iterator[ConnectionKiller]:
    store = SQLStore(database.url, table_prefix=database.prefix)
    admin = sa.create_engine(database.url, isolation_level="AUTOCOMMIT")
    yield ConnectionKiller(store, admin)
    store.close()
    admin.dispose()


@pytest.fixture
def killer(database: Database) -> Iterator[ConnectionKiller]:
    yield from _killer(database)


@pytest.fixture
def postgres_killer(postgres_db: Database) -> Iterator[ConnectionKiller]:
    yield from _killer(postgres_db)
    postgres_db.clear()


def _assert_nothing_half_written(
    database: Database, record: RefreshRecord, *, rotate: bool = True
) -> None:
    """The token is usable again, or consumed with every successor it paid for stored."""
    store = SQLStore(database.url, table_prefix=database.prefix)
    try:
        state = store.find(record.token_id)
        assert state is not None
        current = store.find(state.session.current_token_id)
        assert current is not None, "the session points at a successor that was never stored"
        tokens = store.tables.records
        with store.engine.connect() as connection:
            children = connection.scalar(
                sa.select(sa.func.count()).where(tokens.c.parent_id == record.token_id)
            )
        assert children == (state.record.use_count if rotate else 0)
        if state.record.consumed_at is None:
            retry = store.consume(_request(record, now=record.created_at + 2 * T1, rotate=rotate))
            assert retry.outcome is (ConsumeOutcome.ROTATED if rotate else ConsumeOutcome.REUSED)
    finally:
        store.close()


#: What a consume sends on each database, so which cuts can hit it: a
#: rotation (PostgreSQL: one autocommit statement, cut separately below), a
#: retry (writes nothing: reads, and MariaDB's commit of its locked read) and
#: a refresh with rotation off (the locked path with its writes, everywhere).
REACHED = {
    ("postgres", "rotation"): set(),
    ("mariadb", "rotation"): {"SELECT", "UPDATE", "INSERT", "commit"},
    ("postgres", "retry"): {"SELECT"},
    ("mariadb", "retry"): {"SELECT", "commit"},
    ("postgres", "rotation off"): {"SELECT", "UPDATE", "commit"},
    ("mariadb", "rotation off"): {"SELECT", "UPDATE", "commit"},
}
#: (first SQL word to cut before, or "commit"; which consume)
MOMENTS = [
    pytest.param(moment, flavour, id=f"{flavour.replace(' ', '-')}-{moment.lower()}")
    for flavour in ("rotation", "retry", "rotation off")
    for moment in ("SELECT", "UPDATE", "INSERT", "commit")
    if flavour != "rotation off" or moment != "INSERT"
]


@pytest.mark.parametrize(("moment", "flavour"), MOMENTS)
def test_a_connection_cut_mid_consume_raises_store_error_and_loses_nothing(
    killer: ConnectionKiller, database: Database, moment: str, flavour: str
) -> None:
    store = killer.store
    kind = "postgres" if store.engine.dialect.name == "postgresql" else "mariadb"
    session, record, _ = _session()
    store.create_session(session, record)
    now = session.created_at + T1
    if flavour == "retry":
        first = store.consume(_request(record, now=now))
        assert first.outcome is ConsumeOutcome.ROTATED
        request = _request(record, now=now, retry=T1)
        expected = ConsumeOutcome.REPLAYED
    elif flavour == "rotation":
        request = _request(record, now=now)
        expected = ConsumeOutcome.ROTATED
    else:
        request = _request(record, now=now, rotate=False)
        expected = ConsumeOutcome.REUSED
    killer.armed = moment
    if moment not in REACHED[kind, flavour]:
        # Nothing of this kind is sent (a retry never writes): the consume just works.
        assert store.consume(request).outcome is expected
        assert not killer.fired
    else:
        with pytest.raises(StoreError) as caught:
            store.consume(request)
        assert caught.value.__cause__ is not None
        assert killer.fired
    _assert_nothing_half_written(database, record, rotate=flavour != "rotation off")


@pytest.mark.postgres
def test_a_connection_cut_during_the_one_statement_rotation_loses_nothing(
    postgres_killer: ConnectionKiller, postgres_db: Database
) -> None:
    store = postgres_killer.store
    session, record, _ = _session()
    store.create_session(session, record)
    postgres_killer.armed = "WITH"
    with pytest.raises(StoreError) as caught:
        store.consume(_request(record, now=session.created_at + T1))
    assert caught.value.__cause__ is not None
    assert postgres_killer.fired
    _assert_nothing_half_written(postgres_db, record)
