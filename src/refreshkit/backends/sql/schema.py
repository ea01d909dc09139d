"""The SQL backend's tables, in SQLAlchemy Core: no ORM base is imposed.

Three tables, named ``<prefix>sessions``, ``<prefix>denied_access`` and
``<prefix>subject_cutoffs`` (one row per subject whose sessions were cut off
before an instant: ``revoke_subject(subject, before=...)``), built
on a fresh or a caller-supplied :class:`~sqlalchemy.MetaData` so they can
live beside an application's own schema (and its own Alembic history).

A session is one row, whatever the number of refreshes: it holds its own
bounded token state (the newest token and the hash of its secret, the one it
replaced and when, the hash of its chain key, the sealed successor), exactly
the fields of :class:`~refreshkit.models.Session`. Every write is a
compare-and-set of that one row.

Times are stored as ``BIGINT`` microseconds since the Unix epoch (UTC), see
:class:`UTCMicroseconds`: exact, timezone-free, identical on every dialect,
and compared as plain integers inside SQL. ``sessions.expires_at`` is the
earlier of the idle and absolute expiry, kept in one indexed column that the
store maintains with every write of ``idle_expires_at``, so that
:meth:`purge_expired` walks one index. ``sessions.sealed_successor`` is the
session's newest token sealed under its predecessor's secret (NULL until the
first rotation): opaque text the store writes and reports back, never reads
into.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ...errors import ConfigurationError

__all__ = ["DEFAULT_PREFIX", "Microseconds", "SQLTables", "UTCMicroseconds", "build_tables"]

DEFAULT_PREFIX = "refreshkit_"
_PREFIX = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,29}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

#: Column sizes follow the token format in :mod:`refreshkit._tokens`.
SID_LENGTH = 32
TOKEN_ID_LENGTH = 48
HASH_LENGTH = 64
#: A registered client's id (printable ASCII; RFC 6749 leaves its length open).
CLIENT_ID_LENGTH = 255
#: A session's metadata, as the policy bounds it (see :mod:`refreshkit._policy`).
USER_AGENT_LENGTH = 512
CLIENT_IP_LENGTH = 64
DEVICE_LABEL_LENGTH = 255


class UTCMicroseconds(sa.types.TypeDecorator[datetime]):
    """An aware UTC datetime stored as integer microseconds since the epoch.

    Why not ``DateTime``: SQLite has no datetime type (text compares by
    format), MariaDB's ``TIMESTAMP`` converts through the session time zone
    and ``DATETIME(6)`` drops the offset, and drivers disagree on naive vs
    aware values. An integer round-trips exactly everywhere and compares
    correctly in SQL. Raises :class:`ValueError` when given a naive datetime.
    """

    impl: type[sa.types.TypeEngine[Any]] | sa.types.TypeEngine[Any] = sa.BigInteger
    cache_ok: bool | None = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> int | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise ValueError("refreshkit stores only timezone-aware datetimes")
        return (value - _EPOCH) // _MICROSECOND

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return _EPOCH + timedelta(microseconds=int(value))


class Microseconds(sa.types.TypeDecorator[timedelta]):
    """A :class:`~datetime.timedelta` stored as integer microseconds (a session's idle lifetime).

    Exact on every dialect, like :class:`UTCMicroseconds`.
    """

    impl: type[sa.types.TypeEngine[Any]] | sa.types.TypeEngine[Any] = sa.BigInteger
    cache_ok: bool | None = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> int | None:
        if value is None:
            return None
        if not isinstance(value, timedelta):
            raise ValueError("a duration must be a timedelta")
        return value // _MICROSECOND

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> timedelta | None:
        if value is None:
            return None
        return timedelta(microseconds=int(value))


@dataclass(frozen=True, slots=True)
class SQLTables:
    """The backend's two tables and the metadata they belong to."""

    metadata: sa.MetaData
    prefix: str
    sessions: sa.Table
    denials: sa.Table
    cutoffs: sa.Table

    @property
    def all(self) -> list[sa.Table]:
        """The tables in creation order."""
        return [self.sessions, self.denials, self.cutoffs]

    @property
    def version_table(self) -> str:
        """The Alembic version table of this prefix, so several prefixes coexist."""
        return f"{self.prefix}alembic_version"


def check_prefix(prefix: str) -> str:
    """Return ``prefix`` if it is a safe identifier start; ConfigurationError otherwise."""
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise ConfigurationError(
            "table_prefix must be letters, digits and underscores (at most 30), "
            f"not starting with a digit: {prefix!r}"
        )
    return prefix


def build_tables(prefix: str = DEFAULT_PREFIX, metadata: sa.MetaData | None = None) -> SQLTables:
    """Define the tables named ``<prefix>...`` on ``metadata`` (a new one by default).

    Raises :class:`~refreshkit.errors.ConfigurationError` for a prefix that is
    not a plain identifier, and SQLAlchemy's ``InvalidRequestError`` when
    ``metadata`` already holds tables with these names.
    """
    check_prefix(prefix)
    metadata = metadata if metadata is not None else sa.MetaData()
    time = UTCMicroseconds
    sessions = sa.Table(
        f"{prefix}sessions",
        metadata,
        sa.Column("sid", sa.String(SID_LENGTH), primary_key=True),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("created_at", time(), nullable=False),
        sa.Column("idle_expires_at", time(), nullable=False),
        sa.Column("absolute_expires_at", time(), nullable=False),
        sa.Column("expires_at", time(), nullable=False),
        sa.Column("last_used_at", time(), nullable=False),
        sa.Column("current_token_id", sa.String(TOKEN_ID_LENGTH), nullable=False),
        sa.Column("current_secret_hash", sa.String(HASH_LENGTH), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("use_count", sa.Integer(), nullable=False),
        sa.Column("previous_token_id", sa.String(TOKEN_ID_LENGTH), nullable=True),
        sa.Column("previous_secret_hash", sa.String(HASH_LENGTH), nullable=True),
        sa.Column("rotated_at", time(), nullable=True),
        sa.Column("sealed_successor", sa.Text(), nullable=True),
        sa.Column("chain_hash", sa.String(HASH_LENGTH), nullable=True),
        sa.Column("device_hash", sa.String(HASH_LENGTH), nullable=True),
        sa.Column("scope", sa.Text(), nullable=True),
        sa.Column("claims", sa.JSON(), nullable=False),
        sa.Column("client_id", sa.String(CLIENT_ID_LENGTH), nullable=True),
        sa.Column("cnf", sa.JSON(), nullable=True),
        sa.Column("revoked_at", time(), nullable=True),
        sa.Column("revoked_reason", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(USER_AGENT_LENGTH), nullable=True),
        sa.Column("client_ip", sa.String(CLIENT_IP_LENGTH), nullable=True),
        sa.Column("device_label", sa.String(DEVICE_LABEL_LENGTH), nullable=True),
        sa.Column("idle_ttl", Microseconds(), nullable=True),
        sa.Index(f"ix_{prefix}sessions_subject", "subject"),
        sa.Index(f"ix_{prefix}sessions_expires_at", "expires_at"),
    )
    denials = sa.Table(
        f"{prefix}denied_access",
        metadata,
        sa.Column("jti", sa.String(255), primary_key=True),
        sa.Column("expires_at", time(), nullable=False),
        sa.Index(f"ix_{prefix}denied_access_expires_at", "expires_at"),
    )
    cutoffs = sa.Table(
        f"{prefix}subject_cutoffs",
        metadata,
        sa.Column("subject", sa.String(255), primary_key=True),
        sa.Column("cutoff_at", time(), nullable=False),
        sa.Column("reason", sa.String(64), nullable=False),
        sa.Column("recorded_at", time(), nullable=False),
    )
    return SQLTables(metadata, prefix, sessions, denials, cutoffs)
