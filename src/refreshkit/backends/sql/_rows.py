"""Rows to values and back: the mapping between the SQL tables and :mod:`refreshkit.models`.

Kept apart from :mod:`._statements` so the SQL there reads without the
bookkeeping. Parameter dicts use the names the prebuilt statements bind
(``s_<column>`` and ``r_<column>`` for whole rows).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...models import RefreshRecord, Session

__all__ = [
    "RECORD_PREFIX",
    "SESSION_PREFIX",
    "record_from_row",
    "record_params",
    "record_values",
    "session_from_row",
    "session_params",
    "session_values",
    "state_from_row",
]

#: Prefixes of the session's and the record's columns in a joined row, and of
#: their bind parameters in a whole-row insert.
SESSION_PREFIX = "s_"
RECORD_PREFIX = "r_"


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
        "sealed_successor": session.sealed_successor,
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


def session_params(session: Session) -> dict[str, Any]:
    """Bind parameters of a whole session row (``s_<column>``)."""
    return {SESSION_PREFIX + name: value for name, value in session_values(session).items()}


def record_params(record: RefreshRecord) -> dict[str, Any]:
    """Bind parameters of a whole refresh-token row (``r_<column>``)."""
    return {RECORD_PREFIX + name: value for name, value in record_values(record).items()}


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
        sealed_successor=row[prefix + "sealed_successor"],
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


def state_from_row(row: Mapping[Any, Any]) -> tuple[RefreshRecord | None, Session | None]:
    """The ``(record, session)`` of a joined row (columns prefixed ``r_`` and ``s_``)."""
    return record_from_row(row, RECORD_PREFIX), session_from_row(row, SESSION_PREFIX)
