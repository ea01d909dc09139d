"""Shipped migrations build exactly the tables the store defines, on every dialect.

And they carry stored sessions along: a database at 0001 upgrades to 0002
(sealed successors) with its sessions still refreshing, and back down.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from refreshkit import FrozenClock, KeySet, Settings, TokenManager, _tokens
from refreshkit.backends.sql import SQLStore, build_tables, migrate
from refreshkit.errors import ConfigurationError, TokenReuseError
from refreshkit.models import (
    ConsumeOutcome,
    ConsumeRequest,
    NewToken,
    RefreshRecord,
    Session,
)
from tests.services import MARIADB_SYNC_URL, POSTGRES_SYNC_URL

from .conftest import (
    MARIADB_ASYNC_URL,
    POSTGRES_ASYNCPG_URL,
    require_mariadb,
    require_postgres,
    unique_prefix,
)

DATABASES = [
    pytest.param("sqlite", marks=pytest.mark.sqlite, id="sqlite"),
    pytest.param("postgres", marks=pytest.mark.postgres, id="postgres"),
    pytest.param("mariadb", marks=pytest.mark.mariadb, id="mariadb"),
]


@pytest.fixture(params=DATABASES)
def urls(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, str]:
    """(sync URL, async URL) of an empty database."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("migrations") / "m.db"
        return f"sqlite:///{path}", f"sqlite+aiosqlite:///{path}"
    if request.param == "postgres":
        require_postgres()
        return POSTGRES_SYNC_URL, POSTGRES_ASYNCPG_URL
    require_mariadb()
    return MARIADB_SYNC_URL, MARIADB_ASYNC_URL


@pytest.fixture
def prefix(urls: tuple[str, str]) -> Iterator[str]:
    prefix = unique_prefix()
    yield prefix
    migrate.downgrade(urls[0], "base", table_prefix=prefix)


def _drift(url: str, prefix: str) -> list[object]:
    tables = build_tables(prefix)
    names = {table.name for table in tables.all}
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "include_name": lambda name, kind, _: kind != "table" or name in names,
                },
            )
            return list(compare_metadata(context, tables.metadata))
    finally:
        engine.dispose()


def test_upgrading_an_empty_database_builds_exactly_the_defined_tables(
    urls: tuple[str, str], prefix: str
) -> None:
    sync_url, _ = urls
    assert migrate.current(sync_url, table_prefix=prefix) is None
    migrate.upgrade(sync_url, table_prefix=prefix)
    assert migrate.current(sync_url, table_prefix=prefix) == migrate.head()
    assert _drift(sync_url, prefix) == []


def test_upgrade_is_idempotent_and_accepts_async_urls(urls: tuple[str, str], prefix: str) -> None:
    sync_url, async_url = urls
    migrate.upgrade(async_url, table_prefix=prefix)
    migrate.upgrade(sync_url, table_prefix=prefix)
    assert migrate.current(async_url, table_prefix=prefix) == migrate.head()


def test_downgrade_to_base_removes_every_table(urls: tuple[str, str], prefix: str) -> None:
    sync_url, _ = urls
    migrate.upgrade(sync_url, table_prefix=prefix)
    migrate.downgrade(sync_url, "base", table_prefix=prefix)
    assert migrate.current(sync_url, table_prefix=prefix) is None
    engine = sa.create_engine(sync_url)
    try:
        names = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert not any(name.startswith(prefix) and "alembic" not in name for name in names)


def test_migrated_tables_serve_the_store(urls: tuple[str, str], prefix: str) -> None:
    sync_url, _ = urls
    migrate.upgrade(sync_url, table_prefix=prefix)
    store = SQLStore(sync_url, table_prefix=prefix)
    try:
        assert store.list_sessions("nobody") == []
    finally:
        store.close()


def test_create_tables_stamps_the_newest_revision_so_upgrade_is_a_no_op(
    urls: tuple[str, str], prefix: str
) -> None:
    sync_url, _ = urls
    store = SQLStore(sync_url, table_prefix=prefix)
    try:
        store.create_tables()
        store.create_tables()
    finally:
        store.close()
    assert migrate.current(sync_url, table_prefix=prefix) == migrate.head()
    migrate.upgrade(sync_url, table_prefix=prefix)
    assert _drift(sync_url, prefix) == []


