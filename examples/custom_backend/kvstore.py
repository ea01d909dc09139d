"""A complete third-party refreshkit backend in one file: sessions as JSON in SQLite.

It stands for any store that can read and write one record atomically (a
key-value database with transactions, DynamoDB, etcd, a document store). The
lesson is the shape: a store decides nothing, it applies the policy's
compare-and-set with :func:`refreshkit.backends.base.apply_update` (or the
same comparison in its own query language) inside one atomic step, and
reports what it left. ``docs/custom-backend.rst`` walks through it, and
``tests/test_custom_backend_example.py`` runs refreshkit's shipped
conformance suite on it, processes included.

Register it with ``register_backend("kv", KVBackend())`` and open it as
``kv:///path/to/file.db``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from refreshkit import ConfigurationError, StoreError
from refreshkit.backends.base import apply_update, validate_update
from refreshkit.models import (
    AccessCheck,
    Check,
    CheckOp,
    FieldValue,
    Session,
    SessionUpdate,
    SubjectCutoff,
    UpdateResult,
)

_TIMES = {f.name for f in dataclasses.fields(Session) if "datetime" in str(f.type)}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv_sessions (
    sid TEXT PRIMARY KEY, subject TEXT NOT NULL, expires_us INTEGER NOT NULL, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS kv_sessions_subject ON kv_sessions (subject);
CREATE INDEX IF NOT EXISTS kv_sessions_expires ON kv_sessions (expires_us);
CREATE TABLE IF NOT EXISTS kv_denied (jti TEXT PRIMARY KEY, until_us INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS kv_cutoffs (subject TEXT PRIMARY KEY, before_us INTEGER NOT NULL,
    body TEXT NOT NULL);
"""
_MICROSECOND = timedelta(microseconds=1)


def _encode(session: Session) -> str:
    """Every field, times as ISO 8601 with their offset (microseconds kept)."""
    fields = dataclasses.asdict(session)
    for name in _TIMES:
        if fields[name] is not None:
            fields[name] = fields[name].isoformat()
    if session.idle_ttl is not None:
        fields["idle_ttl"] = session.idle_ttl // _MICROSECOND
    return json.dumps(fields, separators=(",", ":"))


def _decode(body: str) -> Session:
    fields: dict[str, Any] = json.loads(body)
    for name in _TIMES:
        if fields[name] is not None:
            fields[name] = datetime.fromisoformat(fields[name])
    if fields.get("idle_ttl") is not None:
        fields["idle_ttl"] = timedelta(microseconds=fields["idle_ttl"])
    return Session(**fields)


