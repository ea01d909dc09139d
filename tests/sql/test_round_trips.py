"""What each operation sends to the database: the statement counts the docs promise.

Counted with SQLAlchemy's engine events: every statement it sends, every
COMMIT, and on PostgreSQL the BEGIN that opens a non-autocommit transaction.
SQLite's driver opens its own deferred transaction before the first write
(no statement of ours), which is safe because the first statement of those
transactions writes; a SQLite driver that autocommits gets ``BEGIN
IMMEDIATE`` instead, so the writes stay one transaction. The counts are the
table in ``docs/backends/sql.rst``; a change here is a change of cost.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from refreshkit._async.conformance import _request, _session
from refreshkit.backends.sql import SQLStore
from refreshkit.models import ConsumeOutcome

from .conftest import Database

T1 = timedelta(minutes=1)


class StatementLog:
    """The statements (and COMMITs, and PostgreSQL BEGINs) an engine sends while recording."""

    def __init__(self, engine: sa.Engine) -> None:
        self.sent: list[str] = []
        self.recording = False
        sa.event.listen(engine, "before_cursor_execute", self._statement)
        sa.event.listen(engine, "commit", self._commit)
        sa.event.listen(engine, "begin", self._begin)

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if self.recording:
            self.sent.append(statement.split(None, 1)[0].upper())

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
        self.sent, self.recording = [], True
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


def _kind(store: SQLStore) -> str:
    return {"postgresql": "postgres", "mysql": "mariadb", "mariadb": "mariadb"}.get(
        store.engine.dialect.name, store.engine.dialect.name
    )


#: operation -> database -> what it sends, in order.
EXPECTED: dict[str, dict[str, list[str]]] = {
    "create_session": {
        "sqlite": ["INSERT", "INSERT", "COMMIT"],
        "postgres": ["WITH"],
        "mariadb": ["INSERT", "INSERT", "COMMIT"],
    },
    "rotation": {
        "sqlite": ["UPDATE", "UPDATE", "INSERT", "COMMIT"],
        "postgres": ["WITH"],
        "mariadb": ["SELECT", "UPDATE", "INSERT", "COMMIT"],
    },
    "replay refused": {
        "sqlite": ["UPDATE", "SELECT", "COMMIT"],
        "postgres": ["WITH", "SELECT"],
        "mariadb": ["SELECT", "COMMIT"],
    },
    # A retry writes nothing: the same reads as a refused replay.
    "retry replayed": {
        "sqlite": ["UPDATE", "SELECT", "COMMIT"],
        "postgres": ["WITH", "SELECT"],
        "mariadb": ["SELECT", "COMMIT"],
    },
    "rotation off": {
        "sqlite": ["BEGIN", "SELECT", "UPDATE", "UPDATE", "COMMIT"],
        "postgres": ["BEGIN", "SELECT", "UPDATE", "UPDATE", "COMMIT"],
        "mariadb": ["SELECT", "UPDATE", "COMMIT"],
    },
}


def _started(store: SQLStore) -> Any:
    session, record, _ = _session()
    store.create_session(session, record)
    return record


def test_create_session_sends_what_the_docs_say(store: SQLStore, log: StatementLog) -> None:
    session, record, _ = _session()
    with log.record() as sent:
        store.create_session(session, record)
    assert sent == EXPECTED["create_session"][_kind(store)]


def test_a_rotation_sends_what_the_docs_say(store: SQLStore, log: StatementLog) -> None:
    record = _started(store)
    request = _request(record, now=record.created_at + T1)
    with log.record() as sent:
        result = store.consume(request)
    assert result.outcome is ConsumeOutcome.ROTATED
    assert sent == EXPECTED["rotation"][_kind(store)]
    # The same statements store the sealed successor with the session.
    assert result.session is not None
    assert result.session.sealed_successor == request.sealed_successor is not None
    stored = store.get_session(record.sid)
    assert stored is not None and stored.sealed_successor == request.sealed_successor


def test_a_refused_replay_sends_what_the_docs_say(store: SQLStore, log: StatementLog) -> None:
    record = _started(store)
    store.consume(_request(record, now=record.created_at + T1))
    with log.record() as sent:
        result = store.consume(_request(record, now=record.created_at + 2 * T1))
    assert result.outcome is ConsumeOutcome.REJECTED
    assert sent == EXPECTED["replay refused"][_kind(store)]


def test_a_replayed_retry_sends_what_the_docs_say_and_writes_nothing(
    store: SQLStore, log: StatementLog
) -> None:
    record = _started(store)
    now = record.created_at + T1
    first = store.consume(_request(record, now=now))
    before = store.find(record.token_id)
    with log.record() as sent:
        result = store.consume(_request(record, now=now + T1 / 2, retry=T1))
    assert result.outcome is ConsumeOutcome.REPLAYED and result.issued is None
    assert sent == EXPECTED["retry replayed"][_kind(store)]
    assert not {"INSERT", "DELETE"} & set(sent)
    assert store.find(record.token_id) == before
    assert result.session is not None and first.session is not None
    assert result.session.sealed_successor == first.session.sealed_successor


def test_a_refresh_without_rotation_sends_what_the_docs_say(
    store: SQLStore, log: StatementLog
) -> None:
    record = _started(store)
    with log.record() as sent:
        result = store.consume(_request(record, now=record.created_at + T1, rotate=False))
    assert result.outcome is ConsumeOutcome.REUSED
    assert sent == EXPECTED["rotation off"][_kind(store)]


def test_purging_walks_the_expiry_index_batch_after_batch(
    store: SQLStore, log: StatementLog
) -> None:
    records = [_started(store) for _ in range(5)]
    session = store.get_session(records[0].sid)
    assert session is not None
    with log.record() as sent:
        deleted = store.purge_expired(session.expires_at, batch_size=2)
    assert deleted == 5
    assert all(store.find(record.token_id) is None for record in records)
    per_batch = {"sqlite": 5, "postgres": 1, "mariadb": 4}[_kind(store)]
    denials = {"sqlite": 2, "postgres": 1, "mariadb": 2}[_kind(store)]
    assert len(sent) == 3 * per_batch + denials


# ------------------------------------------- SQLite driver in autocommit


@pytest.mark.sqlite
@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        ("create_session", ["BEGIN", "INSERT", "INSERT", "COMMIT"]),
        ("rotation", ["BEGIN", "UPDATE", "UPDATE", "INSERT", "COMMIT"]),
    ],
)
def test_an_autocommitting_sqlite_driver_still_writes_in_one_transaction(
    sqlite_file_db: Database, operation: str, expected: list[str]
) -> None:
    engine = sa.create_engine(sqlite_file_db.url, isolation_level="AUTOCOMMIT")
    store = SQLStore(engine, table_prefix=sqlite_file_db.prefix, create_tables=False)
    log = StatementLog(engine)
    session, record, _ = _session()
    try:
        if operation == "rotation":
            store.create_session(session, record)
        with log.record() as sent:
            if operation == "rotation":
                store.consume(_request(record, now=record.created_at + T1))
            else:
                store.create_session(session, record)
        assert sent == expected
        stored = store.find(record.token_id)
        assert stored is not None
    finally:
        engine.dispose()
        sqlite_file_db.clear()
