"""Sessions and records to Redis hash fields and back, exactly.

Times are integers (microseconds since the epoch), so they round-trip to the
microsecond as aware UTC datetimes and Lua can compare them. Field names are
one character, and the secret hash is kept as 43 characters of base64url
rather than 64 of hex, so a session with a few records stays a compact
listpack hash (every value at most 64 bytes). Everything stored is text,
so a shared client with ``decode_responses=True`` reads it too.

Session fields, all of them always present::

    u subject   c created   i idle expiry   a absolute expiry   l last used
    t current token selector   g generation
    d device hash   p scope   ('' when None, else '.' + the value)
    m claims (JSON, '' when empty)
    v revoked: '' when not, else '<revoked at>' or '<revoked at>,<reason>'
    x y z the sealed successor ('' when None, else '.' + the value), cut in
          parts of at most 64 bytes: one longer value would turn the whole
          hash into a hashtable (``hash-max-listpack-value``), 2.0-2.4
          times the memory. ``z`` holds whatever is left of a longer value.

A session stored before sealed successors existed has a grace counter
``n`` and no ``x``, ``y``, ``z``: it reads as a session without a sealed
successor, and its next rotation writes them and drops ``n``.

A record is two values: its secret hash, and
``generation,created,consumed,use_count,parent`` (empty when absent). The
session's current record (selector ``t``) lives in the fixed fields ``k``
(secret) and ``r`` (metadata); every other record in two fields named by its
selector (the token id without the session id): ``:<selector>`` and
``.<selector>``.

The retired records form a bounded history: ``h`` (a fixed field, after
``k`` and ``r``) counts the records retired so far, and the n-th one is also
named in the ring slot ``#<n % history>``, so a rotation finds the oldest
record, the one to delete, with one lookup (see ``scripts/consume.lua``).

Why this shape: a listpack finds a field by scanning from the front, and an
absent field costs a scan of the whole hash, which grows by one record per
refresh. A refresh reads only fields near the front (the session and the
current record, all present), so its cost does not grow with the session's
history; only the record it retires is appended at the end.
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
    "CURRENT_RECORD_FIELDS",
    "RETIRED_COUNT_FIELD",
    "SEALED_FIELDS",
    "SESSION_FIELDS",
    "Reply",
    "decode_record",
    "decode_secret",
    "decode_lookup",
    "decode_session",
    "encode_record",
    "encode_optional",
    "encode_secret",
    "encode_session",
    "from_micros",
    "lookup_fields",
    "micros",
    "millis_ceiling",
    "record_fields",
    "record_from_text",
    "sealed_parts",
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

#: The fields holding the parts of the session's sealed successor, in order.
SEALED_FIELDS: tuple[str, str, str] = ("x", "y", "z")
#: The most bytes a part of the sealed successor holds (Redis' default hash-max-listpack-value).
SEALED_PART_BYTES = 64
#: The session's fields, in the order the scripts and :func:`decode_session` use.
SESSION_FIELDS: tuple[str, ...] = (
    "u",
    "c",
    "i",
    "a",
    "l",
    "t",
    "g",
    "d",
    "p",
    "m",
    "v",
    *SEALED_FIELDS,
)
#: The fields of the session's current record: ``(secret, metadata)``.
CURRENT_RECORD_FIELDS: tuple[str, str] = ("k", "r")
#: Counts the records retired into the history so far (see ``scripts/consume.lua``).
RETIRED_COUNT_FIELD = "h"
#: Marks a present optional text value (device hash, scope), so '' can mean None.
_PRESENT = "."

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
    """The session's hash fields."""
    revoked = "" if session.revoked_at is None else str(micros(session.revoked_at))
    if session.revoked_reason is not None:
        revoked += "," + session.revoked_reason
    return {
        "u": session.subject,
        "c": str(micros(session.created_at)),
        "i": str(micros(session.idle_expires_at)),
        "a": str(micros(session.absolute_expires_at)),
        "l": str(micros(session.last_used_at)),
        "t": KeyLayout.token_selector(session.current_token_id),
        "g": str(session.generation),
        "d": encode_optional(session.device_hash),
        "p": encode_optional(session.scope),
        "m": (
            json.dumps(dict(session.claims), separators=(",", ":"), ensure_ascii=False)
            if session.claims
            else ""
        ),
        "v": revoked,
        **dict(zip(SEALED_FIELDS, sealed_parts(session.sealed_successor), strict=True)),
    }


