"""Every SQL statement the store runs, built once here from the tables.

The store modules only execute what these functions return, so the SQL of
the contract is in one readable place. The rules themselves live in
:mod:`refreshkit._policy`: the locked path reads the state, calls
:func:`~refreshkit._policy.transition` and writes what it returns
(:func:`write_transition`); only PostgreSQL's one-statement rotation
(:func:`postgres_rotation`) restates the ROTATED row of the state table in
SQL, and the conformance suite holds it to the same answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from ..._tokens import session_id_of
from ...models import ConsumeOutcome, ConsumeRequest, ConsumeResult, RefreshRecord, Session
from .schema import SQLTables, UTCMicroseconds

__all__ = [
    "GuardedWrite",
    "deny_access",
    "postgres_rotation",
    "purge_denials",
    "record_from_row",
    "select_state",
    "session_from_row",
    "write_transition",
]

_SESSION_PREFIX = "s_"
_RECORD_PREFIX = "r_"


def _time(value: datetime | None) -> sa.BindParameter[datetime]:
    return sa.bindparam(None, value, type_=UTCMicroseconds())


# ------------------------------------------------------------------ mapping


def session_values(session: Session) -> dict[str, Any]:
    """Column values of a session row."""
    return {
        "sid": session.sid,
        "subject": session.subject,
        "created_at": session.created_at,
        "idle_expires_at": session.idle_expires_at,
        "absolute_expires_at": session.absolute_expires_at,
        "expires_at": session.expires_at,
        "last_used_at": session.last_used_at,
        "current_token_id": session.current_token_id,
        "generation": session.generation,
        "grace_reuses": session.grace_reuses,
        "device_hash": session.device_hash,
        "scope": session.scope,
        "claims": dict(session.claims),
        "revoked_at": session.revoked_at,
        "revoked_reason": session.revoked_reason,
    }


def record_values(record: RefreshRecord) -> dict[str, Any]:
    """Column values of a refresh-token row."""
    return {
        "token_id": record.token_id,
        "sid": record.sid,
        "secret_hash": record.secret_hash,
        "generation": record.generation,
        "created_at": record.created_at,
        "parent_id": record.parent_id,
        "consumed_at": record.consumed_at,
        "use_count": record.use_count,
    }


def session_from_row(row: Mapping[Any, Any], prefix: str = "") -> Session | None:
    """The session in ``row`` (columns named ``<prefix><column>``), None if absent."""
    if row.get(prefix + "sid") is None:
        return None
    return Session(
        sid=row[prefix + "sid"],
        subject=row[prefix + "subject"],
        created_at=row[prefix + "created_at"],
        idle_expires_at=row[prefix + "idle_expires_at"],
        absolute_expires_at=row[prefix + "absolute_expires_at"],
        last_used_at=row[prefix + "last_used_at"],
        current_token_id=row[prefix + "current_token_id"],
        generation=row[prefix + "generation"],
        grace_reuses=row[prefix + "grace_reuses"],
        device_hash=row[prefix + "device_hash"],
        scope=row[prefix + "scope"],
        claims=row[prefix + "claims"] or {},
        revoked_at=row[prefix + "revoked_at"],
        revoked_reason=row[prefix + "revoked_reason"],
    )


def record_from_row(row: Mapping[Any, Any], prefix: str = "") -> RefreshRecord | None:
    """The refresh record in ``row`` (columns named ``<prefix><column>``), None if absent."""
    if row.get(prefix + "token_id") is None:
        return None
    return RefreshRecord(
        token_id=row[prefix + "token_id"],
        sid=row[prefix + "sid"],
        secret_hash=row[prefix + "secret_hash"],
        generation=row[prefix + "generation"],
        created_at=row[prefix + "created_at"],
        parent_id=row[prefix + "parent_id"],
        consumed_at=row[prefix + "consumed_at"],
        use_count=row[prefix + "use_count"],
    )


def _labelled(columns: Any, prefix: str) -> list[sa.ColumnElement[Any]]:
    return [column.label(prefix + column.name) for column in columns]


def state_from_row(row: Mapping[Any, Any]) -> tuple[RefreshRecord | None, Session | None]:
    """The ``(record, session)`` of a row selected by :func:`select_state`."""
    return record_from_row(row, _RECORD_PREFIX), session_from_row(row, _SESSION_PREFIX)


# ------------------------------------------------------------------ reading


def select_state(t: SQLTables, token_id: str, *, lock: bool = False) -> sa.Select[Any]:
    """A token's record with its session, in one row (none if either is missing).

    The session is looked up by the id embedded in ``token_id`` (see
    :mod:`refreshkit._tokens`), so a locking read takes the session's row
    first, the order every writer of a session uses; a token whose stored
    session differs from its embedded one matches nothing and stays unknown.
    With ``lock`` the rows are read ``FOR UPDATE`` (ignored by SQLite, where
    the store holds the database write lock instead).
    """
    s, r = t.sessions, t.records
    statement = (
        sa.select(*_labelled(s.c, _SESSION_PREFIX), *_labelled(r.c, _RECORD_PREFIX))
        .select_from(s.join(r, r.c.sid == s.c.sid))
        .where(s.c.sid == session_id_of(token_id), r.c.token_id == token_id)
    )
    return statement.with_for_update() if lock else statement


def select_session(t: SQLTables, sid: str) -> sa.Select[Any]:
    """One session by id."""
    return sa.select(t.sessions).where(t.sessions.c.sid == sid)


def select_record(t: SQLTables, token_id: str) -> sa.Select[Any]:
    """One refresh record by id."""
    return sa.select(t.records).where(t.records.c.token_id == token_id)


def select_sessions_of(t: SQLTables, subject: str) -> sa.Select[Any]:
    """Every session of a subject (uses the subject index)."""
    return sa.select(t.sessions).where(t.sessions.c.subject == subject)


def select_denied(t: SQLTables, jti: str, now: datetime) -> sa.Select[Any]:
    """One row when ``jti`` is denied at ``now``."""
    d = t.denials
    return sa.select(d.c.jti).where(d.c.jti == jti, d.c.expires_at > _time(now))


# ------------------------------------------------------------------ writing


def insert_session(t: SQLTables, session: Session) -> sa.Insert:
    """Insert one session row."""
    return sa.insert(t.sessions).values(session_values(session))


def insert_record(t: SQLTables, record: RefreshRecord) -> sa.Insert:
    """Insert one refresh-token row."""
    return sa.insert(t.records).values(record_values(record))


@dataclass(frozen=True, slots=True)
class GuardedWrite:
    """A write that must touch exactly ``expected_rows`` rows, or the transaction is void.

    None: not counted (an insert inserts its row or raises).
    """

    statement: sa.Executable
    expected_rows: int | None = 1


def write_transition(
    t: SQLTables, record: RefreshRecord, session: Session, result: ConsumeResult
) -> list[GuardedWrite]:
    """The writes that store an applied :func:`~refreshkit._policy.transition` result.

    Each update is guarded by the values it read (``use_count`` grows on every
    applied outcome; the session's generation, newest token and grace count
    pin its state), so even a write that somehow raced would match no row and
    void the transaction instead of double-consuming.
    """
    after_record, after_session = result.record, result.session
    assert after_record is not None and after_session is not None
    r, s = t.records, t.sessions
    writes = [
        GuardedWrite(
            sa.update(r)
            .where(r.c.token_id == record.token_id, r.c.use_count == record.use_count)
            .values(consumed_at=after_record.consumed_at, use_count=after_record.use_count)
        ),
        GuardedWrite(
            sa.update(s)
            .where(
                s.c.sid == session.sid,
                s.c.generation == session.generation,
                s.c.current_token_id == session.current_token_id,
                s.c.grace_reuses == session.grace_reuses,
                s.c.revoked_at.is_(None),
            )
            .values(
                generation=after_session.generation,
                current_token_id=after_session.current_token_id,
                grace_reuses=after_session.grace_reuses,
                idle_expires_at=after_session.idle_expires_at,
                expires_at=after_session.expires_at,
                last_used_at=after_session.last_used_at,
            )
        ),
    ]
    if result.issued is not None:
        writes.append(GuardedWrite(insert_record(t, result.issued), expected_rows=None))
    return writes


def postgres_rotation(t: SQLTables, request: ConsumeRequest) -> sa.Select[Any]:
    """PostgreSQL: the whole ROTATED transition as one statement.

    ``live`` locks the session row (``FOR UPDATE`` re-reads its newest
    version) if it is unrevoked, unexpired and the device fits; ``consumed``
    marks the record consumed if the secret matches, it is unconsumed and of
    the session's generation; ``moved`` advances the session; ``issued``
    inserts the successor. It returns one row (the consumed record and the
    moved session) or none, in which case nothing was written and the store
    falls back to the locked path to report (or apply) what happened.
    """
    assert request.successor is not None
    s, r = t.sessions, t.records
    now, idle = _time(request.now), _time(request.idle_expires_at)
    device_ok: sa.ColumnElement[bool] = s.c.device_hash.is_(None)
    if request.device_hash is not None:
        device_ok = sa.or_(device_ok, s.c.device_hash == request.device_hash)
    live = (
        sa.select(s.c.sid, s.c.generation)
        .where(
            s.c.sid == session_id_of(request.token_id),
            s.c.revoked_at.is_(None),
            s.c.expires_at > now,
            device_ok,
        )
        .with_for_update()
        .cte("live")
    )
    consumed = (
        sa.update(r)
        .where(
            r.c.token_id == request.token_id,
            r.c.sid == live.c.sid,
            r.c.secret_hash == request.secret_hash,
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
            current_token_id=request.successor.token_id,
            grace_reuses=0,
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
                sa.literal(request.successor.token_id, sa.String()),
                moved.c.sid,
                sa.literal(request.successor.secret_hash, sa.String()),
                moved.c.generation,
                now,
                sa.literal(request.token_id, sa.String()),
                sa.literal(0, sa.Integer()),
            ),
        )
        .returning(r.c.token_id)
        .cte("issued")
    )
    return (
        sa.select(*_labelled(consumed.c, _RECORD_PREFIX), *_labelled(moved.c, _SESSION_PREFIX))
        .select_from(consumed.join(moved, moved.c.sid == consumed.c.sid))
        .add_cte(issued)
    )


def rotation_result(row: Mapping[Any, Any], request: ConsumeRequest) -> ConsumeResult:
    """The ROTATED result from the row :func:`postgres_rotation` returned."""
    record, session = state_from_row(row)
    assert record is not None and session is not None and request.successor is not None
    issued = RefreshRecord(
        token_id=request.successor.token_id,
        sid=session.sid,
        secret_hash=request.successor.secret_hash,
        generation=session.generation,
        created_at=request.now,
        parent_id=request.token_id,
    )
    return ConsumeResult(ConsumeOutcome.ROTATED, record, session, issued)


def postgres_create_session(t: SQLTables, session: Session, record: RefreshRecord) -> sa.Insert:
    """PostgreSQL: insert a session and its first record in one statement."""
    created = (
        sa.insert(t.sessions)
        .values(session_values(session))
        .returning(t.sessions.c.sid)
        .cte("created")
    )
    return insert_record(t, record).add_cte(created)


def revoke_session(t: SQLTables, sid: str, now: datetime, reason: str) -> sa.Update:
    """Revoke one session unless already revoked (monotonic: the first revocation stays)."""
    s = t.sessions
    return (
        sa.update(s)
        .where(s.c.sid == sid, s.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )


def revoke_subject(t: SQLTables, subject: str, now: datetime, reason: str) -> sa.Update:
    """Revoke every unrevoked session of a subject."""
    s = t.sessions
    return (
        sa.update(s)
        .where(s.c.subject == subject, s.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )


def deny_access(t: SQLTables, dialect: str, jti: str, until: datetime) -> sa.Executable:
    """Upsert a denial, keeping the later of the stored and the new expiry."""
    d = t.denials
    values = {"jti": jti, "expires_at": until}
    if dialect == "postgresql":
        pg = postgresql.insert(d).values(values)
        later = sa.case(
            (pg.excluded.expires_at > d.c.expires_at, pg.excluded.expires_at),
            else_=d.c.expires_at,
        )
        return pg.on_conflict_do_update(index_elements=[d.c.jti], set_={"expires_at": later})
    if dialect == "sqlite":
        lite = sqlite.insert(d).values(values)
        later = sa.case(
            (lite.excluded.expires_at > d.c.expires_at, lite.excluded.expires_at),
            else_=d.c.expires_at,
        )
        return lite.on_conflict_do_update(index_elements=[d.c.jti], set_={"expires_at": later})
    my = mysql.insert(d).values(values)
    later = sa.case(
        (my.inserted.expires_at > d.c.expires_at, my.inserted.expires_at), else_=d.c.expires_at
    )
    return my.on_duplicate_key_update(expires_at=later)


# ------------------------------------------------------------------ purging


def postgres_purge_batch(t: SQLTables, now: datetime, batch_size: int) -> sa.Select[Any]:
    """PostgreSQL: delete one batch of expired sessions and their tokens in one statement.

    ``SKIP LOCKED`` leaves sessions another transaction is using for the next run.
    """
    s, r = t.sessions, t.records
    doomed = (
        sa.select(s.c.sid)
        .where(s.c.expires_at <= _time(now))
        .limit(batch_size)
        .with_for_update(skip_locked=True)
        .cte("doomed")
    )
    gone = sa.delete(s).where(s.c.sid.in_(sa.select(doomed.c.sid))).returning(s.c.sid).cte("gone")
    tokens = sa.delete(r).where(r.c.sid.in_(sa.select(gone.c.sid))).cte("tokens")
    return sa.select(sa.func.count()).select_from(gone).add_cte(tokens)


def select_expired_sessions(
    t: SQLTables, now: datetime, batch_size: int, *, lock: bool
) -> sa.Select[Any]:
    """One batch of expired session ids (locked, skipping locked rows, where supported)."""
    s = t.sessions
    statement = sa.select(s.c.sid).where(s.c.expires_at <= _time(now)).limit(batch_size)
    return statement.with_for_update(skip_locked=True) if lock else statement


def delete_sessions(t: SQLTables, sids: Sequence[str]) -> list[sa.Executable]:
    """Delete the given sessions' tokens, then the sessions."""
    return [
        sa.delete(t.records).where(t.records.c.sid.in_(sids)),
        sa.delete(t.sessions).where(t.sessions.c.sid.in_(sids)),
    ]


def purge_denials(t: SQLTables, dialect: str, now: datetime, batch_size: int) -> sa.Executable:
    """Delete up to ``batch_size`` expired denials."""
    d = t.denials
    expired = d.c.expires_at <= _time(now)
    if dialect in ("mysql", "mariadb"):
        return sa.delete(d).where(expired).with_dialect_options(mysql_limit=batch_size)
    return sa.delete(d).where(d.c.jti.in_(sa.select(d.c.jti).where(expired).limit(batch_size)))
