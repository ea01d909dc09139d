"""What each operation sends to the database: the statement counts the docs promise.

Counted with SQLAlchemy's engine events: every statement it sends, every
COMMIT, and on PostgreSQL the BEGIN that opens a non-autocommit transaction.
SQLite's driver opens its own deferred transaction before the first write
(no statement of ours), which is safe because the first statement of those
transactions writes; a SQLite driver that autocommits gets ``BEGIN
IMMEDIATE`` instead, so the writes stay one transaction. The counts are the
table in ``docs/backends/sql.rst``; a change here is a change of cost.

The refreshes run through a real manager, so what is counted is what an
application pays: the common refresh is one compare-and-set, one statement
on PostgreSQL and SQLite; a retry or a reuse reads the row after the update
matched nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine.default import CACHE_HIT

from refreshkit import FrozenClock, KeySet, Settings, TokenManager
from refreshkit._async.conformance import _session
from refreshkit.backends.sql import SQLStore
from refreshkit.errors import TokenReuseError

from .conftest import Database

T1 = timedelta(minutes=1)


class StatementLog:
    """The statements (and COMMITs, and PostgreSQL BEGINs) an engine sends while recording.

    ``cached`` holds, per statement sent, whether SQLAlchemy found it compiled
    in its cache.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.sent: list[str] = []
        self.cached: list[bool] = []
        self.recording = False
        sa.event.listen(engine, "before_cursor_execute", self._statement)
        sa.event.listen(engine, "commit", self._commit)
        sa.event.listen(engine, "begin", self._begin)

    def _statement(
        self, _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: Any
    ) -> None:
        if self.recording:
            self.sent.append(statement.split(None, 1)[0].upper())
            self.cached.append(getattr(context, "cache_hit", None) is CACHE_HIT)

    def _commit(self, _conn: sa.Connection) -> None:
        if self.recording:
            self.sent.append("COMMIT")

    def _begin(self, conn: sa.Connection) -> None:
        autocommit = conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
        if self.recording and conn.dialect.name == "postgresql" and not autocommit:
            self.sent.append("BEGIN")

    @contextlib.contextmanager
    def record(self) -> Iterator[list[str]]:
        """Collect what is sent inside the block into the yielded list."""
        self.sent, self.cached, self.recording = [], [], True
        try:
            yield self.sent
        finally:
            self.recording = False


@pytest.fixture
def store(database: Database) -> Iterator[SQLStore]:
    # The tables exist already: only the operations' own statements are counted.
    store = SQLStore(database.url, table_prefix=database.prefix, create_tables=False)
    yield store
    store.close()


@pytest.fixture
def log(store: SQLStore) -> StatementLog:
    return StatementLog(store.engine)


def _manager(store: SQLStore, **settings: Any) -> TokenManager:
    return TokenManager(
        Settings(**settings),
        keys=KeySet.generate(),
        store=store,
        clock=FrozenClock(_session().created_at),
    )


def _kind(store: SQLStore) -> str:
    return {"postgresql": "postgres", "mysql": "mariadb", "mariadb": "mariadb"}.get(
        store.engine.dialect.name, store.engine.dialect.name
    )


#: One applied compare-and-set, per database.
APPLIED = {
    "sqlite": ["UPDATE", "COMMIT"],
    "postgres": ["UPDATE"],
    "mariadb": ["UPDATE", "SELECT", "COMMIT"],
}
#: One compare-and-set whose checks fail: the update, then the row as found.
REFUSED = {
    "sqlite": ["UPDATE", "SELECT", "COMMIT"],
    "postgres": ["UPDATE", "SELECT"],
    "mariadb": ["UPDATE", "SELECT", "COMMIT"],
}
#: One write statement (an insert, an upsert, ``revoke_subject``'s update).
WRITE = {"sqlite": ["{}", "COMMIT"], "postgres": ["{}"], "mariadb": ["{}", "COMMIT"]}

#: operation -> database -> what it sends, in order.
EXPECTED: dict[str, dict[str, list[str]]] = {
    "create_session": {db: [s.format("INSERT") for s in sent] for db, sent in WRITE.items()},
    "refresh": APPLIED,
    "refresh, rotation off": APPLIED,
    "retry replayed": REFUSED,
    # The refused compare-and-set, then the revocation (another one, applied).
    "reuse": {db: REFUSED[db] + APPLIED[db] for db in APPLIED},
    "revoke_subject": {db: [s.format("UPDATE") for s in sent] for db, sent in WRITE.items()},
    "deny_access": {db: [s.format("INSERT") for s in sent] for db, sent in WRITE.items()},
    "get_session": {db: ["SELECT"] for db in APPLIED},
    "check_access": {db: ["SELECT", "SELECT"] for db in APPLIED},
}


def test_create_session_sends_what_the_docs_say(store: SQLStore, log: StatementLog) -> None:
    session = _session()
    with log.record() as sent:
        store.create_session(session)
    assert sent == EXPECTED["create_session"][_kind(store)]
    assert store.get_session(session.sid) == session