def sealed_parts(sealed: str | None) -> tuple[str, str, str]:
    """The stored parts of a sealed successor (``scripts/consume.lua`` stores them as given).

    Each of the first two holds at most :data:`SEALED_PART_BYTES` bytes of
    UTF-8, cut between characters (hash-max-listpack-value: one longer value
    would turn the whole hash into a hashtable); the last holds the rest.
    """
    data = encode_optional(sealed).encode("utf-8")
    parts: list[str] = []
    for _ in range(len(SEALED_FIELDS) - 1):
        cut = min(SEALED_PART_BYTES, len(data))
        while cut < len(data) and cut > 0 and data[cut] & 0xC0 == 0x80:
            cut -= 1  # a continuation byte: the character starts before the cut
        parts.append(data[:cut].decode("utf-8"))
        data = data[cut:]
    parts.append(data.decode("utf-8"))
    return parts[0], parts[1], parts[2]


def encode_optional(value: str | None) -> str:
    """The stored form of an optional text value: '' for None, else '.' + value."""
    return "" if value is None else _PRESENT + value


def _optional(stored: str | None) -> str | None:
    return stored[1:] if stored else None


def decode_session(sid: str, values: Sequence[Reply]) -> Session | None:
    """A session from its fields in :data:`SESSION_FIELDS` order; None if absent."""
    return session_from_text(sid, [text(value) for value in values[: len(SESSION_FIELDS)]])


def session_from_text(sid: str, values: Sequence[str | None]) -> Session | None:
    """:func:`decode_session` for values already decoded to str (None when absent)."""
    (subject, created, idle, absolute, last, current, generation) = values[:7]
    device, scope, claims, revoked, sealed_1, sealed_2, sealed_3 = values[7:14]
    if (
        subject is None
        or created is None
        or idle is None
        or absolute is None
        or last is None
        or current is None
        or generation is None
    ):
        return None
    revoked_at = reason = None
    if revoked:
        at, comma, rest = revoked.partition(",")
        revoked_at = from_micros(int(at)) if at else None
        reason = rest if comma else None
    return Session(
        sid=sid,
        subject=subject,
        created_at=from_micros(int(created)),
        idle_expires_at=from_micros(int(idle)),
        absolute_expires_at=from_micros(int(absolute)),
        last_used_at=from_micros(int(last)),
        current_token_id=sid + current,
        generation=int(generation),
        # Absent parts (a session stored before sealed successors existed) read as ''.
        sealed_successor=_optional((sealed_1 or "") + (sealed_2 or "") + (sealed_3 or "")),
        device_hash=_optional(device),
        scope=_optional(scope),
        claims=json.loads(claims) if claims else {},
        revoked_at=revoked_at,
        revoked_reason=reason,
    )


def record_fields(selector: str) -> tuple[str, str]:
    """The two hash fields of a record that is not its session's current one.

    ``(secret field, metadata field)``; the current record is in
    :data:`CURRENT_RECORD_FIELDS`.
    """
    return ":" + selector, "." + selector


def encode_record(record: RefreshRecord, *, current: bool) -> dict[str, str]:
    """The record's two hash fields; ``current``: it is its session's current record."""
    selector = KeyLayout.token_selector(record.token_id)
    secret_field, meta_field = CURRENT_RECORD_FIELDS if current else record_fields(selector)
    parent = ""
    if record.parent_id is not None:
        if record.parent_id.startswith(record.sid):
            parent = KeyLayout.token_selector(record.parent_id)
        else:
            parent = _FOREIGN_PARENT + record.parent_id
    consumed = "" if record.consumed_at is None else str(micros(record.consumed_at))
    meta = f"{record.generation},{micros(record.created_at)},{consumed},{record.use_count},{parent}"
    return {secret_field: encode_secret(record.secret_hash), meta_field: meta}


def lookup_fields(selector: str) -> list[str]:
    """What to HMGET for :func:`decode_lookup`: the session, its current record, ``selector``'s."""
    return [*SESSION_FIELDS, *CURRENT_RECORD_FIELDS, *record_fields(selector)]


def decode_lookup(
    token_id: str, values: Sequence[Reply]
) -> tuple[Session | None, RefreshRecord | None]:
    """The session and the record of ``token_id`` from the values of :func:`lookup_fields`."""
    count = len(SESSION_FIELDS)
    sid = _tokens.session_id_of(token_id)
    session = decode_session(sid, values[:count])
    current_secret, current_meta, secret, meta = values[count : count + 4]
    is_current = session is not None and session.current_token_id == token_id
    if is_current and current_secret is not None:
        secret, meta = current_secret, current_meta
    return session, decode_record(token_id, secret, meta)


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
