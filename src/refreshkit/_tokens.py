"""The opaque refresh-token format: ``rk_<token_id>.<secret>``.

``token_id`` is a public selector made of the session id (32 hex digits)
and 16 more random hex digits, so a store can find a token's session without
a lookup (Redis Cluster routes by it). ``secret`` is 256 bits from
:mod:`secrets`, base64url: the session's *chain key* (128 bits, drawn once at
login and carried by every token of the session) followed by 128 bits drawn
for this token alone. Only the secret's SHA-256 is stored, and hashes are
compared in constant time. The session also keeps a hash of its chain key
(:func:`hash_chain_key`): that is how any earlier token of a session, however
many rotations ago, is told from a forgery with bounded storage, since only a
holder of one of its tokens knows the key. The ``rk_`` prefix lets secret
scanners spot leaked tokens, and a refresh token can never parse as a JWT.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import InvalidTokenError

__all__ = [
    "PREFIX",
    "PresentedToken",
    "hash_chain_key",
    "hash_device",
    "hash_secret",
    "new_jti",
    "new_refresh_token",
    "new_session_id",
    "open_successor",
    "parse_refresh_token",
    "read_refresh_token",
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


_CHAIN_KEY_LENGTH = 16
_OWN_LENGTH = 16


def new_refresh_token(sid: str, chain_key: bytes | None = None) -> tuple[str, str, str]:
    """Mint a refresh token for session ``sid``: ``(token, token_id, secret_hash)``.

    ``chain_key`` is the session's (from the token being rotated); None draws
    a new one, for a new session.
    """
    token_id = sid + secrets.token_hex(_SELECTOR_LENGTH // 2)
    key = chain_key if chain_key is not None else secrets.token_bytes(_CHAIN_KEY_LENGTH)
    raw = key + secrets.token_bytes(_OWN_LENGTH)
    secret = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    return f"{PREFIX}{token_id}.{secret}", token_id, hash_secret(secret)


def hash_chain_key(chain_key: bytes) -> str:
    """A domain-separated SHA-256 of a session's chain key: what the session keeps."""
    return hashlib.sha256(b"refreshkit-chain\x00" + chain_key).hexdigest()


def parse_refresh_token(token: object) -> tuple[str, str]:
    """Split a presented refresh token into ``(token_id, secret_hash)``.

    Raises :class:`InvalidTokenError` for anything that is not exactly the
    format, whatever its type or size.
    """
    match = _match(token)
    return match.group(1), hash_secret(match.group(2))


@dataclass(frozen=True, slots=True)
class PresentedToken:
    """A refresh token as a client presented it, parsed once for the whole refresh."""

    #: The token as parsed (surrounding whitespace stripped).
    token: str = field(repr=False)
    token_id: str
    secret_hash: str = field(repr=False)
    #: The session's chain key the token carries (see the module docstring).
    chain_key: bytes = field(repr=False)

    @property
    def sid(self) -> str:
        """The session the token names."""
        return self.token_id[:_SID_LENGTH]

    @property
    def chain_hash(self) -> str:
        """:func:`hash_chain_key` of the token's chain key."""
        return hash_chain_key(self.chain_key)


def read_refresh_token(token: object) -> PresentedToken:
    """Parse a presented refresh token; :class:`InvalidTokenError` when malformed."""
    match = _match(token)
    secret = match.group(2)
    raw = base64.urlsafe_b64decode(secret + "=")
    return PresentedToken(
        token=match.group(0),
        token_id=match.group(1),
        secret_hash=hash_secret(secret),
        chain_key=raw[:_CHAIN_KEY_LENGTH],
    )


def _match(token: object) -> re.Match[str]:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidTokenError("malformed refresh token")
    match = _TOKEN.fullmatch(token.strip())
    if match is None:
        raise InvalidTokenError("malformed refresh token")
    return match


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
    key = hmac.digest(_SEAL_SALT, secret.encode("ascii"), "sha256")
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
