"""The only module that imports PyJWT: signing, verifying, JWK conversion.

Every PyJWT (and cryptography) failure is mapped to refreshkit's errors at
this boundary, so callers see :class:`~refreshkit.errors.InvalidTokenError`
for any malformed or forged input, whatever its shape. Time checks
(``exp``/``nbf``/``iat``) are *not* done here: PyJWT reads the system clock,
and the manager's :class:`~refreshkit.clock.Clock` is the only source of
time, so :mod:`refreshkit._policy` checks them with ``now`` passed in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jwt
from jwt.algorithms import get_default_algorithms

from .errors import ConfigurationError, InvalidTokenError

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "SUPPORTED_ALGORITHMS",
    "decode",
    "encode",
    "jwk_from_key",
    "key_from_jwk",
    "unverified_header",
]

#: RFC 9068 §2.1 media type of access tokens.
ACCESS_TOKEN_TYPE = "at+jwt"
_ACCEPTED_TYPES = frozenset({"at+jwt", "application/at+jwt"})
SUPPORTED_ALGORITHMS = ("HS256", "HS384", "HS512", "RS256", "PS256", "ES256", "EdDSA")
_ALGORITHMS = get_default_algorithms()
_MAX_JWT_LENGTH = 16384
#: Only the signature and the token's integrity are PyJWT's job; claims are ours.
_DECODE_OPTIONS: Any = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": True,
    "verify_iss": True,
    "require": ["exp", "iat", "nbf", "sub", "jti", "iss", "aud"],
}


def encode(payload: Mapping[str, Any], key: Any, algorithm: str, kid: str) -> str:
    """Sign ``payload`` as an RFC 9068 access token (``typ: at+jwt``, ``kid``)."""
    return jwt.encode(
        dict(payload), key, algorithm=algorithm, headers={"typ": ACCESS_TOKEN_TYPE, "kid": kid}
    )


def unverified_header(token: object) -> dict[str, Any]:
    """The JOSE header, parsed but not trusted: only to pick the key by ``kid``.

    Refuses non-strings, oversized input, and headers without a string ``kid``,
    ``alg`` other than a supported one, or the wrong ``typ``.
    """
    if not isinstance(token, str) or not token or len(token) > _MAX_JWT_LENGTH:
        raise InvalidTokenError("malformed access token")
    if token.count(".") != 2:
        raise InvalidTokenError("malformed access token")
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, ValueError, TypeError, UnicodeError):
        raise InvalidTokenError("malformed access token") from None
    kid, alg, typ = header.get("kid"), header.get("alg"), header.get("typ")
    if not isinstance(kid, str) or not isinstance(alg, str):
        raise InvalidTokenError("access token header lacks kid or alg")
    if alg not in SUPPORTED_ALGORITHMS:
        raise InvalidTokenError("access token algorithm not accepted")
    if not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYPES:
        raise InvalidTokenError("not an access token (typ must be at+jwt)")
    return header


def decode(
    token: str, key: Any, algorithm: str, *, issuer: str, audience: tuple[str, ...]
) -> dict[str, Any]:
    """Verify the signature with exactly ``algorithm`` and check ``iss``/``aud``.

    The key's own algorithm is the only one allowed, which is what defeats
    ``alg: none`` and algorithm confusion (e.g. HS256 keyed with an RSA public key).
    """
    try:
        payload: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            issuer=issuer,
            audience=list(audience),
            options=_DECODE_OPTIONS,
        )
    except jwt.InvalidIssuerError:
        raise InvalidTokenError("access token issuer not accepted") from None
    except jwt.InvalidAudienceError:
        raise InvalidTokenError("access token audience not accepted") from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidTokenError(f"access token lacks the {exc.claim!r} claim") from None
    except jwt.InvalidSignatureError:
        raise InvalidTokenError("access token signature does not verify") from None
    except (jwt.PyJWTError, ValueError, TypeError, KeyError, UnicodeError, OverflowError):
        raise InvalidTokenError("malformed access token") from None
    return payload


def jwk_from_key(key: Any, algorithm: str, *, private: bool = False) -> dict[str, Any]:
    """Export a key as a JWK dict (public part unless ``private``)."""
    family = _ALGORITHMS[algorithm]
    if private:
        exported: Any = family.to_jwk(key, as_dict=True)
    else:
        public = key.public_key() if hasattr(key, "public_key") else key
        exported = family.to_jwk(public, as_dict=True)
    return dict(exported)


def key_from_jwk(jwk: Mapping[str, Any] | str) -> tuple[Any, str, str | None]:
    """Load a JWK (dict or JSON): ``(key object, algorithm, kid)``.

    Raises :class:`ConfigurationError` when the JWK is unusable or names no
    supported algorithm.
    """
    data: Any = json.loads(jwk) if isinstance(jwk, str) else dict(jwk)
    try:
        parsed = jwt.PyJWK(data)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise ConfigurationError(f"unusable JWK: {exc}") from None
    algorithm = data.get("alg") or parsed.algorithm_name
    if algorithm == "Ed25519":
        algorithm = "EdDSA"
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise ConfigurationError(f"JWK algorithm {algorithm!r} is not supported")
    kid = data.get("kid")
    return parsed.key, algorithm, kid if isinstance(kid, str) else None
