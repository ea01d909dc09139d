"""Outages surface as StoreError and never leave a half-applied refresh behind.

Connection refused: every operation of every flavour raises StoreError.
Connection cut mid-compare-and-set: our own server connection is killed from
another connection (``pg_terminate_backend`` / ``KILL``) just before a
chosen statement or the commit; the call raises StoreError, and afterwards
the session is exactly as it was or exactly as the update leaves it (one
row: nothing in between exists), and the token refreshes again. The shared
servers themselves are never stopped.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from refreshkit import FrozenClock, KeySet, Settings, TokenManager, _policy, _tokens
from refreshkit._async.conformance import _session
from refreshkit.backends.base import apply_update
from refreshkit.backends.sql import AsyncSQLStore, SQLStore, migrate
from refreshkit.errors import StoreError
from refreshkit.models import SessionUpdate

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
    session = _session()
    now = session.created_at
    token = _tokens.new_refresh_token(session.sid)[0]
    refresh = _policy.refresh_attempt(token, now, Settings(), device=None).update
    touch = SessionUpdate(session.sid, ())
    return [
        ("create_session", lambda s: s.create_session(session)),
        ("compare_and_set", lambda s: s.compare_and_set(refresh)),
        ("compare_and_set writing nothing", lambda s: s.compare_and_set(touch)),
        ("get_session", lambda s: s.get_session(session.sid)),
        ("list_sessions", lambda s: s.list_sessions("alice")),
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
    store = SQLStore(f"sqlite:///{path}", create_tables=False)
    session = _session()
    try:
        with pytest.raises(StoreError) as caught:
            store.create_session(session)
    finally:
        store.close()
    shown = f"{caught.value} {caught.value!r} {caught.value.__cause__}"
    assert session.current_secret_hash not in shown


# ---------------------------------------------- cut mid-compare-and-set


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


def _manager(store: SQLStore, *, rotation: bool = True) -> TokenManager:
    settings = Settings(retry_window=T1) if rotation else Settings(rotation=False)
    clock = FrozenClock(_session().created_at)
    return TokenManager(settings, keys=KeySet.generate(), store=store, clock=clock)


def _assert_nothing_half_written(
    database: Database,
    before: Any,
    update: SessionUpdate,
    token: str,
    rotated_to: str | None,
    rotation: bool,
) -> None:
    """The session is as it was or as ``update`` leaves it, and ``token`` still refreshes.

    ``rotated_to``: the successor the session holds if ``update`` (or an
    earlier rotation) applied, which a retry of ``token`` must get back.
    """
    store = SQLStore(database.url, table_prefix=database.prefix)
    manager = _manager(store, rotation=rotation)
    try:
        after = store.get_session(before.sid)
        applied = apply_update(before, update).session
        assert after in (before, applied), "the session is neither before nor after the update"
        again = manager.refresh(token).refresh_token
        if not rotation:
            assert again == token
        elif after != before or before.generation > 0:
            assert again == rotated_to, "a retry of the applied rotation got another token"
        else:
            assert again not in (token, rotated_to)
    finally:
        manager.close()
        store.close()


#: What a compare-and-set sends on each database, so which cuts can hit it:
#: an applied update (PostgreSQL: one autocommit statement; MariaDB: the
#: update, a locking read, the commit) and one whose checks fail (a retry:
#: PostgreSQL reads the row after the update matched nothing).
REACHED = {
    ("postgres", "rotation"): {"UPDATE"},
    ("mariadb", "rotation"): {"UPDATE", "SELECT", "commit"},
    ("postgres", "retry"): {"UPDATE", "SELECT"},
    ("mariadb", "retry"): {"UPDATE", "SELECT", "commit"},
    ("postgres", "rotation off"): {"UPDATE"},
    ("mariadb", "rotation off"): {"UPDATE", "SELECT", "commit"},
}
#: (first SQL word to cut before, or "commit"; which update)
MOMENTS = [
    pytest.param(moment, flavour, id=f"{flavour.replace(' ', '-')}-{moment.lower()}")
    for flavour in ("rotation", "retry", "rotation off")
    for moment in ("UPDATE", "SELECT", "commit")
]


@pytest.mark.parametrize(("moment", "flavour"), MOMENTS)
def test_a_connection_cut_mid_compare_and_set_raises_store_error_and_loses_nothing(
    killer: ConnectionKiller, database: Database, moment: str, flavour: str
) -> None:
    store = killer.store
    kind = "postgres" if store.engine.dialect.name == "postgresql" else "mariadb"
    rotation = flavour != "rotation off"
    manager = _manager(store, rotation=rotation)
    token = manager.issue("alice").refresh_token
    settings = manager.settings
    now = manager.clock.now() + T1 / 2
    if flavour == "retry":
        first = _policy.refresh_attempt(token, now, settings, device=None)
        assert store.compare_and_set(first.update).applied
    attempt = _policy.refresh_attempt(token, now, settings, device=None)
    before = store.get_session(attempt.presented.sid)
    assert before is not None
    killer.armed = moment
    if moment not in REACHED[kind, flavour]:
        # Nothing of this kind is sent: the update just works.
        assert store.compare_and_set(attempt.update).applied is (flavour != "retry")
        assert not killer.fired
    else:
        with pytest.raises(StoreError) as caught:
            store.compare_and_set(attempt.update)
        assert caught.value.__cause__ is not None
        assert killer.fired
    successor = first.successor if flavour == "retry" else attempt.successor
    _assert_nothing_half_written(database, before, attempt.update, token, successor, rotation)


@pytest.mark.postgres
def test_a_connection_cut_during_the_one_statement_refresh_loses_nothing(
    postgres_killer: ConnectionKiller, postgres_db: Database
) -> None:
    store = postgres_killer.store
    manager = _manager(store)
    token = manager.issue("alice").refresh_token
    attempt = _policy.refresh_attempt(token, manager.clock.now(), manager.settings, device=None)
    before = store.get_session(attempt.presented.sid)
    postgres_killer.armed = "UPDATE"
    with pytest.raises(StoreError) as caught:
        manager.refresh(token)
    assert caught.value.__cause__ is not None
    assert postgres_killer.fired
    assert store.get_session(attempt.presented.sid) == before
    _assert_nothing_half_written(postgres_db, before, attempt.update, token, None, True)
    assert manager.refresh(token).refresh_token  # and the manager on the same store recovered
