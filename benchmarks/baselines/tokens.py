"""The token work a careful engineer writes by hand: the same formats and crypto as refreshkit.

Refresh tokens have refreshkit's layout, ``rk_<sid32><selector16>.<secret43>``,
whose secret is the session's 16-byte chain key followed by 16 fresh random
bytes (base64url); only the secret's SHA-256 is stored. A rotation mints the
successor and seals it with AES-256-GCM under a key derived from the
presented secret (HMAC-SHA256, as refreshkit does), so the store keeps the
same fields. Access tokens are PyJWT-signed RFC 9068 JWTs with the same
claims.

Everything that can be built once is: the token regex, the header segment,
the JSON encoder and the prepared signing key, so signing is PyJWT's
algorithm object on the claims and nothing else. ``jwt.encode`` would
re-prepare the key, re-serialise the header and sort it on every call
(:func:`pyjwt_sign` is kept to show what that costs). Verification offers
both: :meth:`AccessTokens.verify` the way PyJWT's docs show it, and
:meth:`AccessTokens.verify_floor`, hand-rolled on PyJWT's algorithm objects.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from jwt.algorithms import get_default_algorithms

ISSUER = "refreshkit"
AUDIENCE = "refreshkit"
ACCESS_TTL = 900
IDLE_TTL = 14 * 24 * 3600
ABSOLUTE_TTL = 30 * 24 * 3600
REQUIRED = ["exp", "iat", "nbf", "sub", "jti", "iss", "aud"]

_ALGORITHMS = get_default_algorithms()
_TOKEN = re.compile(r"rk_([0-9a-f]{32})([0-9a-f]{16})\.([A-Za-z0-9_-]{43})")
_SEAL_SALT = b"refreshkit/successor/v1"
_CHAIN_SALT = b"refreshkit-chain\x00"
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_JSON = json.JSONEncoder(separators=(",", ":"))


def b64url(data: bytes) -> str:
    """Unpadded base64url (binascii, then translate: the fastest spelling in CPython)."""
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# ------------------------------------------------------------------- refresh


@dataclass(frozen=True, slots=True)
class Presented:
    """A presented refresh token, parsed once: everything the rotation needs from it."""

    token: str
    sid: str
    token_id: str
    secret: str
    secret_hash: str
    chain_key: bytes


def parse(token: object) -> Presented:
    """One regex match, one base64 decode, one SHA-256; ValueError when malformed."""
    if not isinstance(token, str) or len(token) > 200:
        raise ValueError("malformed refresh token")
    match = _TOKEN.fullmatch(token.strip())
    if match is None:
        raise ValueError("malformed refresh token")
    sid, selector, secret = match.groups()
    return Presented(
        match.group(0),
        sid,
        sid + selector,
        secret,
        hashlib.sha256(secret.encode()).hexdigest(),
        _b64url_decode(secret)[:16],
    )


def mint(sid: str, chain_key: bytes) -> tuple[str, str, str]:
    """``(token, token_id, secret_hash)`` of a new token of session ``sid``."""
    token_id = sid + secrets.token_hex(8)
    secret = b64url(chain_key + secrets.token_bytes(16))
    return f"rk_{token_id}.{secret}", token_id, hashlib.sha256(secret.encode()).hexdigest()


def chain_hash(chain_key: bytes) -> str:
    """What the session keeps of its chain key (refreshkit's domain-separated SHA-256)."""
    return hashlib.sha256(_CHAIN_SALT + chain_key).hexdigest()


def new_session_token() -> tuple[str, str, str, str, str]:
    """``(sid, token, token_id, secret_hash, chain_hash)`` for a login."""
    sid = secrets.token_hex(16)
    key = secrets.token_bytes(16)
    token, token_id, secret_hash = mint(sid, key)
    return sid, token, token_id, secret_hash, chain_hash(key)


def seal(presented: Presented, successor: str) -> str:
    """The successor under AES-256-GCM keyed by HMAC-SHA256(salt, presented secret)."""
    key = hmac.digest(_SEAL_SALT, presented.secret.encode(), "sha256")
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(key).encrypt(nonce, successor.encode(), presented.token_id.encode())
    return b64url(nonce + sealed)


# -------------------------------------------------------------------- access


class AccessTokens:
    """Sign and verify RFC 9068 access tokens (``typ: at+jwt``, ``kid``) with PyJWT."""

    def __init__(self, private: Any, public: Any, algorithm: str, kid: str) -> None:
        self.private, self.public, self.algorithm, self.kid = private, public, algorithm, kid
        self.keys = {kid: public}
        self._family = _ALGORITHMS[algorithm]
        self._signing_key = self._family.prepare_key(private)
        self._verifying = {kid: (algorithm, self._family.prepare_key(public))}
        header = {"alg": algorithm, "kid": kid, "typ": "at+jwt"}
        self._header = b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())

    def claims(self, subject: str, sid: str, now: int, expires: int) -> dict[str, Any]:
        return {
            "iss": ISSUER,
            "sub": subject,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": expires,
            "jti": secrets.token_urlsafe(16),
            "sid": sid,
        }

    def sign(self, subject: str, sid: str, now: int, expires: int) -> str:
        """PyJWT's algorithm on a prebuilt header and a prepared key."""
        body = b64url(_JSON.encode(self.claims(subject, sid, now, expires)).encode())
        signing_input = f"{self._header}.{body}"
        signature = self._family.sign(signing_input.encode(), self._signing_key)
        return f"{signing_input}.{b64url(signature)}"

    def pyjwt_sign(self, subject: str, sid: str, now: int, expires: int) -> str:
        """The same token through ``jwt.encode``: what the PyJWT docs show."""
        return jwt.encode(
            self.claims(subject, sid, now, expires),
            self.private,
            algorithm=self.algorithm,
            headers={"kid": self.kid, "typ": "at+jwt"},
        )

    def verify(self, token: str) -> dict[str, Any]:
        """PyJWT as its docs show: header first (kid, typ), then ``jwt.decode``, same checks."""
        header = jwt.get_unverified_header(token)
        if header.get("typ") != "at+jwt":
            raise jwt.InvalidTokenError("not an access token")
        key = self.keys[header["kid"]]
        return jwt.decode(
            token,
            key,
            algorithms=[self.algorithm],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": REQUIRED},
        )

    def verify_floor(self, token: str) -> dict[str, Any]:
        """Hand-rolled on PyJWT's algorithm objects: manual base64/JSON, the same checks."""
        header_segment, payload_segment, signature_segment = token.split(".")
        header = json.loads(_b64url_decode(header_segment))
        if header.get("typ") != "at+jwt":
            raise jwt.InvalidTokenError("not an access token")
        algorithm, key = self._verifying[header["kid"]]
        if header.get("alg") != algorithm:
            raise jwt.InvalidTokenError("wrong algorithm")
        signing_input = token[: len(header_segment) + 1 + len(payload_segment)].encode()
        if not self._family.verify(signing_input, key, _b64url_decode(signature_segment)):
            raise jwt.InvalidSignatureError("signature does not verify")
        payload: dict[str, Any] = json.loads(_b64url_decode(payload_segment))
        for claim in REQUIRED:
            if claim not in payload:
                raise jwt.MissingRequiredClaimError(claim)
        if payload["iss"] != ISSUER or payload["aud"] != AUDIENCE:
            raise jwt.InvalidTokenError("issuer or audience")
        now = time.time()
        if now >= payload["exp"] or now < payload["nbf"] or now < payload["iat"]:
            raise jwt.InvalidTokenError("outside its lifetime")
        return payload
