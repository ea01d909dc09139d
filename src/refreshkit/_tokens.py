"""The opaque refresh-token format: ``rk_<token_id>.<secret>``.

``token_id`` is a public selector made of the session id (32 hex digits)
and 16 more random hex digits, so a store can find a token's session without
a lookup (Redis Cluster routes by it). ``secret`` carries 256 bits from
:mod:`secrets`; only its SHA-256 is stored, and hashes are compared in
constant time. The ``rk_`` prefix lets secret scanners spot leaked tokens,
and a refresh token can never parse as a JWT.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from .errors import InvalidTokenError

__all__ = [
    "PREFIX",
    "hash_device",
    "hash_secret",
    "new_jti",
    "new_refresh_token",
    "new_session_id",
    "parse_refresh_token",
    "secrets_match",
    "session_id_of",
]

PREFIX = "rk_"
_SID_LENGTH = 32
_SELECTOR_LENGTH = 16
_TOKEN = re.compile(r"rk_([0-9a-f]{48})\.([A-Za-z0-9_-]{43})")
#: Longest input worth parsing; anything longer is refused before any work.
MAX_TOKEN_LENGTH = 8192


def new_session_id() -> str:
    """A fresh, unguessable session id (128 bits, hex)."""
    return secrets.token_hex(_SID_LENGTH // 2)


def new_jti() -> str:
    """A fresh access-token id (128 bits)."""
    return secrets.token_urlsafe(16)


def session_id_of(token_id: str) -> str:
    """The session id embedded in a ``token_id``."""
    return token_id[:_SID_LENGTH]


def hash_secret(secret: str) -> str:
    """SHA-256 of a token secret, hex: what stores keep instead of the secret."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def hash_device(device: str) -> str:
    """A domain-separated SHA-256 of a device identifier, so stores never hold it."""
    return hashlib.sha256(b"refreshkit-device\x00" + device.encode("utf-8")).hexdigest()


def secrets_match(expected_hash: str, presented_hash: str) -> bool:
    """Constant-time comparison of two secret hashes."""
    return hmac.compare_digest(expected_hash.encode("ascii"), presented_hash.encode("ascii"))


def new_refresh_token(sid: str) -> tuple[str, str, str]:
    """Mint a refresh token for session ``sid``: ``(token, token_id, secret_hash)``."""
    token_id = sid + secrets.token_hex(_SELECTOR_LENGTH // 2)
    secret = secrets.token_urlsafe(32)
    return f"{PREFIX}{token_id}.{secret}", token_id, hash_secret(secret)


def parse_refresh_token(token: object) -> tuple[str, str]:
    """Split a presented refresh token into ``(token_id, secret_hash)``.

    Raises :class:`InvalidTokenError` for anything that is not exactly the
    format, whatever its type or size.
    """
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidTokenError("malformed refresh token")
    match = _TOKEN.fullmatch(token.strip())
    if match is None:
        raise InvalidTokenError("malformed refresh token")
    return match.group(1), hash_secret(match.group(2))
