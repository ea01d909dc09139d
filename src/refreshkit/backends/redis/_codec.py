"""Sessions to Redis hash fields and back, exactly; and the previous layout, read.

One hash holds one session, every field of it and nothing else, so its size
is the same after one refresh as after a thousand. Field names are one
character; a field that is None (or claims that are empty) is absent. Times
are integer microseconds since the epoch (they round-trip to the
microsecond, Lua compares them as decimal integers, and a listpack stores
them as 8-byte integers); ints are decimal; hashes (secrets, the chain key,
the device) are 43 characters of base64url instead of 64 of hex. Every value
stays at most 64 bytes, so the hash keeps Redis' compact listpack encoding
(``hash-max-listpack-value``); the sealed successor, about 165 characters, is
cut into three parts for that. Everything stored is text, so a shared client
with ``decode_responses=True`` reads it too::

    u subject           c created        i idle expiry      a absolute expiry
    l last used         t current token selector             k current secret hash
    g generation        e use count      T previous token selector
    K previous secret hash               o rotated at       j chain hash
    x y z sealed successor (parts)       d device hash      p scope
    m claims (JSON)     v revoked at     q revoked reason
    w client id         f confirmation (cnf, JSON)
    A user agent        I client IP (as stored)              L device label
    N idle lifetime (microseconds)

The last four came with session metadata and remember me; a hash written
before them lacks them and reads as a session without metadata that slides
by the settings' idle lifetime. A user agent longer than 64 bytes turns that
session's hash into Redis' hashtable encoding (more memory, same behaviour).

A token selector is the token id without its session id (every token of a
session starts with it), or ``~`` and the whole id for one that does not.

The previous layout (before the compare-and-set contract) is recognised by
its field ``r`` (the current record's metadata); see :func:`legacy_session`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ...models import ChangeValue, Session

__all__ = [
    "FIELDS",
    "LEGACY_MARKER",
    "Kind",
    "READ_FIELDS",
    "SEALED_FIELDS",
    "SEALED_PART_BYTES",
    "Reply",
    "decode_secret",
    "encode_secret",
    "encode_session",
    "from_micros",
    "legacy_session",
    "micros",
    "millis_ceiling",
    "read_session",
    "sealed_parts",
    "session_from_fields",
    "text",
]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
#: Marks a hash stored verbatim because it is not a lowercase SHA-256 hex digest.
_VERBATIM = "="
_URLSAFE = bytes.maketrans(b"+/", b"-_")
#: Marks a token id stored whole because it does not start with its session id.
_FOREIGN = "~"
_SID_LENGTH = 32

#: The fields holding the parts of the session's sealed successor, in order.
SEALED_FIELDS: tuple[str, str, str] = ("x", "y", "z")
#: The most bytes a part of the sealed successor holds (Redis' default hash-max-listpack-value).
SEALED_PART_BYTES = 64
#: A field only the previous layout has: its presence means "read me with legacy_session".
LEGACY_MARKER = "r"

#: One value of a Redis reply: bytes or str depending on the client, or None.
Reply = bytes | str | None


# ------------------------------------------------------------------ values


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
    """The stored form of a hash: base64url of the digest when it is hex SHA-256."""
    if len(secret_hash) == 64 and _HEX_DIGEST.fullmatch(secret_hash):
        encoded = binascii.b2a_base64(bytes.fromhex(secret_hash), newline=False)
        return encoded[:43].translate(_URLSAFE).decode("ascii")
    return _VERBATIM + secret_hash


def decode_secret(stored: str) -> str:
    """The hash :func:`encode_secret` stored as ``stored``."""
    if stored.startswith(_VERBATIM):
        return stored[len(_VERBATIM) :]
    return base64.urlsafe_b64decode(stored + "=").hex()


def sealed_parts(sealed: str) -> tuple[str, str, str]:
    """The stored parts of a sealed successor, concatenated back by the reader.

    Each of the first two holds at most :data:`SEALED_PART_BYTES` bytes of
    UTF-8, cut between characters (hash-max-listpack-value: one longer value
    would turn the whole hash into a hashtable, 2.0-2.4 times the memory);
    the last holds the rest.
    """
    if sealed.isascii():  # one byte a character: cut anywhere (a sealed token always is)
        return (
            sealed[:SEALED_PART_BYTES],
            sealed[SEALED_PART_BYTES : 2 * SEALED_PART_BYTES],
            sealed[2 * SEALED_PART_BYTES :],
        )
    data = sealed.encode("utf-8")
    parts: list[str] = []
    for _ in range(len(SEALED_FIELDS) - 1):
        cut = min(SEALED_PART_BYTES, len(data))
        while 0 < cut < len(data) and data[cut] & 0xC0 == 0x80:
            cut -= 1  # a continuation byte: the character starts before the cut
        parts.append(data[:cut].decode("utf-8"))
        data = data[cut:]
    parts.append(data.decode("utf-8"))
    return parts[0], parts[1], parts[2]


def _selector(sid: str, token_id: str) -> str:
    if token_id.startswith(sid) and not token_id.startswith(_FOREIGN, _SID_LENGTH):
        return token_id[len(sid) :]
    return _FOREIGN + token_id


def _token_id(sid: str, stored: str) -> str:
    return stored[1:] if stored.startswith(_FOREIGN) else sid + stored


def _compact_json(claims: Mapping[str, Any]) -> str:
    return json.dumps(dict(claims), separators=(",", ":"), ensure_ascii=False)


_Encode = Callable[[str, Any], str]
_Decode = Callable[[str, str], Any]


@dataclass(frozen=True, slots=True)
class Kind:
    """How one kind of session field is stored and read, and the Python type it holds.

    ``encode(sid, value)`` and ``decode(sid, stored)`` get the session id:
    token selectors are relative to it.
    """

    encode: _Encode
    decode: _Decode
    type: type | tuple[type, ...]
    #: Stored as a decimal integer, so Lua can order it.
    ordered: bool = False


TIME = Kind(lambda _, v: str(micros(v)), lambda _, s: from_micros(int(s)), datetime, True)
INT = Kind(lambda _, v: str(int(v)), lambda _, s: int(s), int, True)
DURATION = Kind(
    lambda _, v: str(v // _MICROSECOND),
    lambda _, s: timedelta(microseconds=int(s)),
    timedelta,
    True,
)
HASH = Kind(lambda _, v: encode_secret(v), lambda _, s: decode_secret(s), str)
TOKEN = Kind(_selector, _token_id, str)
TEXT = Kind(lambda _, v: v, lambda _, s: s, str)
#: The session's claims: one JSON object, written whole (by a re-authentication).
CLAIMS = Kind(lambda _, v: _compact_json(v), lambda _, s: json.loads(s), Mapping)

#: Every session attribute but ``sid``, ``sealed_successor``, ``claims`` and ``cnf``: its
#: field, its kind.
FIELDS: dict[str, tuple[str, Kind]] = {
    "subject": ("u", TEXT),
    "created_at": ("c", TIME),
    "idle_expires_at": ("i", TIME),
    "absolute_expires_at": ("a", TIME),
    "last_used_at": ("l", TIME),
    "current_token_id": ("t", TOKEN),
    "current_secret_hash": ("k", HASH),
    "generation": ("g", INT),
    "use_count": ("e", INT),
    "previous_token_id": ("T", TOKEN),
    "previous_secret_hash": ("K", HASH),
    "rotated_at": ("o", TIME),
    "chain_hash": ("j", HASH),
    "device_hash": ("d", HASH),
    "scope": ("p", TEXT),
    "client_id": ("w", TEXT),
    "revoked_at": ("v", TIME),
    "revoked_reason": ("q", TEXT),
    "user_agent": ("A", TEXT),
    "client_ip": ("I", TEXT),
    "device_label": ("L", TEXT),
    "idle_ttl": ("N", DURATION),
}
#: What a read HMGETs: every session field, the claims, and the legacy marker last.
READ_FIELDS: tuple[str, ...] = (
    *(letter for letter, _ in FIELDS.values()),
    *SEALED_FIELDS,
    "m",
    "f",
    LEGACY_MARKER,
)


# ---------------------------------------------------------------- sessions


def encode_session(session: Session) -> dict[str, str]:
    """The session's hash fields (None values, empty claims and no ``cnf`` are left out)."""
    sid = session.sid
    fields: dict[str, str] = {}
    for name, (letter, kind) in FIELDS.items():
        value = getattr(session, name)
        if value is not None:
            fields[letter] = kind.encode(sid, value)
    if session.sealed_successor is not None:
        fields.update(zip(SEALED_FIELDS, sealed_parts(session.sealed_successor), strict=True))
    if session.claims:
        fields["m"] = _compact_json(session.claims)
    if session.cnf is not None:
        fields["f"] = _compact_json(session.cnf)
    return fields


