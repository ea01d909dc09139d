"""The only module that imports PyJWT: signing, verifying, JWK conversion.

Every PyJWT (and cryptography) failure is mapped to refreshkit's errors at
this boundary, so callers see :class:`~refreshkit.errors.InvalidTokenError`
for any malformed or forged input, whatever its shape. PyJWT's algorithm
objects sign and verify; the compact JWS framing around them is parsed here,
strictly, so a token's header is parsed once (not twice) and the key is
prepared once per key rather than per token. Time checks
(``exp``/``nbf``/``iat``) are *not* done here: PyJWT reads the system clock,
and the manager's :class:`~refreshkit.clock.Clock` is the only source of
time, so :mod:`refreshkit._policy` checks them with ``now`` passed in.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import jwt
from jwt.algorithms import get_default_algorithms

from .errors import ConfigurationError, InvalidTokenError

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "SUPPORTED_ALGORITHMS",
    "VerificationKey",
    "encode",
    "jwk_from_key",
    "key_from_jwk",
    "unverified_header",
    "verify",
]

#: RFC 9068 §2.1 media type of access tokens.
ACCESS_TOKEN_TYPE = "at+jwt"
_ACCEPTED_TYPES = frozenset({"at+jwt", "application/at+jwt"})
SUPPORTED_ALGORITHMS = ("HS256", "HS384", "HS512", "RS256", "PS256", "ES256", "EdDSA")
_ALGORITHMS = get_default_algorithms()
_MAX_JWT_LENGTH = 16384
#: Claims every access token carries (checked in this order, like PyJWT's ``require``).
_REQUIRED_CLAIMS = ("exp", "iat", "nbf", "sub", "jti", "iss", "aud")


class VerificationKey(Protocol):
    """What :func:`verify` needs of a key: its one algorithm and its public half."""

    @property
    def algorithm(self) -> str:
        """The only algorithm this key may verify."""
        ...

    @property
    def public(self) -> Any:
        """The verification key (the shared secret for HMAC)."""
        ...


#: Bounded memos. Header segments repeat for every token a key signs, and
#: PyJWT's ``prepare_key`` (PEM sniffing for HMAC secrets) costs more than an
#: HMAC itself, so both are done once. Keyed by content or identity, never
#: trusted beyond what re-parsing would give; cleared wholesale when full.
_MEMO_SIZE = 256
_parsed_headers: dict[str, tuple[str, str]] = {}
_prepared_keys: dict[int, tuple[Any, Any]] = {}
_signing_headers: dict[tuple[str, str], str] = {}
_URLSAFE = bytes.maketrans(b"+/", b"-_")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_SEGMENT_SEPARATOR = "."
#: One reusable encoder: ``json.dumps`` with ``separators`` builds a new one per call.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))
#: The last character of a canonical segment whose length is 2 or 3 (mod 4):
#: the bits that fall outside the decoded bytes must be zero.
_CANONICAL_LAST = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}


def _remember(memo: dict[Any, Any], key: Any, value: Any) -> None:
    if len(memo) >= _MEMO_SIZE:
        memo.clear()
    memo[key] = value


def _prepared(algorithm: str, key: Any) -> Any:
    """``key`` as PyJWT's algorithm wants it, prepared once per key object."""
    entry = _prepared_keys.get(id(key))
    if entry is not None and entry[0] is key:
        return entry[1]
    prepared = _ALGORITHMS[algorithm].prepare_key(key)
    _remember(_prepared_keys, id(key), (key, prepared))
    return prepared


def _b64encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def _b64decode(segment: str) -> bytes:
    """Strict base64url: the URL-safe alphabet, no padding, canonical trailing bits."""
    if len(segment) % 4 == 1 or _B64URL.fullmatch(segment) is None:
        raise ValueError("not base64url")
    tail = len(segment) % 4
    if tail and segment[-1] not in _CANONICAL_LAST[tail]:
        # Unused low bits set: another spelling of the same bytes (malleable).
        raise ValueError("non-canonical base64url")
    return base64.urlsafe_b64decode(segment + "=" * (4 - tail if tail else 0))


def _json_segment(segment: str) -> Any:
    """A segment's JSON, which must be UTF-8 (RFC 8725 §3.7).

    Decoded strictly before parsing: given bytes, ``json.loads`` would guess
    UTF-16/32, skip a UTF-8 BOM and pass lone surrogates, so two parsers
    could read one signed token differently. Raises ValueError/UnicodeError.
    """
    return json.loads(_b64decode(segment).decode("utf-8"))


