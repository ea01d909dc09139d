"""Every SQL statement the store runs, built once per table set with named parameters.

The store modules only execute what :class:`Statements` holds, with the
parameter dicts the functions below build, so the SQL of the contract is in
one readable place. Each statement is constructed once per store: SQLAlchemy
then computes its cache key once and finds the compiled form in its cache on
every call (building a CTE per call cost more than sending it).

The rules themselves live in :mod:`refreshkit._policy`: the locked path
reads the state, calls :func:`~refreshkit._policy.transition` and writes
what it returns (:attr:`Statements.transition_writes`). Only the rotating
fast paths restate the ROTATED row of the state table in SQL (PostgreSQL's
one statement :attr:`Statements.rotate_in_one`; elsewhere the guarded
:attr:`Statements.consume_current`), and the conformance suite holds them to
the same answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from ..._tokens import session_id_of
from ...models import ConsumeOutcome, ConsumeRequest, ConsumeResult, RefreshRecord, Session
from ._rows import RECORD_PREFIX, SESSION_PREFIX
from .schema import SQLTables, UTCMicroseconds

__all__ = [
    "PURGE_START",
    "GuardedWrite",
    "Statements",
    "purge_params",
    "rotation_params",
    "rotated",
    "state_params",
    "successor_of",
    "transition_params",
]

#: Where a purge's walk along the expiry index starts: before any stored time.
PURGE_START = datetime.min.replace(tzinfo=UTC)


def _at(name: str) -> sa.BindParameter[datetime]:
    return sa.bindparam(name, type_=UTCMicroseconds())


def _text(name: str) -> sa.BindParameter[str]:
    return sa.bindparam(name, type_=sa.String())


def _number(name: str) -> sa.BindParameter[int]:
    return sa.bindparam(name, type_=sa.Integer())


def _labelled(columns: Any, prefix: str) -> list[sa.ColumnElement[Any]]:
    return [column.label(prefix + column.name) for column in columns]


def _insert_row(table: sa.Table, prefix: str) -> sa.Insert:
    """Insert one whole row from the parameters ``<prefix><column>``."""
    return sa.insert(table).values(
        {column.name: sa.bindparam(prefix + column.name, type_=column.type) for column in table.c}
    )


@dataclass(frozen=True, slots=True)
class GuardedWrite:
    """A write that must touch exactly ``expected_rows`` rows, or the transaction is void."""

    statement: sa.Executable
    expected_rows: int = 1


class Statements:
    """The store's statements for one table set and dialect family, built once.

    ``family`` is ``postgresql``, ``mysql`` or ``sqlite``; statements another
    family cannot run are built but never executed there. Parameters are
    named after what they hold (``token``, ``session``, ``now`` ...), never
    after a column, which SQLAlchemy reserves for its own SET parameters.
    """

    def __init__(self, tables: SQLTables, family: str) -> None:
        self.tables = tables
        self.family = family
        s, r, d = tables.sessions, tables.records, tables.denials
        now = _at("now")

        # -- reading
        #: A token's record with its session in one row, looked up by the session
        #: id embedded in the token id (see :mod:`refreshkit._tokens`), so a locking
        #: read takes the session's row first, the order every writer uses; a token
        #: stored under another session than its id names matches nothing.
        self.select_state = (
            sa.select(*_labelled(s.c, SESSION_PREFIX), *_labelled(r.c, RECORD_PREFIX))
            .select_from(s.join(r, r.c.sid == s.c.sid))
            .where(s.c.sid == _text("session"), r.c.token_id == _text("token"))
        )
        #: The same, ``FOR UPDATE`` (ignored by SQLite, whose store holds the write lock).
        self.select_state_locked = self.select_state.with_for_update()
        self.select_record = sa.select(r).where(r.c.token_id == _text("token"))
        self.select_session = sa.select(s).where(s.c.sid == _text("session"))
        self.select_sessions_of = sa.select(s).where(s.c.subject == _text("owner"))
        self.select_denied = sa.select(d.c.jti).where(
            d.c.jti == _text("denied"), d.c.expires_at > now
        )

        # -- storing
        self.insert_session = _insert_row(s, SESSION_PREFIX)
        self.insert_record = _insert_row(r, RECORD_PREFIX)
        #: PostgreSQL: a session and its first record in one statement.
        self.create_session_in_one = self.insert_record.add_cte(
            self.insert_session.returning(s.c.sid).cte("created")
        )

        # -- consuming
        self.rotate_in_one = self._rotate_in_one()
        self.consume_current = self._consume_current()
        self.advance_session = self._advance_session()
        self.transition_writes = self._transition_writes()

        # -- revoking
        self.revoke_session = (
            sa.update(s)
            .where(s.c.sid == _text("session"), s.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=_text("reason"))
        )
        self.revoke_subject = (
            sa.update(s)
            .where(s.c.subject == _text("owner"), s.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason=_text("reason"))
        )
        self.deny_access = self._deny_access()

        # -- purging
        self.purge_batch_in_one = self._purge_batch_in_one()
        self.select_expired = (
            sa.select(s.c.sid, s.c.expires_at)
            .where(s.c.expires_at <= now, s.c.expires_at >= _at("after"))
            .order_by(s.c.expires_at)
            .limit(_number("batch"))
        )
        if family == "mysql":
            self.select_expired = self.select_expired.with_for_update(skip_locked=True)
        doomed: sa.BindParameter[str] = sa.bindparam("doomed", expanding=True)
        self.delete_sessions = [
            sa.delete(r).where(r.c.sid.in_(doomed)),
            sa.delete(s).where(s.c.sid.in_(doomed)),
        ]
        self._denial_purges: dict[int, sa.Executable] = {}

    # ------------------------------------------------------------ consuming

    def _device_fits(self) -> sa.ColumnElement[bool]:
        """An unbound session accepts any device; a bound one only the presented hash."""
        s = self.tables.sessions
        return sa.or_(s.c.device_hash.is_(None), s.c.device_hash == _text("device"))

    def _rotate_in_one(self) -> sa.Select[Any]:
        """PostgreSQL: the whole ROTATED transition as one statement.

        ``live`` locks the session row (``FOR UPDATE`` re-reads its newest
        version) if it is unrevoked, unexpired and the device fits;
        ``consumed`` marks the record consumed if the secret matches, it is
        unconsumed and of the session's generation; ``moved`` advances the
        session and stores the sealed successor; ``issued`` inserts the
        successor. It returns one row (the consumed record and the moved
        session) or none, in which case nothing was written and a plain read
        tells what happened (a retry to replay, most often).
        """
        s, r = self.tables.sessions, self.tables.records
        now, idle = _at("now"), _at("idle")
        live = (
            sa.select(s.c.sid, s.c.generation)
            .where(
                s.c.sid == _text("session"),
                s.c.revoked_at.is_(None),
                s.c.expires_at > now,
                self._device_fits(),
            )
            .with_for_update()
            .cte("live")
        )
        consumed = (
            sa.update(r)
            .where(
                r.c.token_id == _text("token"),
                r.c.sid == live.c.sid,
                r.c.secret_hash == _text("secret"),
                r.c.consumed_at.is_(None),
                r.c.generation == live.c.generation,
            )
            .values(consumed_at=now, use_count=r.c.use_count + 1)
            .returning(*r.c)
            .cte("consumed")
        )
        moved = (
            sa.update(s)
            .where(s.c.sid == consumed.c.sid)
            .values(
                generation=consumed.c.generation + 1,
                current_token_id=_text("successor"),
                sealed_successor=_text("sealed"),
                idle_expires_at=idle,
                expires_at=sa.case(
                    (idle < s.c.absolute_expires_at, idle), else_=s.c.absolute_expires_at
                ),
                last_used_at=now,
            )
            .returning(*s.c)
            .cte("moved")
        )
        issued = (
            sa.insert(r)
            .from_select(
                [
                    "token_id",
                    "sid",
                    "secret_hash",
                    "generation",
                    "created_at",
                    "parent_id",
                    "use_count",
                ],
                sa.select(
                    _text("successor"),
                    moved.c.sid,
                    _text("successor_secret"),
                    moved.c.generation,
                    now,
                    _text("token"),
                    sa.literal(0, sa.Integer()),
                ),
            )
            .returning(r.c.token_id)
            .cte("issued")
        )
        return (
            sa.select(*_labelled(consumed.c, RECORD_PREFIX), *_labelled(moved.c, SESSION_PREFIX))
            .select_from(consumed.join(moved, moved.c.sid == consumed.c.sid))
            .add_cte(issued)
        )

    def _consume_current(self) -> sa.Update:
        """Consume the record if it is the current token of a live session (SQLite).

        Guarded by every rule that makes a rotation ROTATED: the secret, the
        record unconsumed and of the generation of its session, which must be
        unrevoked, unexpired and fit the device. Returns the consumed record,
        or no row (nothing written) for anything else.
        """
        s, r = self.tables.sessions, self.tables.records
        now = _at("now")
        live_generation = (
            sa.select(s.c.generation)
            .where(
                s.c.sid == _text("session"),
                s.c.revoked_at.is_(None),
                s.c.expires_at > now,
                self._device_fits(),
            )
            .scalar_subquery()
        )
        return (
            sa.update(r)
            .where(
                r.c.token_id == _text("token"),
                r.c.sid == _text("session"),
                r.c.secret_hash == _text("secret"),
                r.c.consumed_at.is_(None),
                r.c.generation == live_generation,
            )
            .values(consumed_at=now, use_count=r.c.use_count + 1)
            .returning(*r.c)
        )

    def _advance_session(self) -> sa.Update:
        """Move the session to the successor after :attr:`consume_current` (SQLite).

        Stores the sealed successor with it. Guarded by the generation the
        consumed record had; returns the moved session.
        """
        s = self.tables.sessions
        idle = _at("idle")
        return (
            sa.update(s)
            .where(s.c.sid == _text("session"), s.c.generation == _number("consumed_generation"))
            .values(
                generation=s.c.generation + 1,
                current_token_id=_text("successor"),
                sealed_successor=_text("sealed"),
                idle_expires_at=idle,
                expires_at=sa.case(
                    (idle < s.c.absolute_expires_at, idle), else_=s.c.absolute_expires_at
                ),
                last_used_at=_at("now"),
            )
            .returning(*s.c)
        )

    def _transition_writes(self) -> list[GuardedWrite]:
        """The updates that store an applied transition, guarded by the values read.

        ``use_count`` grows on every applied outcome and the session's
        generation and newest token pin its state (the sealed successor only
        changes with them), so a write that somehow raced matches no row and
        voids the transaction instead of double-consuming. A REPLAYED or
        REJECTED outcome writes nothing, so it never gets here. MySQL updates
        both rows in one joined ``UPDATE``.
        """
        s, r = self.tables.sessions, self.tables.records
        record_guard = [r.c.token_id == _text("token"), r.c.use_count == _number("was_use_count")]
        session_guard = [
            s.c.sid == _text("session"),
            s.c.generation == _number("was_generation"),
            s.c.current_token_id == _text("was_current"),
            s.c.revoked_at.is_(None),
        ]
        record_values: dict[Any, Any] = {
            r.c.consumed_at: _at("new_consumed_at"),
            r.c.use_count: _number("new_use_count"),
        }
        session_values: dict[Any, Any] = {
            s.c.generation: _number("new_generation"),
            s.c.current_token_id: _text("new_current"),
            s.c.sealed_successor: _text("new_sealed"),
            s.c.idle_expires_at: _at("new_idle"),
            s.c.expires_at: _at("new_expires"),
            s.c.last_used_at: _at("new_last_used"),
        }
        if self.family == "mysql":
            both = (
                sa.update(s)
                .where(r.c.sid == s.c.sid, *record_guard, *session_guard)
                .values({**session_values, **record_values})
            )
            # FOUND_ROWS: one matched row in each table.
            return [GuardedWrite(both, expected_rows=2)]
        return [
            GuardedWrite(sa.update(r).where(*record_guard).values(record_values)),
            GuardedWrite(sa.update(s).where(*session_guard).values(session_values)),
        ]

    # ------------------------------------------------------------- revoking

    def _deny_access(self) -> sa.Executable:
        """Upsert a denial, keeping the later of the stored and the new expiry."""
        d = self.tables.denials
        values = {"jti": _text("denied"), "expires_at": _at("until")}
        if self.family == "postgresql":
            pg = postgresql.insert(d).values(values)
            later = sa.case(
                (pg.excluded.expires_at > d.c.expires_at, pg.excluded.expires_at),
                else_=d.c.expires_at,
            )
            return pg.on_conflict_do_update(index_elements=[d.c.jti], set_={"expires_at": later})
        if self.family == "sqlite":
            lite = sqlite.insert(d).values(values)
            later = sa.case(
                (lite.excluded.expires_at > d.c.expires_at, lite.excluded.expires_at),
                else_=d.c.expires_at,
            )
            return lite.on_conflict_do_update(index_elements=[d.c.jti], set_={"expires_at": later})
        my = mysql.insert(d).values(values)
        later = sa.case(
            (my.inserted.expires_at > d.c.expires_at, my.inserted.expires_at),
            else_=d.c.expires_at,
        )
        return my.on_duplicate_key_update(expires_at=later)

    # -------------------------------------------------------------- purging

    def _purge_batch_in_one(self) -> sa.Select[int, Any]:
        """PostgreSQL: delete one batch of expired sessions and their tokens in one statement.

        The batch is the next ``batch`` sessions along the expiry index from
        ``after`` (the latest expiry the previous batch deleted), so each
        batch starts where the last one ended instead of walking the index
        entries of rows already deleted. ``SKIP LOCKED`` leaves sessions
        another transaction is using for the next run. Returns how many it
        deleted and the latest expiry among them.
        """
        s, r = self.tables.sessions, self.tables.records
        doomed = (
            sa.select(s.c.sid)
            .where(s.c.expires_at <= _at("now"), s.c.expires_at >= _at("after"))
            .order_by(s.c.expires_at)
            .limit(_number("batch"))
            .with_for_update(skip_locked=True)
            .cte("doomed")
        )
        gone = (
            sa.delete(s)
            .where(s.c.sid.in_(sa.select(doomed.c.sid)))
            .returning(s.c.sid, s.c.expires_at)
            .cte("gone")
        )
        tokens = sa.delete(r).where(r.c.sid.in_(sa.select(gone.c.sid))).cte("tokens")
        return (
            sa.select(
                sa.func.count().label("deleted"), sa.func.max(gone.c.expires_at).label("last")
            )
            .select_from(gone)
            .add_cte(tokens)
        )

    def purge_denials(self, batch_size: int) -> sa.Executable:
        """Delete up to ``batch_size`` expired denials (parameter ``now``)."""
        statement = self._denial_purges.get(batch_size)
        if statement is None:
            d = self.tables.denials
            expired = d.c.expires_at <= _at("now")
            if self.family == "mysql":
                statement = sa.delete(d).where(expired).with_dialect_options(mysql_limit=batch_size)
            else:
                oldest = sa.select(d.c.jti).where(expired).limit(batch_size)
                statement = sa.delete(d).where(d.c.jti.in_(oldest))
            self._denial_purges[batch_size] = statement
        return statement


# --------------------------------------------------------------- parameters


def state_params(token_id: str) -> dict[str, Any]:
    """Parameters of :attr:`Statements.select_state` for a token."""
    return {"session": session_id_of(token_id), "token": token_id}


def rotation_params(request: ConsumeRequest) -> dict[str, Any]:
    """Parameters of the rotating statements for a request with a successor."""
    assert request.successor is not None
    return {
        "token": request.token_id,
        "session": session_id_of(request.token_id),
        "secret": request.secret_hash,
        "device": request.device_hash,
        "now": request.now,
        "idle": request.idle_expires_at,
        "successor": request.successor.token_id,
        "successor_secret": request.successor.secret_hash,
        "sealed": request.sealed_successor,
    }


def transition_params(
    record: RefreshRecord, session: Session, result: ConsumeResult
) -> dict[str, Any]:
    """Parameters of :attr:`Statements.transition_writes`: the state read and the new one."""
    after_record, after_session = result.record, result.session
    assert after_record is not None and after_session is not None
    return {
        "token": record.token_id,
        "was_use_count": record.use_count,
        "new_consumed_at": after_record.consumed_at,
        "new_use_count": after_record.use_count,
        "session": session.sid,
        "was_generation": session.generation,
        "was_current": session.current_token_id,
        "new_generation": after_session.generation,
        "new_current": after_session.current_token_id,
        "new_sealed": after_session.sealed_successor,
        "new_idle": after_session.idle_expires_at,
        "new_expires": after_session.expires_at,
        "new_last_used": after_session.last_used_at,
    }


def purge_params(now: datetime, after: datetime, batch_size: int) -> dict[str, Any]:
    """Parameters of one purge batch: expired at ``now``, expiring no earlier than ``after``."""
    return {"now": now, "after": after, "batch": batch_size}


def successor_of(record: RefreshRecord, request: ConsumeRequest) -> RefreshRecord:
    """The record a ROTATED request issues after consuming ``record``."""
    assert request.successor is not None
    return RefreshRecord(
        token_id=request.successor.token_id,
        sid=record.sid,
        secret_hash=request.successor.secret_hash,
        generation=record.generation + 1,
        created_at=request.now,
        parent_id=record.token_id,
    )


def rotated(
    record: RefreshRecord | None, session: Session | None, request: ConsumeRequest
) -> ConsumeResult:
    """The ROTATED result from the consumed record and the moved session a fast path returned."""
    assert record is not None and session is not None
    return ConsumeResult(ConsumeOutcome.ROTATED, record, session, successor_of(record, request))