def test_a_refresh_is_one_compare_and_set(store: SQLStore, log: StatementLog) -> None:
    manager = _manager(store)
    pair = manager.issue("alice")
    with log.record() as sent:
        refreshed = manager.refresh(pair.refresh_token)
    assert sent == EXPECTED["refresh"][_kind(store)]
    stored = store.get_session(pair.sid)
    assert stored is not None and stored.generation == 1 and stored.sealed_successor is not None
    assert refreshed.sid == pair.sid


def test_a_refresh_without_rotation_is_one_compare_and_set(
    store: SQLStore, log: StatementLog
) -> None:
    manager = _manager(store, rotation=False, max_uses=5)
    pair = manager.issue("alice")
    with log.record() as sent:
        manager.refresh(pair.refresh_token)
    assert sent == EXPECTED["refresh, rotation off"][_kind(store)]


def test_a_replayed_retry_reads_the_row_and_writes_nothing(
    store: SQLStore, log: StatementLog
) -> None:
    manager = _manager(store)
    pair = manager.issue("alice")
    first = manager.refresh(pair.refresh_token)
    before = store.get_session(pair.sid)
    with log.record() as sent:
        again = manager.refresh(pair.refresh_token)
    assert again.refresh_token == first.refresh_token
    assert sent == EXPECTED["retry replayed"][_kind(store)]
    assert store.get_session(pair.sid) == before


def test_reuse_reads_the_row_then_revokes(store: SQLStore, log: StatementLog) -> None:
    manager = _manager(store, retry_window=timedelta(0))
    pair = manager.issue("alice")
    manager.refresh(pair.refresh_token)
    with log.record() as sent, pytest.raises(TokenReuseError):
        manager.refresh(pair.refresh_token)
    assert sent == EXPECTED["reuse"][_kind(store)]


def test_the_other_operations_send_what_the_docs_say(store: SQLStore, log: StatementLog) -> None:
    session = _session()
    store.create_session(session)
    now = session.created_at
    operations: dict[str, Callable[[], object]] = {
        "revoke_subject": lambda: store.revoke_subject("alice", now, "logout"),
        "deny_access": lambda: store.deny_access("jti", now + T1),
        "get_session": lambda: store.get_session(session.sid),
        "check_access": lambda: store.check_access("jti", session.sid, now),
    }
    for name, operation in operations.items():
        with log.record() as sent:
            operation()
        assert sent == EXPECTED[name][_kind(store)], name


def test_statements_are_built_once_per_shape_and_found_compiled(
    store: SQLStore, log: StatementLog
) -> None:
    manager = _manager(store)
    pairs = [manager.issue("alice") for _ in range(3)]
    manager.refresh(pairs[0].refresh_token)  # builds and compiles the refresh's statements
    built = store._sql.shapes
    for pair in pairs[1:]:
        with log.record():
            manager.refresh(pair.refresh_token)
        assert log.cached and all(log.cached), log.sent
    assert store._sql.shapes == built


def test_purging_walks_the_expiry_index_batch_after_batch(
    store: SQLStore, log: StatementLog
) -> None:
    sessions = [_session() for _ in range(5)]
    for session in sessions:
        store.create_session(session)
    with log.record() as sent:
        deleted = store.purge_expired(sessions[0].expires_at, batch_size=2)
    assert deleted == 5
    assert all(store.get_session(session.sid) is None for session in sessions)
    # 3 batches of sessions (2, 2, 1), then one of denials (none).
    per_batch = {"sqlite": 4, "postgres": 1, "mariadb": 3}[_kind(store)]
    denials = {"sqlite": 2, "postgres": 1, "mariadb": 2}[_kind(store)]
    assert len(sent) == 3 * per_batch + denials


# ------------------------------------------- SQLite driver in autocommit


@pytest.mark.sqlite
@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        # A login: the insert in its transaction, then the read of the subject's cutoff.
        ("create_session", ["BEGIN", "INSERT", "COMMIT", "SELECT"]),
        ("refresh", ["BEGIN", "UPDATE", "COMMIT"]),
    ],
)
def test_an_autocommitting_sqlite_driver_still_writes_in_one_transaction(
    sqlite_file_db: Database, operation: str, expected: list[str]
) -> None:
    engine = sa.create_engine(sqlite_file_db.url, isolation_level="AUTOCOMMIT")
    store = SQLStore(engine, table_prefix=sqlite_file_db.prefix, create_tables=False)
    log = StatementLog(engine)
    manager = _manager(store)
    try:
        if operation == "refresh":
            pair = manager.issue("alice")
            with log.record() as sent:
                manager.refresh(pair.refresh_token)
        else:
            with log.record() as sent:
                pair = manager.issue("alice")
        assert sent == expected
        assert store.get_session(pair.sid) is not None
    finally:
        engine.dispose()
        sqlite_file_db.clear()
