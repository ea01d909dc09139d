"""Shipped migrations build exactly the tables the store defines, on every dialect.

And they carry stored sessions along: a session rotated a few times by the
code of revision 0002 (its rows written here by hand, as that code wrote
them) upgrades to 0003 (bounded sessions) and keeps refreshing, replaying and
refusing as documented; 0003 and 0002 downgrade with their data. A session
stored at 0003 gains an empty client binding at 0004 and is bound by its
first client's refresh.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from refreshkit import FrozenClock, KeySet, Settings, TokenManager, _policy, _tokens
from refreshkit.backends._rows import session_values
from refreshkit.backends.sql import SQLStore, build_tables, migrate
from refreshkit.errors import (
    ConfigurationError,
    ExpiredTokenError,
    InvalidTokenError,
    TokenReuseError,
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


# ----------------------------------- sessions stored by the code of 0001/0002

T0 = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
DAY = timedelta(days=1)
RETRY_WINDOW = timedelta(seconds=30)
#: How long before T0 the newest rotation of a stored chain happened (within the window).
LAST_ROTATION = timedelta(seconds=10)

_SESSION_COLUMNS = [
    "sid",
    "subject",
    "created_at",
    "idle_expires_at",
    "absolute_expires_at",
    "expires_at",
    "last_used_at",
    "current_token_id",
    "generation",
]
#: What revision 0001 and 0002 add to those columns.
_SESSION_EXTRA = {"0001": "grace_reuses", "0002": "sealed_successor"}
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


def _micros(at: datetime) -> int:
    return (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


@dataclass(frozen=True)
class OldChain:
    """A session as the code of 0001/0002 stored it: every token it ever had, oldest first."""

    sid: str
    tokens: list[str]
    rotated_at: list[datetime]

    def token_id(self, index: int) -> str:
        return _tokens.parse_refresh_token(self.tokens[index])[0]

    def secret_hash(self, index: int) -> str:
        return _tokens.parse_refresh_token(self.tokens[index])[1]


def _store_old_chain(
    url: str, prefix: str, revision: str, *, rotations: int, uses: int = 0
) -> OldChain:
    """Write a session rotated ``rotations`` times, in the rows the code of ``revision`` wrote.

    One record per token, each consumed one at the rotation that replaced it
    and the parent of the next; the newest rotation ``LAST_ROTATION`` before
    T0, the others an hour apart. The newest record has been used ``uses``
    times (rotation off). At 0002 the session holds the newest token sealed
    under its predecessor, as that code stored it.
    """
    sid = _tokens.new_session_id()
    tokens = [_tokens.new_refresh_token(sid)[0] for _ in range(rotations + 1)]
    created = T0 - LAST_ROTATION - rotations * timedelta(hours=1)
    rotated_at = [
        T0 - LAST_ROTATION - (rotations - k) * timedelta(hours=1) for k in range(1, rotations + 1)
    ]
    chain = OldChain(sid, tokens, rotated_at)
    last_used = rotated_at[-1] if rotated_at else created
    extra = _SESSION_EXTRA[revision]
    row: dict[str, object] = {
        "sid": sid,
        "subject": "alice",
        "created_at": _micros(created),
        "idle_expires_at": _micros(last_used + DAY),
        "absolute_expires_at": _micros(T0 + 30 * DAY),
        "expires_at": _micros(last_used + DAY),
        "last_used_at": _micros(last_used),
        "current_token_id": chain.token_id(rotations),
        "generation": rotations,
        "claims": {"role": "admin"},
    }
    if extra == "grace_reuses":
        row[extra] = 0
    else:
        row[extra] = _tokens.seal_successor(tokens[-2], tokens[-1]) if rotations else None
    records = [
        {
            "token_id": chain.token_id(k),
            "sid": sid,
            "secret_hash": chain.secret_hash(k),
            "generation": k,
            "created_at": _micros(rotated_at[k - 1] if k else created),
            "parent_id": chain.token_id(k - 1) if k else None,
            "consumed_at": _micros(rotated_at[k]) if k < rotations else None,
            "use_count": 1 if k < rotations else uses,
        }
        for k in range(rotations + 1)
    ]
    # The revision's columns, by hand: reflection cannot tell MariaDB's JSON from text.
    sessions = sa.table(
        prefix + "sessions",
        *map(sa.column, [*_SESSION_COLUMNS, extra]),
        sa.column("claims", sa.JSON()),
    )
    tokens_table = sa.table(prefix + "refresh_tokens", *map(sa.column, _RECORD_COLUMNS))
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.insert(sessions).values(row))
            connection.execute(sa.insert(tokens_table), records)
    finally:
        engine.dispose()
    return chain


def _manager(store: SQLStore, **settings: object) -> TokenManager:
    return TokenManager(
        Settings(retry_window=RETRY_WINDOW, **settings),  # type: ignore[arg-type]
        keys=KeySet.generate(),
        store=store,
        clock=FrozenClock(T0),
    )


def _table_names(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_session_rotated_at_0002_keeps_working_after_upgrading_to_0003(
    urls: tuple[str, str], prefix: str
) -> None:
    sync_url, _ = urls
    migrate.upgrade(sync_url, "0002", table_prefix=prefix)
    chain = _store_old_chain(sync_url, prefix, "0002", rotations=3)
    migrate.upgrade(sync_url, table_prefix=prefix)
    assert migrate.current(sync_url, table_prefix=prefix) == "0005" == migrate.head()
    assert prefix + "refresh_tokens" not in _table_names(sync_url)
    store = SQLStore(sync_url, table_prefix=prefix)
    manager = _manager(store)
    try:
        migrated = store.get_session(chain.sid)
        assert migrated is not None
        assert migrated.current_token_id == chain.token_id(3)
        assert migrated.current_secret_hash == chain.secret_hash(3)
        assert migrated.previous_token_id == chain.token_id(2)
        assert migrated.previous_secret_hash == chain.secret_hash(2)
        assert migrated.rotated_at == chain.rotated_at[-1] == T0 - LAST_ROTATION
        assert (migrated.generation, migrated.use_count, migrated.chain_hash) == (3, 0, None)
        assert migrated.claims == {"role": "admin"}
        # The previous token, consumed 10 s ago, within the window: the same successor.
        assert manager.refresh(chain.tokens[2]).refresh_token == chain.tokens[3]
        # The current token refreshes; from then on the session has its chain hash.
        successor = manager.refresh(chain.tokens[3]).refresh_token
        assert successor not in chain.tokens
        assert manager.refresh(chain.tokens[3]).refresh_token == successor
        rotated = store.get_session(chain.sid)
        assert rotated is not None and rotated.generation == 4 and rotated.revoked_at is None
        assert rotated.chain_hash == _tokens.read_refresh_token(chain.tokens[3]).chain_hash
        # An older token spent before the upgrade shares no chain key: unknown, not reuse.
        with pytest.raises(InvalidTokenError):
            manager.refresh(chain.tokens[1])
        assert manager.refresh(successor).sid == chain.sid
        # The last token minted before the upgrade gave the chain its key: its
        # reuse, now two rotations back, is recognised and revokes.
        with pytest.raises(TokenReuseError):
            manager.refresh(chain.tokens[3])
        revoked = store.get_session(chain.sid)
        assert revoked is not None and revoked.revoked_reason == "reuse"
    finally:
        manager.close()
        store.close()


def test_a_use_count_stored_at_0002_still_counts_against_the_limit(
    urls: tuple[str, str], prefix: str
) -> None:
    sync_url, _ = urls
    migrate.upgrade(sync_url, "0002", table_prefix=prefix)
    chain = _store_old_chain(sync_url, prefix, "0002", rotations=0, uses=2)
    migrate.upgrade(sync_url, table_prefix=prefix)
    store = SQLStore(sync_url, table_prefix=prefix)
    manager = _manager(store, rotation=False, max_uses=3)
    try:
        migrated = store.get_session(chain.sid)
        assert migrated is not None and migrated.use_count == 2
        assert migrated.previous_token_id is None and migrated.rotated_at is None
        assert manager.refresh(chain.tokens[0]).refresh_token == chain.tokens[0]
        with pytest.raises(ExpiredTokenError):
            manager.refresh(chain.tokens[0])
    finally:
        manager.close()
        store.close()


def test_a_session_stored_at_0001_upgrades_to_head_and_refreshes(
    urls: tuple[str, str], prefix: str
) -> None:
    sync_url, _ = urls
    migrate.upgrade(sync_url, "0001", table_prefix=prefix)
    chain = _store_old_chain(sync_url, prefix, "0001", rotations=2)
    other = _store_old_chain(sync_url, prefix, "0001", rotations=1)
    migrate.upgrade(sync_url, table_prefix=prefix)
    store = SQLStore(sync_url, table_prefix=prefix)
    manager = _manager(store)
    try:
        refreshed = manager.refresh(chain.tokens[2])
        assert manager.refresh(chain.tokens[2]).refresh_token == refreshed.refresh_token
        # Rotated before 0002: no sealed successor to give back (documented), so reuse.
        with pytest.raises(TokenReuseError):
            manager.refresh(other.tokens[0])
        gone = store.get_session(other.sid)
        assert gone is not None and gone.revoked_reason == "reuse"
        mine = store.get_session(chain.sid)
        assert mine is not None and mine.revoked_at is None
    finally:
        manager.close()
        store.close()


def test_downgrading_0003_recreates_the_records_of_the_current_and_previous_token(
    urls: tuple[str, str], prefix: str
) -> None:
    sync_url, _ = urls
    migrate.upgrade(sync_url, table_prefix=prefix)
    store = SQLStore(sync_url, table_prefix=prefix)
    manager = _manager(store)
    try:
        first = manager.issue("alice")
        second = manager.refresh(first.refresh_token)
        fresh = manager.issue("bob")
        before = store.get_session(first.sid)
    finally:
        manager.close()
        store.close()
    assert before is not None and before.rotated_at is not None
    migrate.downgrade(sync_url, "0002", table_prefix=prefix)
    assert migrate.current(sync_url, table_prefix=prefix) == "0002"
    engine = sa.create_engine(sync_url)
    try:
        columns = {c["name"] for c in sa.inspect(engine).get_columns(prefix + "sessions")}
        records = sa.table(prefix + "refresh_tokens", *map(sa.column, _RECORD_COLUMNS))
        with engine.connect() as connection:
            rows = connection.execute(sa.select(records).order_by(records.c.generation)).all()
    finally:
        engine.dispose()
    assert not {"current_secret_hash", "previous_token_id", "chain_hash"} & columns
    first_id, first_hash = _tokens.parse_refresh_token(first.refresh_token)
    second_id, second_hash = _tokens.parse_refresh_token(second.refresh_token)
    fresh_id, fresh_hash = _tokens.parse_refresh_token(fresh.refresh_token)
    rotated = _micros(before.rotated_at)
    assert sorted(tuple(row) for row in rows) == sorted(
        [
            (first_id, first.sid, first_hash, 0, _micros(before.created_at), None, rotated, 1),
            (second_id, first.sid, second_hash, 1, rotated, first_id, None, 0),
            (fresh_id, fresh.sid, fresh_hash, 0, _micros(T0), None, None, 0),
        ]
    )
    # Up again: the sessions come back as they were, but for the chain hash.
    migrate.upgrade(sync_url, table_prefix=prefix)
    assert _drift(sync_url, prefix) == []
    store = SQLStore(sync_url, table_prefix=prefix)
    try:
        again = store.get_session(first.sid)
    finally:
        store.close()
    assert again == dataclasses.replace(before, chain_hash=None)


def test_downgrading_to_0001_restores_its_sessions_table_with_its_rows(
    urls: tuple[str, str], prefix: str
) -> None:
    sync_url, _ = urls
    migrate.upgrade(sync_url, table_prefix=prefix)
    store = SQLStore(sync_url, table_prefix=prefix)
    manager = _manager(store)
    try:
        manager.refresh(manager.issue("alice").refresh_token)
    finally:
        manager.close()
        store.close()
    migrate.downgrade(sync_url, "0001", table_prefix=prefix)
    assert migrate.current(sync_url, table_prefix=prefix) == "0001"
    engine = sa.create_engine(sync_url)
    try:
        columns = {c["name"]: c for c in sa.inspect(engine).get_columns(prefix + "sessions")}
        with engine.connect() as connection:
            reuses = connection.scalars(sa.text(f"SELECT grace_reuses FROM {prefix}sessions")).all()
            records = connection.scalar(sa.text(f"SELECT count(*) FROM {prefix}refresh_tokens"))
    finally:
        engine.dispose()
    assert "sealed_successor" not in columns
    assert not columns["grace_reuses"]["nullable"]
    assert columns["grace_reuses"]["default"] is None
    assert reuses == [0] and records == 2
    migrate.upgrade(sync_url, table_prefix=prefix)
    assert _drift(sync_url, prefix) == []


def test_a_session_stored_at_0003_is_unbound_at_0004_and_its_first_client_binds_it(
    urls: tuple[str, str], prefix: str
) -> None:
    sync_url, _ = urls
    migrate.upgrade(sync_url, "0002", table_prefix=prefix)
    chain = _store_old_chain(sync_url, prefix, "0002", rotations=0)
    migrate.upgrade(sync_url, "0003", table_prefix=prefix)  # the row as 0003 holds it
    migrate.upgrade(sync_url, table_prefix=prefix)
    assert migrate.current(sync_url, table_prefix=prefix) == "0005"
    store = SQLStore(sync_url, table_prefix=prefix)
    manager = _manager(store)
    try:
        migrated = store.get_session(chain.sid)
        assert migrated is not None
        assert (migrated.client_id, migrated.cnf, migrated.subject) == (None, None, "alice")
        refreshed = manager.refresh(chain.tokens[0], client_id="spa")
        bound = store.get_session(chain.sid)
        assert bound is not None and bound.client_id == "spa"
        with pytest.raises(InvalidTokenError):
            manager.refresh(refreshed.refresh_token, client_id="other-app")
        assert manager.refresh(refreshed.refresh_token, client_id="spa").sid == chain.sid
    finally:
        manager.close()
        store.close()
    migrate.downgrade(sync_url, "0003", table_prefix=prefix)
    engine = sa.create_engine(sync_url)
    try:
        columns = {c["name"] for c in sa.inspect(engine).get_columns(prefix + "sessions")}
    finally:
        engine.dispose()
    assert not {"client_id", "cnf"} & columns
    assert "current_secret_hash" in columns


METADATA_COLUMNS = {"user_agent", "client_ip", "device_label", "idle_ttl"}


def test_a_session_stored_at_0004_has_no_metadata_at_0005_and_0005_downgrades(
    urls: tuple[str, str], prefix: str
) -> None:
    sync_url, _ = urls
    migrate.upgrade(sync_url, "0004", table_prefix=prefix)
    session, token = _policy.new_session("alice", T0, Settings(), scope="read")
    engine = sa.create_engine(sync_url)
    try:
        stored = {c["name"] for c in sa.inspect(engine).get_columns(prefix + "sessions")}
        assert not METADATA_COLUMNS & stored
        # The row as 0004's code wrote it: only the columns it had.
        row = {k: v for k, v in session_values(session).items() if k not in METADATA_COLUMNS}
        with engine.begin() as connection:
            connection.execute(sa.insert(build_tables(prefix).sessions).values(row))
    finally:
        engine.dispose()
    migrate.upgrade(sync_url, table_prefix=prefix)
    assert migrate.current(sync_url, table_prefix=prefix) == "0005" == migrate.head()
    assert _drift(sync_url, prefix) == []
    store = SQLStore(sync_url, table_prefix=prefix)
    manager = _manager(store, refresh_idle_ttl=DAY, refresh_absolute_ttl=7 * DAY)
    try:
        migrated = store.get_session(session.sid)
        assert migrated == session  # every new field empty: no metadata, the settings' lifetimes
        refreshed = manager.refresh(token)
        assert refreshed.refresh_expires_at == T0 + DAY
        remembered = manager.issue(
            "alice", user_agent="ua", ip="192.0.2.9", device_label="pc", idle_ttl=DAY / 2
        )
        stored = store.get_session(remembered.sid)
        assert stored is not None
        assert (stored.user_agent, stored.client_ip, stored.idle_ttl) == (
            "ua",
            "192.0.2.0/24",
            DAY / 2,
        )
    finally:
        manager.close()
        store.close()
    migrate.downgrade(sync_url, "0004", table_prefix=prefix)
    engine = sa.create_engine(sync_url)
    try:
        columns = {c["name"] for c in sa.inspect(engine).get_columns(prefix + "sessions")}
        with engine.connect() as connection:
            count = connection.scalar(sa.text(f"SELECT count(*) FROM {prefix}sessions"))
    finally:
        engine.dispose()
    assert not METADATA_COLUMNS & columns and "client_id" in columns
    assert count == 2