def encode(payload: Mapping[str, Any], key: Any, algorithm: str, kid: str) -> str:
    """Sign ``payload`` as an RFC 9068 access token (``typ: at+jwt``, ``kid``).

    The same compact JWS PyJWT's ``jwt.encode`` produces (sorted header,
    compact JSON), signed by PyJWT's algorithm; the header segment and the
    prepared key are reused between calls. Raises :class:`TypeError` when a
    claim is not JSON-serialisable.
    """
    header = _signing_headers.get((algorithm, kid))
    if header is None:
        fields = {"alg": algorithm, "kid": kid, "typ": ACCESS_TOKEN_TYPE}
        header = _b64encode(json.dumps(fields, separators=(",", ":"), sort_keys=True).encode())
        _remember(_signing_headers, (algorithm, kid), header)
    claims = payload if isinstance(payload, dict) else dict(payload)
    body = _b64encode(_COMPACT_JSON.encode(claims).encode("utf-8"))
    signing_input = f"{header}.{body}"
    signature = _ALGORITHMS[algorithm].sign(
        signing_input.encode("ascii"), _prepared(algorithm, key)
    )
    return f"{signing_input}.{_b64encode(signature)}"


def _parse_header(segment: str) -> tuple[str, str]:
    """``(kid, alg)`` of a JOSE header segment, validated but not trusted."""
    known = _parsed_headers.get(segment)
    if known is not None:
        return known
    try:
        header = _json_segment(segment)
    except (ValueError, TypeError, UnicodeError, RecursionError):
        raise InvalidTokenError("malformed access token") from None
    if not isinstance(header, dict):
        raise InvalidTokenError("malformed access token")
    kid, alg, typ = header.get("kid"), header.get("alg"), header.get("typ")
    if not isinstance(kid, str) or not isinstance(alg, str):
        raise InvalidTokenError("access token header lacks kid or alg")
    if alg not in SUPPORTED_ALGORITHMS:
        raise InvalidTokenError("access token algorithm not accepted")
    if not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYPES:
        raise InvalidTokenError("not an access token (typ must be at+jwt)")
    if "crit" in header or "b64" in header:
        # We understand no JWS extension, so a critical one must be refused.
        raise InvalidTokenError("access token uses an unsupported JWS extension")
    parsed = (kid, alg)
    _remember(_parsed_headers, segment, parsed)
    return parsed


def unverified_header(token: object) -> dict[str, Any]:
    """The JOSE header's ``kid``, ``alg`` and ``typ``, parsed but not trusted.

    Refuses non-strings, oversized input, and headers without a string ``kid``,
    ``alg`` other than a supported one, the wrong ``typ``, or a JWS extension.
    """
    kid, alg = _parse_header(_split(token)[0])
    return {"kid": kid, "alg": alg, "typ": ACCESS_TOKEN_TYPE}


def _split(token: object) -> list[str]:
    if not isinstance(token, str) or not token or len(token) > _MAX_JWT_LENGTH:
        raise InvalidTokenError("malformed access token")
    parts = token.split(_SEGMENT_SEPARATOR)
    if len(parts) != 3:
        raise InvalidTokenError("malformed access token")
    return parts


def verify(
    token: object,
    key_for: Callable[[str], VerificationKey | None],
    *,
    issuer: str,
    audience: tuple[str, ...],
) -> dict[str, Any]:
    """Verify an access token and return its payload; times are the caller's job.

    The header names the key by ``kid`` (``key_for`` finds it); the key's own
    algorithm is the only one allowed, which is what defeats ``alg: none`` and
    algorithm confusion (e.g. HS256 keyed with an RSA public key). Then the
    signature (PyJWT's algorithm), then ``iss``, ``aud`` and the presence of
    the required claims. Raises :class:`InvalidTokenError` for every failure.
    """
    header_segment, payload_segment, signature_segment = _split(token)
    kid, alg = _parse_header(header_segment)
    key = key_for(kid)
    if key is None:
        raise InvalidTokenError("access token signed by an unknown key")
    if alg != key.algorithm:
        raise InvalidTokenError("access token algorithm does not match its key")
    try:
        signature = _b64decode(signature_segment)
        signing_input = f"{header_segment}.{payload_segment}".encode("ascii")
        valid = _ALGORITHMS[alg].verify(signing_input, _prepared(alg, key.public), signature)
    except (jwt.PyJWTError, ValueError, TypeError, UnicodeError, OverflowError):
        raise InvalidTokenError("malformed access token") from None
    if not valid:
        raise InvalidTokenError("access token signature does not verify")
    try:
        payload = _json_segment(payload_segment)
    except (ValueError, TypeError, UnicodeError, RecursionError):
        raise InvalidTokenError("malformed access token") from None
    if not isinstance(payload, dict):
        raise InvalidTokenError("malformed access token")
    _check_registered_claims(payload, issuer, audience)
    return payload


def _check_registered_claims(
    payload: dict[str, Any], issuer: str, audience: tuple[str, ...]
) -> None:
    for claim in _REQUIRED_CLAIMS:
        if claim not in payload:
            raise InvalidTokenError(f"access token lacks the {claim!r} claim")
    if payload["iss"] != issuer:
        raise InvalidTokenError("access token issuer not accepted")
    claimed = payload["aud"]
    if isinstance(claimed, str):
        accepted = claimed in audience
    elif isinstance(claimed, list) and all(isinstance(a, str) for a in claimed):
        accepted = any(a in audience for a in claimed)
    else:
        accepted = False
    if not accepted:
        raise InvalidTokenError("access token audience not accepted")


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
