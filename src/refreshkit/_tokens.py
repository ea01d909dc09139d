"""The opaque refresh-token format: ``rk_<token_id>.<secret>``.

``token_id`` is a public selector made of the session id (32 hex digits)
and 16 more random hex digits, so a store can find a token's session without
a lookup (Redis Cluster routes by it). ``secret`` carries 256 bits from
:mod:`secrets`; only its SHA-256 is stored, and hashes are compared in
constant time. The ``rk_`` prefix lets secret scanners spot leaked tokens,
and a refresh token can never parse as a JWT.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import InvalidTokenError

__all__ = [
    "PREFIX",
    "hash_device",
    "hash_secret",
    "new_jti",
    "new_refresh_token",
    "new_session_id",
    "open_successor",
    "parse_refresh_token",
    "seal_successor",
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


_SEAL_SALT = b"refreshkit/successor/v1"
_NONCE_LENGTH = 12


def _seal_key(presented: str) -> tuple[AESGCM, bytes]:
    """The AES-256-GCM key only ``presented``'s secret derives, and its token id as AAD.

    Derived from the secret itself, not its stored SHA-256 (and under a salt
    of its own): whoever holds the database has the hash, never the key.
    """
    # The canonical token, as parse_refresh_token reads it: a retry sent with or
    # without surrounding whitespace must derive the same key.
    token_id, _, secret = presented.strip().removeprefix(PREFIX).partition(".")
    # HKDF-Extract (RFC 5869 §2.2): HMAC-SHA256 keyed by the salt. The secret
    # already carries 256 bits of entropy, so the 32-byte PRK is the key.
    key = hmac.new(_SEAL_SALT, secret.encode("ascii"), hashlib.sha256).digest()
    return AESGCM(key), token_id.encode("ascii")


def seal_successor(presented: str, successor: str) -> str:
    """``successor`` encrypted under a key derived from the ``presented`` token's secret.

    Stored with the session at rotation so that a retry of ``presented`` (a
    lost reply, a resent request, a racing tab) recovers the very same
    successor; the stored text is useless without ``presented``. Both are
    well-formed refresh tokens (the caller parsed or minted them).
    """
    cipher, aad = _seal_key(presented)
    nonce = secrets.token_bytes(_NONCE_LENGTH)
    sealed = nonce + cipher.encrypt(nonce, successor.encode("ascii"), aad)
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")


def open_successor(sealed: str, presented: str) -> str | None:
    """The successor :func:`seal_successor` sealed under ``presented``, or None.

    None when ``sealed`` was not sealed under ``presented`` (or was altered):
    the caller treats that as a token that is not the successor's predecessor.
    """
    cipher, aad = _seal_key(presented)
    try:
        raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        opened = cipher.decrypt(raw[:_NONCE_LENGTH], raw[_NONCE_LENGTH:], aad)
        return opened.decode("ascii")
    except (InvalidTag, ValueError, binascii.Error, UnicodeDecodeError):
        return None