def _micros(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


class KVStore:
    """A :class:`~refreshkit.TokenStore` keeping each session as one JSON row."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._local = threading.local()  # one connection per thread, as sqlite3 wants
        try:
            self._db().executescript(_SCHEMA)  # its own transaction
        except sqlite3.Error as error:
            raise StoreError("the kv store is unavailable") from error

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            self._local.db = db
        return db

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: one writer at a time, across processes too.

        Any driver failure becomes a StoreError (an outage, never a token error),
        and a failed transaction is rolled back: no partial writes.
        """
        try:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise StoreError("the kv store is unavailable") from error
        try:
            yield db
        except BaseException as error:
            db.execute("ROLLBACK")
            if isinstance(error, sqlite3.Error):
                raise StoreError("the kv store failed") from error
            raise
        try:
            db.execute("COMMIT")
        except sqlite3.Error as error:
            raise StoreError("the kv store failed to commit") from error

    # -- the contract --------------------------------------------------------

    def create_session(self, session: Session) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO kv_sessions VALUES (?, ?, ?, ?)",
                (session.sid, session.subject, _micros(session.expires_at), _encode(session)),
            )

    def compare_and_set(self, update: SessionUpdate) -> UpdateResult:
        """Read, compare, write: all inside one IMMEDIATE transaction."""
        validate_update(update)
        with self._transaction() as db:
            row = db.execute("SELECT body FROM kv_sessions WHERE sid = ?", (update.sid,)).fetchone()
            result = apply_update(_decode(row[0]) if row else None, update)
            if result.applied and result.session is not None:
                db.execute(
                    "UPDATE kv_sessions SET body = ?, expires_us = ? WHERE sid = ?",
                    (_encode(result.session), _micros(result.session.expires_at), update.sid),
                )
            return result

    def get_session(self, sid: str) -> Session | None:
        row = self._read("SELECT body FROM kv_sessions WHERE sid = ?", (sid,))
        return _decode(row[0][0]) if row else None

    def list_sessions(self, subject: str) -> list[Session]:
        rows = self._read("SELECT body FROM kv_sessions WHERE subject = ?", (subject,))
        return [_decode(body) for (body,) in rows]

    def revoke_subject(self, subject: str, now: datetime, reason: str) -> int:
        """The monotonic revocation, as one compare-and-set per session of ``subject``."""
        unrevoked = (Check("revoked_at", CheckOp.EQUALS, None),)
        changes: dict[str, FieldValue] = {"revoked_at": now, "revoked_reason": reason}
        return sum(
            self.compare_and_set(SessionUpdate(session.sid, unrevoked, changes)).applied
            for session in self.list_sessions(subject)
        )

    def deny_access(self, jti: str, until: datetime) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO kv_denied VALUES (?, ?) ON CONFLICT (jti) DO UPDATE"
                " SET until_us = max(until_us, excluded.until_us)",
                (jti, _micros(until)),
            )

    def check_access(
        self, jti: str, sid: str, now: datetime, subject: str | None = None
    ) -> AccessCheck:
        denied = self._read("SELECT until_us FROM kv_denied WHERE jti = ?", (jti,))
        cutoff = self.get_cutoff(subject) if subject is not None else None
        return AccessCheck(
            bool(denied) and _micros(now) < denied[0][0],
            self.get_session(sid),
            cutoff.before if cutoff is not None else None,
        )

    def record_cutoff(self, cutoff: SubjectCutoff) -> SubjectCutoff:
        """Keep the later cutoff of a subject (monotonic), in one transaction."""
        body = json.dumps(
            [cutoff.before.isoformat(), cutoff.reason, cutoff.recorded_at.isoformat()]
        )
        with self._transaction() as db:
            db.execute(
                "INSERT INTO kv_cutoffs VALUES (?, ?, ?) ON CONFLICT (subject) DO UPDATE"
                " SET before_us = excluded.before_us, body = excluded.body"
                " WHERE excluded.before_us > kv_cutoffs.before_us",
                (cutoff.subject, _micros(cutoff.before), body),
            )
        stored = self.get_cutoff(cutoff.subject)
        assert stored is not None
        return stored

    def get_cutoff(self, subject: str) -> SubjectCutoff | None:
        rows = self._read("SELECT body FROM kv_cutoffs WHERE subject = ?", (subject,))
        if not rows:
            return None
        before, reason, recorded = json.loads(rows[0][0])
        return SubjectCutoff(
            subject, datetime.fromisoformat(before), reason, datetime.fromisoformat(recorded)
        )

    def purge_expired(self, now: datetime, batch_size: int = 1000) -> int:
        purged = 0
        while True:
            with self._transaction() as db:
                gone = db.execute(
                    "DELETE FROM kv_sessions WHERE sid IN (SELECT sid FROM kv_sessions"
                    " WHERE expires_us <= ? LIMIT ?)",
                    (_micros(now), batch_size),
                ).rowcount
                db.execute("DELETE FROM kv_denied WHERE until_us <= ?", (_micros(now),))
            purged += gone
            if gone < batch_size:
                return purged

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def _read(self, query: str, params: tuple[Any, ...]) -> list[Any]:
        try:
            return self._db().execute(query, params).fetchall()
        except sqlite3.Error as error:
            raise StoreError("the kv store is unavailable") from error


class KVBackend:
    """What ``register_backend`` (or the ``refreshkit.backends`` entry point) names."""

    def create_store(self, url: str, **options: Any) -> KVStore:
        return KVStore(url.removeprefix("kv://"))

    def create_async_store(self, url: str, **options: Any) -> Any:
        raise ConfigurationError("kv:// is sync only: open it with create_store")


def open_store(url: str) -> KVStore:
    """Open a store from its URL: what each racing process of the suite calls."""
    return KVBackend().create_store(url)
