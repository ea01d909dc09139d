"""Access tokens with plain PyJWT, refresh tokens with ``secrets`` + SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

import jwt

ISSUER = "refreshkit"
AUDIENCE = "refreshkit"
ACCESS_TTL = 900
REFRESH_TTL = 14 * 24 * 3600
REQUIRED = ["exp", "iat", "nbf", "sub", "jti", "iss", "aud"]


class AccessTokens:
    """Sign and verify RFC 9068 access tokens the way the PyJWT docs show."""

    def __init__(self, private: Any, public: Any, algorithm: str, kid: str) -> None:
        self.private, self.public, self.algorithm, self.kid = private, public, algorithm, kid
        self.keys = {kid: public}

    def sign(self, subject: str, sid: str) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + ACCESS_TTL,
            "jti": secrets.token_urlsafe(16),
            "sid": sid,
        }
        return jwt.encode(
            claims,
            self.private,
            algorithm=self.algorithm,
            headers={"kid": self.kid, "typ": "at+jwt"},
        )

    def verify(self, token: str) -> dict[str, Any]:
        """The same checks as refreshkit: kid lookup, one algorithm, typ, iss, aud, times."""
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


def new_refresh_token(family: str) -> tuple[str, str, str]:
    """``(token, token_id, secret_hash)``; the token is ``<family>.<id>.<secret>``."""
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return f"{family}.{token_id}.{secret}", token_id, hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_refresh_token(token: str) -> tuple[str, str, str]:
    """``(family, token_id, secret_hash)``; ValueError when malformed."""
    family, token_id, secret = token.split(".")
    return family, token_id, hash_secret(secret)


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)