def session_from_fields(
    sid: str, fields: Mapping[str, str], known: Mapping[str, ChangeValue] | None = None
) -> Session | None:
    """The session stored as ``fields`` (new layout); None if it has no subject.

    ``known``: attributes whose value the caller already holds (what an
    update just wrote), used as given instead of decoded.
    """
    if "u" not in fields:
        return None
    values: dict[str, Any] = {}
    revoked = fields.get("v")
    if revoked is not None and "," in revoked:
        # Written by a revoke script of the previous release during a rolling upgrade.
        at, _, reason = revoked.partition(",")
        values["revoked_at"] = from_micros(int(at)) if at else None
        values["revoked_reason"] = reason
    for name, (letter, kind) in FIELDS.items():
        if known is not None and name in known:
            values[name] = known[name]
            continue
        stored = fields.get(letter)
        if stored is not None and name not in values:
            values[name] = kind.decode(sid, stored)
    if known is not None and "sealed_successor" in known:
        values["sealed_successor"] = known["sealed_successor"]
    elif "x" in fields:
        values["sealed_successor"] = fields["x"] + fields.get("y", "") + fields.get("z", "")
    claims = fields.get("m")
    if known is not None and "claims" in known:
        values["claims"] = dict(known["claims"])  # type: ignore[arg-type]
    elif claims:
        values["claims"] = json.loads(claims)
    cnf = fields.get("f")
    if cnf is not None:
        values["cnf"] = json.loads(cnf)
    return Session(sid=sid, **values)