@pytest.mark.sqlite
def test_an_unknown_revision_is_a_configuration_error(tmp_path: object) -> None:
    with pytest.raises(ConfigurationError):
        migrate.upgrade("sqlite://", "no-such-revision")


@pytest.mark.sqlite
def test_migration_scripts_ship_inside_the_package() -> None:
    from importlib import resources

    scripts = resources.files("refreshkit.backends.sql") / "migrations"
    assert (scripts / "env.py").is_file()
    assert (scripts / "script.py.mako").is_file()
    assert any(entry.name.endswith(".py") for entry in (scripts / "versions").iterdir())


# ------------------------------------------- 0001 -> 0002: sealed successor

T0 = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
DAY = timedelta(days=1)
RETRY_WINDOW = timedelta(seconds=30)


def _micros(at: datetime) -> int:
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


_SESSION_COLUMNS_AT_0001 = [
    "sid",
    "subject",
    "created_at",
    "idle_expires_at",
    "absolute_expires_at",
    "expires_at",
    "last_used_at",
    "current_token_id",
    "generation",
    "grace_reuses",
]
_RECORD_COLUMNS = [
    "token_id",
    "sid",
    "secret_hash",
    "generation",
    "created_at",
    "parent_id",
    "consumed_at",
    "use_count",
]


def _store_rotated_session_at_0001(url: str, prefix: str) -> tuple[str, str, str, str]:
    """A session stored by the 0001 schema, rotated once (its old token consumed 10 s ago).

    Returns ``(old_token, old_token_id, current_token, current_token_id)``.
    """
    sid = _tokens.new_session_id()
    old, old_id, old_hash = _tokens.new_refresh_token(sid)
    current, current_id, current_hash = _tokens.new_refresh_token(sid)
    rotated_at = T0 - timedelta(seconds=10)
    # Revision 0001's columns, by hand: reflection cannot tell MariaDB's JSON from text.
    sessions = sa.table(
        prefix + "sessions",
        *map(sa.column, _SESSION_COLUMNS_AT_0001),
        sa.column("claims", sa.JSON()),
    )
    records = sa.table(prefix + "refresh_tokens", *map(sa.column, _RECORD_COLUMNS))
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.insert(sessions).values(
                    sid=sid,
                    subject="alice",
                    created_at=_micros(T0 - DAY),
                    idle_expires_at=_micros(rotated_at + DAY),
                    absolute_expires_at=_micros(T0 + 30 * DAY),
                    expires_at=_micros(rotated_at + DAY),
                    last_used_at=_micros(rotated_at),
                    current_token_id=current_id,
                    generation=1,
                    grace_reuses=0,
                    claims={},
                )
            )
            connection.execute(
                sa.insert(records),
                [
                    {
                        "token_id": old_id,
                        "sid": sid,
                        "secret_hash": old_hash,
                        "generation": 0,
                        "created_at": _micros(T0 - DAY),
                        "parent_id": None,
                        "consumed_at": _micros(rotated_at),
                        "use_count": 1,
                    },
                    {
                        "token_id": current_id,
                        "sid": sid,
                        "secret_hash": current_hash,
                        "generation": 1,
                        "created_at": _micros(rotated_at),
                        "parent_id": old_id,
                        "consumed_at": None,
                        "use_count": 0,
                    },
                ],
            )
    finally:
        engine.dispose()
    return old, old_id, current, current_id


def _refresh(token: str, now: datetime) -> tuple[ConsumeRequest, str]:
    """The request a rotating refresh of ``token`` makes, and the successor it mints."""
    token_id, secret_hash = _tokens.parse_refresh_token(token)
    successor, successor_id, successor_hash = _tokens.new_refresh_token(
        _tokens.session_id_of(token_id)
    )
    request = ConsumeRequest(
        token_id=token_id,
        secret_hash=secret_hash,
        now=now,
        idle_expires_at=now + DAY,
        successor=NewToken(successor_id, successor_hash),
        retry_since=now - RETRY_WINDOW,
        sealed_successor=_tokens.seal_successor(token, successor),
    )
    return request, successor


