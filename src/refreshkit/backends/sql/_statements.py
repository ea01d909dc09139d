"""Every SQL statement the store runs, built once and named by what it does.

The store modules only execute what :class:`Statements` holds, with the
parameter dicts built here, so the SQL of the contract is in one readable
place. Nothing here knows a policy rule: a compare-and-set is translated
field by field from the generic :class:`~refreshkit.models.Check` operators
and changes (see :class:`UpdateShape`), exactly as
:func:`refreshkit.backends.base.check_holds` and
:func:`~refreshkit.backends.base.apply_update` define them.

Each distinct statement is built once per store and kept: a compare-and-set
by its *shape* (the fields and operators it checks, which check values are
None, the fields it changes and adds to), the rest in attributes. SQLAlchemy
then computes each one's cache key once and finds its compiled form in its
cache on every call, as fast as a hand-written prebuilt statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from ...models import CheckOp, SessionUpdate
from .schema import SQLTables, UTCMicroseconds

__all__ = [
    "PURGE_START",
    "CompareAndSet",
    "Statements",
    "UpdateShape",
    "purge_params",
    "shape_of",
    "update_params",
]

#: Where a purge's walk along the expiry index starts: before any stored time.
PURGE_START = datetime.min.replace(tzinfo=UTC)
#: The parameter that carries the session id (or, for ``revoke_subject``, the subject).
KEY_PARAMETER = "key"


def _at(name: str) -> sa.BindParameter[datetime]:
    return sa.bindparam(name, type_=UTCMicroseconds())


def _text(name: str) -> sa.BindParameter[str]:
    return sa.bindparam(name, type_=sa.String())


def _number(name: str) -> sa.BindParameter[int]:
    return sa.bindparam(name, type_=sa.Integer())


def _check_parameter(index: int) -> str:
    return f"check_{index}"


def _change_parameter(name: str) -> str:
    # Never a bare column name: SQLAlchemy reserves those for its own SET parameters.
    return f"new_{name}"


@dataclass(frozen=True, slots=True)
class UpdateShape:
    """What tells one compare-and-set statement from another; its parameters differ per call.

    ``checks`` are ``(field, operator, value is None)`` in the update's
    order (a None value changes the SQL: ``IS NULL``); ``changes`` and
    ``increments`` are sorted field names.
    """

    checks: tuple[tuple[str, CheckOp, bool], ...]
    changes: tuple[str, ...]
    increments: tuple[str, ...]


def shape_of(update: SessionUpdate) -> UpdateShape:
    """The shape of ``update`` (already validated)."""
    return UpdateShape(
        tuple((check.field, check.op, check.value is None) for check in update.checks),
        tuple(sorted(update.changes)),
        tuple(sorted(update.increments)),
    )


def update_params(update: SessionUpdate, key: str | None = None) -> dict[str, Any]:
    """The parameters of the statements of ``shape_of(update)``.

    ``key`` is the value of the column the statement finds its rows by: the
    update's sid unless given (``revoke_subject`` gives the subject).
    """
    params: dict[str, Any] = {KEY_PARAMETER: update.sid if key is None else key}
    for index, check in enumerate(update.checks):
        if check.value is not None:
            params[_check_parameter(index)] = check.value
    for name, value in update.changes.items():
        params[_change_parameter(name)] = value
    return params


@dataclass(frozen=True, slots=True)
class CompareAndSet:
    """The statements of one update shape.

    ``update`` writes the changes to the session that passes the checks
    (``RETURNING`` every column where the dialect can; None when the shape
    changes nothing, which no ``UPDATE`` can say). ``select_held`` reads the
    session and whether the checks hold, in one consistent read: the whole
    compare-and-set of a shape that changes nothing.
    """

    update: sa.Update | None
    select_held: sa.Select[Any]


class Statements:
    """The store's statements for one table set and dialect family, built once.

    ``family`` is ``postgresql``, ``mysql`` or ``sqlite``; statements another
    family cannot run are never built for it. Parameters are named after
    what they hold (``key``, ``now`` ...), never after a bare column, which
    SQLAlchemy reserves for its own SET parameters.
    """

    def __init__(self, tables: SQLTables, family: str) -> None:
        self.tables = tables
        self.family = family
        #: Whether ``UPDATE ... RETURNING`` exists here (not on MariaDB/MySQL).
        self.returning = family != "mysql"
        s, d = tables.sessions, tables.denials
        now = _at("now")

        # -- reading
        self.select_session = sa.select(s).where(s.c.sid == _text(KEY_PARAMETER))
        #: The row as last committed, whatever the transaction's snapshot (MariaDB's
        #: REPEATABLE READ would otherwise show the row as of the first read).
        self.select_session_latest = self.select_session.with_for_update()
        self.select_sessions_of = sa.select(s).where(s.c.subject == _text("owner"))
        self.select_denied = sa.select(d.c.jti).where(
            d.c.jti == _text("denied"), d.c.expires_at > now
        )

        # -- writing
        #: Parameters named after the columns (see :func:`.._rows.session_values`).
        self.insert_session = sa.insert(s)
        self._shapes: dict[UpdateShape, CompareAndSet] = {}
        self._subject_updates: dict[UpdateShape, sa.Update] = {}
        self.deny_access = self._deny_access()
        self.record_cutoff = self._record_cutoff()
        c = tables.cutoffs
        self.select_cutoff = sa.select(c).where(c.c.subject == _text("owner"))

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
        self.delete_sessions = sa.delete(s).where(s.c.sid.in_(doomed))
        self._denial_purges: dict[int, sa.Executable] = {}

    # ------------------------------------------------------ compare-and-set

    def compare_and_set(self, shape: UpdateShape) -> CompareAndSet:
        """The statements of ``shape``, built on first use and kept for every later call."""
        statements = self._shapes.get(shape)
        if statements is None:
            statements = self._build(shape)
            self._shapes[shape] = statements
        return statements

    def revoke_subject(self, revocation: SessionUpdate) -> sa.Update:
        """``revocation``'s compare-and-set applied to every session of a subject at once.

        The same translation as :meth:`compare_and_set`, finding its rows by
        ``subject`` instead of ``sid``, without ``RETURNING`` (the caller
        wants a count); kept per shape like the others.
        """
        shape = shape_of(revocation)
        statement = self._subject_updates.get(shape)
        if statement is None:
            s = self.tables.sessions
            statement = (
                sa.update(s)
                .where(s.c.subject == _text(KEY_PARAMETER), *self._conditions(shape))
                .values(self._values(shape))
            )
            self._subject_updates[shape] = statement
        return statement

    @property
    def shapes(self) -> int:
        """How many update shapes have statements built (a handful in a running service)."""
        return len(self._shapes) + len(self._subject_updates)

    def _build(self, shape: UpdateShape) -> CompareAndSet:
        s = self.tables.sessions
        found = s.c.sid == _text(KEY_PARAMETER)
        conditions = self._conditions(shape)
        held = sa.case((sa.and_(*conditions), 1), else_=0) if conditions else sa.literal(1)
        select_held = sa.select(s, held.label("held")).where(found)
        values = self._values(shape)
        if not values:
            return CompareAndSet(None, select_held)
        update = sa.update(s).where(found, *conditions).values(values)
        if self.returning:
            update = update.returning(*s.c)
        return CompareAndSet(update, select_held)

    def _conditions(self, shape: UpdateShape) -> list[sa.ColumnElement[bool]]:
        return [self._condition(index, check) for index, check in enumerate(shape.checks)]

    def _condition(self, index: int, check: tuple[str, CheckOp, bool]) -> sa.ColumnElement[bool]:
        """One check in SQL, as :func:`~refreshkit.backends.base.check_holds` defines it."""
        name, op, unset = check
        column = self.tables.sessions.c[name]
        if unset:
            if op in (CheckOp.EQUALS, CheckOp.UNSET_OR_EQUALS):
                return column.is_(None)
            return sa.false()  # nothing is AFTER or BELOW an unset value
        value = sa.bindparam(_check_parameter(index), type_=column.type)
        if op is CheckOp.AFTER:
            return column > value
        if op is CheckOp.BELOW:
            return column < value
        equal = self._equal(column, value)
        if op is CheckOp.EQUALS:
            return equal
        return sa.or_(column.is_(None), equal)

    def _equal(
        self, column: sa.Column[Any], value: sa.BindParameter[Any]
    ) -> sa.ColumnElement[bool]:
        """``column = value``; byte for byte on MariaDB/MySQL, whose text collations ignore case."""
        if self.family == "mysql" and isinstance(column.type, sa.String):
            return sa.cast(column, sa.LargeBinary) == sa.cast(value, sa.LargeBinary)
        return column == value

    def _values(self, shape: UpdateShape) -> dict[str, Any]:
        """The SET clause: each change to its parameter, each increment one more.

        A change of ``idle_expires_at`` also moves ``expires_at``, the
        earlier of the two expiries, which the purge index needs.
        """
        s = self.tables.sessions
        values: dict[str, Any] = {
            name: sa.bindparam(_change_parameter(name), type_=s.c[name].type)
            for name in shape.changes
        }
        for name in shape.increments:
            values[name] = (values[name] if name in values else s.c[name]) + 1
        if "idle_expires_at" in values:
            idle = values["idle_expires_at"]
            absolute = s.c.absolute_expires_at
            values["expires_at"] = sa.case((idle < absolute, idle), else_=absolute)
        return values

    # ------------------------------------------------------------- denials

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

    def _record_cutoff(self) -> sa.Executable:
        """Upsert a subject's cutoff, keeping the later one (its reason and time with it).

        MariaDB/MySQL assign left to right, seeing the values already set:
        ``cutoff_at`` goes last, so the other columns compare with the stored one.
        """
        c = self.tables.cutoffs
        values = {
            "subject": _text("owner"),
            "cutoff_at": _at("cutoff_at"),
            "reason": _text("reason"),
            "recorded_at": _at("recorded_at"),
        }
        names = ("reason", "recorded_at", "cutoff_at")
        if self.family == "mysql":
            my = mysql.insert(c).values(values)
            later = my.inserted.cutoff_at > c.c.cutoff_at
            return my.on_duplicate_key_update(
                [(n, sa.case((later, my.inserted[n]), else_=c.c[n])) for n in names]
            )
        if self.family == "postgresql":
            pg = postgresql.insert(c).values(values)
            later = pg.excluded.cutoff_at > c.c.cutoff_at
            return pg.on_conflict_do_update(
                index_elements=[c.c.subject],
                set_={n: sa.case((later, pg.excluded[n]), else_=c.c[n]) for n in names},
            )
        lite = sqlite.insert(c).values(values)
        later = lite.excluded.cutoff_at > c.c.cutoff_at
        return lite.on_conflict_do_update(
            index_elements=[c.c.subject],
            set_={n: sa.case((later, lite.excluded[n]), else_=c.c[n]) for n in names},
        )

    # -------------------------------------------------------------- purging

    def _purge_batch_in_one(self) -> sa.Select[int, Any]:
        """PostgreSQL: delete one batch of expired sessions in one statement.

        The batch is the next ``batch`` sessions along the expiry index from
        ``after`` (the latest expiry the previous batch deleted), so each
        batch starts where the last one ended instead of walking the index
        entries of rows already deleted. ``SKIP LOCKED`` leaves sessions
        another transaction is using for the next run. Returns how many it
        deleted and the latest expiry among them.
        """
        s = self.tables.sessions
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
        return sa.select(
            sa.func.count().label("deleted"), sa.func.max(gone.c.expires_at).label("last")
        ).select_from(gone)

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


def purge_params(now: datetime, after: datetime, batch_size: int) -> dict[str, Any]:
    """Parameters of one purge batch: expired at ``now``, expiring no earlier than ``after``."""
    return {"now": now, "after": after, "batch": batch_size}