def read_session(sid: str, values: list[Reply]) -> tuple[Session | None, bool]:
    """``(session, is_legacy)`` from an HMGET of :data:`READ_FIELDS`.

    A legacy hash cannot be read from these fields alone (its previous token
    is in a record named by its parent): the caller re-reads it whole and
    decodes it with :func:`legacy_session`.
    """
    fields = {
        letter: text(value)
        for letter, value in zip(READ_FIELDS, values, strict=True)
        if value is not None
    }
    if LEGACY_MARKER in fields:
        return None, True
    return session_from_fields(sid, fields), False  # type: ignore[arg-type]


# ------------------------------------------------------------------ legacy


def _optional(stored: str | None) -> str | None:
    """The previous layout's optional text: '' for None, else '.' + value."""
    return stored[1:] if stored else None


def legacy_session(sid: str, fields: Mapping[str, str]) -> Session | None:
    """A session stored in the previous layout, read as this contract sees it (best effort).

    That layout kept the session's fields (``d``, ``p``, the sealed successor
    ``x y z`` as '' or '.' + value; ``v`` as ``<revoked at>[,<reason>]``),
    the current token's secret in ``k`` and its metadata
    ``generation,created,consumed,use_count,parent`` in ``r``, and every
    retired token in fields ``:<selector>`` (secret) and ``.<selector>``
    (metadata), with a ring of slots ``#<n>``, a counter ``h`` and a grace
    counter ``n``. Here: the use count comes from ``r``; the previous token
    is the current one's parent (its secret from ``:<parent>``, its
    consumption from ``.<parent>``); there is no chain hash, so any older
    token reads as unknown. None without a subject or a current record.
    """
    subject, current, meta, secret = (fields.get(f) for f in ("u", "t", LEGACY_MARKER, "k"))
    if subject is None or current is None or meta is None or secret is None:
        return None
    _, _, _, use_count, parent = meta.split(",", 4)
    previous_id = previous_hash = rotated_at = None
    if parent and not parent.startswith(_FOREIGN):
        parent_secret, parent_meta = fields.get(":" + parent), fields.get("." + parent)
        if parent_secret is not None and parent_meta is not None:
            previous_id = sid + parent
            previous_hash = decode_secret(parent_secret)
            consumed = parent_meta.split(",", 4)[2]
            rotated_at = from_micros(int(consumed)) if consumed else None
    revoked_at = reason = None
    revoked = fields.get("v")
    if revoked:
        at, comma, rest = revoked.partition(",")
        revoked_at = from_micros(int(at)) if at else None
        reason = rest if comma else None
    sealed = "".join(fields.get(part) or "" for part in SEALED_FIELDS)
    claims = fields.get("m")
    return Session(
        sid=sid,
        subject=subject,
        created_at=from_micros(int(fields["c"])),
        idle_expires_at=from_micros(int(fields["i"])),
        absolute_expires_at=from_micros(int(fields["a"])),
        last_used_at=from_micros(int(fields["l"])),
        current_token_id=sid + current,
        current_secret_hash=decode_secret(secret),
        generation=int(fields.get("g") or 0),
        use_count=int(use_count),
        previous_token_id=previous_id,
        previous_secret_hash=previous_hash,
        rotated_at=rotated_at,
        sealed_successor=_optional(sealed),
        device_hash=_optional(fields.get("d")),
        scope=_optional(fields.get("p")),
        claims=json.loads(claims) if claims else {},
        revoked_at=revoked_at,
        revoked_reason=reason,
    )
