"""Rows to sessions and back: a sessions table's columns and :class:`Session`.

Shared by the two stores with a sessions table, the SQL backend and the
Django ORM store (their tables have the same columns). A row's columns are
the session's fields one for one, plus ``expires_at`` (the earlier of the
two expiries, kept for the index). No database library is imported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..models import Session

__all__ = ["session_from_row", "session_values"]


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
        "current_secret_hash": session.current_secret_hash,
        "generation": session.generation,
        "use_count": session.use_count,
        "previous_token_id": session.previous_token_id,
        "previous_secret_hash": session.previous_secret_hash,
        "rotated_at": session.rotated_at,
        "sealed_successor": session.sealed_successor,
        "chain_hash": session.chain_hash,
        "device_hash": session.device_hash,
        "scope": session.scope,
        "claims": dict(session.claims),
        "client_id": session.client_id,
        "cnf": dict(session.cnf) if session.cnf is not None else None,
        "revoked_at": session.revoked_at,
        "revoked_reason": session.revoked_reason,
        "user_agent": session.user_agent,
        "client_ip": session.client_ip,
        "device_label": session.device_label,
        "idle_ttl": session.idle_ttl,
    }


def session_from_row(row: Mapping[Any, Any]) -> Session:
    """The session a whole row of the sessions table holds."""
    return Session(
        sid=row["sid"],
        subject=row["subject"],
        created_at=row["created_at"],
        idle_expires_at=row["idle_expires_at"],
        absolute_expires_at=row["absolute_expires_at"],
        last_used_at=row["last_used_at"],
        current_token_id=row["current_token_id"],
        current_secret_hash=row["current_secret_hash"],
        generation=row["generation"],
        use_count=row["use_count"],
        previous_token_id=row["previous_token_id"],
        previous_secret_hash=row["previous_secret_hash"],
        rotated_at=row["rotated_at"],
        sealed_successor=row["sealed_successor"],
        chain_hash=row["chain_hash"],
        device_hash=row["device_hash"],
        scope=row["scope"],
        claims=row["claims"] or {},
        client_id=row["client_id"],
        cnf=row["cnf"],
        revoked_at=row["revoked_at"],
        revoked_reason=row["revoked_reason"],
        user_agent=row["user_agent"],
        client_ip=row["client_ip"],
        device_label=row["device_label"],
        idle_ttl=row["idle_ttl"],
    )
