"""Sessions and records to Redis hash fields and back, exactly.

Times are integers (microseconds since the epoch), so they round-trip to the
microsecond as aware UTC datetimes and Lua can compare them. Field names are
one character, and the secret hash is kept as 43 characters of base64url
rather than 64 of hex, so a session with a few records stays a compact
listpack hash (every value at most 64 bytes). Everything stored is text,
so a shared client with ``decode_responses=True`` reads it too.

Session fields::

    u subject   c created   i idle expiry   a absolute expiry   l last used
    t current token selector   g generation   n grace reuses
    d device hash   p scope   m claims (JSON)   v revoked at   w revoked reason

Each record adds two fields, named by its selector (the token id without
the session id): ``:<selector>`` the secret hash and ``.<selector>``
``generation,created,consumed,use_count,parent`` (empty when absent).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from ... import _tokens
from ...models import RefreshRecord, Session
from .keys import KeyLayout

__all__ = [
    "SESSION_FIELDS",
    "Reply",
    "decode_record",
    "decode_secret",
    "decode_session",
    "encode_record",
    "encode_secret",
    "encode_session",
    "from_micros",
    "micros",
    "millis_ceiling",
    "record_fields",
    "record_from_text",
    "session_from_text",
    "text",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
#: Marks a secret hash stored verbatim because it is not a lowercase SHA-256 hex digest.
_VERBATIM = "="
#: Marks a parent id from another session, stored whole instead of as a selector.
_FOREIGN_PARENT = "~"

#: The session's fields, in the order the scripts and :func:`decode_session` use.
SESSION_FIELDS: tuple[str, ...] = ("u", "c", "i", "a", "l", "t", "g", "n", "d", "p", "m", "v", "w")

#: One value of a Redis reply: bytes or str depending on the client, or None.
Reply = bytes | str | None


def micros(moment: datetime) -> int:
    """Microseconds since the epoch; exact for any aware datetime."""
    return (moment - EPOCH) // _MICROSECOND


def from_micros(value: int) -> datetime:
    """The aware UTC datetime ``value`` microseconds after the epoch."""
    # Seconds and microseconds apart: timedelta normalises that faster than a huge µs count.
    return EPOCH + timedelta(0, value // 1_000_000, value % 1_000_000)


def millis_ceiling(moment: datetime) -> int:
    """Milliseconds since the epoch, rounded up: a key expiring then outlives ``moment``."""
    return -(-micros(moment) // 1000)


def text(value: Reply) -> str | None:
    """A reply value as str (clients may or may not decode responses)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value


def encode_secret(secret_hash: str) -> str:
    """The stored form of a secret hash: base64url of the digest when it is hex SHA-256."""
    if _HEX_DIGEST.fullmatch(secret_hash):
        return base64.urlsafe_b64encode(bytes.fromhex(secret_hash)).rstrip(b"=").decode("ascii")
    return _VERBATIM + secret_hash


def decode_secret(stored: str) -> str:
    """The secret hash :func:`encode_secret` stored as ``stored``."""
    if stored.startswith(_VERBATIM):
        return stored[len(_VERBATIM) :]
    return base64.urlsafe_b64decode(stored + "=").hex()


def encode_session(session: Session) -> dict[str, str]:
    """The session's hash fields (optional ones omitted when empty)."""
    fields = {
        "u": session.subject,
        "c": str(micros(session.created_at)),
        "i": str(micros(session.idle_expires_at)),
        "a": str(micros(session.absolute_expires_at)),
        "l": str(micros(session.last_used_at)),
        "t": KeyLayout.token_selector(session.current_token_id),
        "g": str(session.generation),
        "n": str(session.grace_reuses),
    }
    if session.device_hash is not None:
        fields["d"] = session.device_hash
    if session.scope is not None:
        fields["p"] = session.scope
    if session.claims:
        fields["m"] = json.dumps(dict(session.claims), separators=(",", ":"), ensure_ascii=False)
    if session.revoked_at is not None:
        fields["v"] = str(micros(session.revoked_at))
    if session.revoked_reason is not None:
        fields["w"] = session.revoked_reason
    return fields


def decode_session(sid: str, values: Sequence[Reply]) -> Session | None:
    """A session from its fields in :data:`SESSION_FIELDS` order; None if absent."""
    return session_from_text(sid, [text(value) for value in values[: len(SESSION_FIELDS)]])


def session_from_text(sid: str, values: Sequence[str | None]) -> Session | None:
    """:func:`decode_session` for values already decoded to str (None when absent)."""
    (subject, created, idle, absolute, last, current, generation, grace) = values[:8]
    device, scope, claims, revoked, reason = values[8:13]
    if (
        subject is None
        or created is None
        or idle is None
        or absolute is None
        or last is None
        or current is None
        or generation is None
        or grace is None
    ):
        return None
    return Session(
        sid=sid,
        subject=subject,
        created_at=from_micros(int(created)),
        idle_expires_at=from_micros(int(idle)),
        absolute_expires_at=from_micros(int(absolute)),
        last_used_at=from_micros(int(last)),
        current_token_id=sid + current,
        generation=int(generation),
        grace_reuses=int(grace),
        device_hash=device,
        scope=scope,
        claims=json.loads(claims) if claims else {},
        revoked_at=None if revoked is None else from_micros(int(revoked)),
        revoked_reason=reason,
    )


def record_fields(selector: str) -> tuple[str, str]:
    """The two hash fields of a record: ``(secret field, metadata field)``."""
    return ":" + selector, "." + selector


def encode_record(record: RefreshRecord) -> dict[str, str]:
    """The record's two hash fields."""
    secret_field, meta_field = record_fields(KeyLayout.token_selector(record.token_id))
    parent = ""
    if record.parent_id is not None:
        if record.parent_id.startswith(record.sid):
            parent = KeyLayout.token_selector(record.parent_id)
        else:
            parent = _FOREIGN_PARENT + record.parent_id
    consumed = "" if record.consumed_at is None else str(micros(record.consumed_at))
    meta = f"{record.generation},{micros(record.created_at)},{consumed},{record.use_count},{parent}"
    return {secret_field: encode_secret(record.secret_hash), meta_field: meta}


def decode_record(token_id: str, secret: Reply, meta: Reply) -> RefreshRecord | None:
    """A record from its two stored fields; None if absent."""
    stored_secret, stored_meta = text(secret), text(meta)
    if stored_secret is None or stored_meta is None:
        return None
    return record_from_text(token_id, decode_secret(stored_secret), stored_meta)


def record_from_text(token_id: str, secret_hash: str, meta: str) -> RefreshRecord:
    """A record from its secret hash (as the policy sees it) and its stored metadata."""
    generation, created, consumed, use_count, parent = meta.split(",", 4)
    sid = _tokens.session_id_of(token_id)
    parent_id: str | None = None
    if parent.startswith(_FOREIGN_PARENT):
        parent_id = parent[len(_FOREIGN_PARENT) :]
    elif parent:
        parent_id = sid + parent
    return RefreshRecord(
        token_id=token_id,
        sid=sid,
        secret_hash=secret_hash,
        generation=int(generation),
        created_at=from_micros(int(created)),
        parent_id=parent_id,
        consumed_at=from_micros(int(consumed)) if consumed else None,
        use_count=int(use_count),
    )