def test_a_session_stored_at_0001_refreshes_after_upgrading_to_0002(
    urls: tuple[str, str], prefix: str
) -> None:
    sync_url, _ = urls
    migrate.upgrade(sync_url, "0001", table_prefix=prefix)
    old, _, current, current_id = _store_rotated_session_at_0001(sync_url, prefix)
    migrate.upgrade(sync_url, table_prefix=prefix)
    assert migrate.current(sync_url, table_prefix=prefix) == "0002"
    store = SQLStore(sync_url, table_prefix=prefix)
    try:
        state = store.find(current_id)
        assert state is not None and state.session.sealed_successor is None
        # A retry of the rotation made before the upgrade is a retry to the store,
        # but there is no sealed successor to hand back (the manager calls it reuse).
        retry, _ = _refresh(old, T0)
        early = store.consume(retry)
        assert early.outcome is ConsumeOutcome.REPLAYED
        assert early.session is not None and early.session.sealed_successor is None
        # The session itself refreshes, and from then on its retries replay.
        request, successor = _refresh(current, T0)
        rotated = store.consume(request)
        assert rotated.outcome is ConsumeOutcome.ROTATED
        assert rotated.session is not None
        assert rotated.session.sealed_successor == request.sealed_successor
        again, _ = _refresh(current, T0 + timedelta(seconds=1))
        replayed = store.consume(again)
        assert replayed.outcome is ConsumeOutcome.REPLAYED
        assert replayed.session is not None and replayed.session.sealed_successor is not None
        assert _tokens.open_successor(replayed.session.sealed_successor, current) == successor
    finally:
        store.close()


def test_downgrading_0002_restores_the_0001_sessions_table_with_its_rows(
    urls: tuple[str, str], prefix: str
) -> None:
    sync_url, _ = urls
    migrate.upgrade(sync_url, table_prefix=prefix)
    store = SQLStore(sync_url, table_prefix=prefix)
    try:
        request, _ = _refresh(_store_session(store), T0)
        assert store.consume(request).outcome is ConsumeOutcome.ROTATED
    finally:
        store.close()
    migrate.downgrade(sync_url, "0001", table_prefix=prefix)
    assert migrate.current(sync_url, table_prefix=prefix) == "0001"
    engine = sa.create_engine(sync_url)
    try:
        columns = {c["name"]: c for c in sa.inspect(engine).get_columns(prefix + "sessions")}
        with engine.connect() as connection:
            reuses = connection.scalars(sa.text(f"SELECT grace_reuses FROM {prefix}sessions")).all()
    finally:
        engine.dispose()
    assert "sealed_successor" not in columns
    assert not columns["grace_reuses"]["nullable"]
    assert columns["grace_reuses"]["default"] is None
    assert reuses == [0]
    migrate.upgrade(sync_url, table_prefix=prefix)
    assert _drift(sync_url, prefix) == []


def _store_session(store: SQLStore) -> str:
    """Store a session with its first token through the store; return that token."""
    sid = _tokens.new_session_id()
    token, token_id, secret_hash = _tokens.new_refresh_token(sid)
    session = Session(
        sid=sid,
        subject="alice",
        created_at=T0,
        idle_expires_at=T0 + DAY,
        absolute_expires_at=T0 + 30 * DAY,
        last_used_at=T0,
        current_token_id=token_id,
    )
    record = RefreshRecord(
        token_id=token_id, sid=sid, secret_hash=secret_hash, generation=0, created_at=T0
    )
    store.create_session(session, record)
    return token


def test_through_the_manager_a_0001_session_refreshes_but_a_retry_of_its_old_rotation_is_reuse(
    urls: tuple[str, str], prefix: str
) -> None:
    sync_url, _ = urls
    migrate.upgrade(sync_url, "0001", table_prefix=prefix)
    _, _, current, current_id = _store_rotated_session_at_0001(sync_url, prefix)
    old, _, _, other_id = _store_rotated_session_at_0001(sync_url, prefix)
    migrate.upgrade(sync_url, table_prefix=prefix)
    store = SQLStore(sync_url, table_prefix=prefix)
    manager = TokenManager(
        Settings(retry_window=RETRY_WINDOW),
        keys=KeySet.generate(),
        store=store,
        clock=FrozenClock(T0),
    )
    try:
        refreshed = manager.refresh(current)
        assert manager.refresh(current).refresh_token == refreshed.refresh_token
        # Rotated before the upgrade: no sealed successor to give back (documented).
        with pytest.raises(TokenReuseError):
            manager.refresh(old)
        other = store.find(other_id)
        assert other is not None and other.session.revoked_reason == "reuse"
        mine = store.find(current_id)
        assert mine is not None and mine.session.revoked_at is None
    finally:
        store.close()
