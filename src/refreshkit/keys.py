"""Signing keys: one active signer plus verification-only keys, and JWKS export.

A :class:`SigningKey` is bound to the one algorithm it was created for, and
is used with no other: that is the whole defence against algorithm
confusion. A :class:`KeySet` rotates without logging anyone out: the new key
signs, the previous one keeps verifying until it is retired.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from . import _jwt
from .config import Settings
from .errors import ConfigurationError

__all__ = ["KeySet", "SigningKey"]

_HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
_RSA_ALGORITHMS = ("RS256", "PS256")
_THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _check_key_fits(key: Any, algorithm: str) -> None:
    """Refuse a key whose type or size does not fit ``algorithm``."""
    if algorithm in _HMAC_MIN_BYTES:
        if not isinstance(key, bytes):
            raise ConfigurationError(f"{algorithm} needs a shared secret, not {type(key).__name__}")
        if len(key) < _HMAC_MIN_BYTES[algorithm]:
            raise ConfigurationError(
                f"{algorithm} secret must be at least {_HMAC_MIN_BYTES[algorithm]} bytes"
            )
    elif algorithm in _RSA_ALGORITHMS:
        if not isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
            raise ConfigurationError(f"{algorithm} needs an RSA key")
        if key.key_size < 2048:
            raise ConfigurationError("RSA keys must be at least 2048 bits")
    elif algorithm == "ES256":
        if not isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
            raise ConfigurationError("ES256 needs an EC key")
        if not isinstance(key.curve, ec.SECP256R1):
            raise ConfigurationError("ES256 needs a P-256 key")
    elif algorithm == "EdDSA":
        if not isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
            raise ConfigurationError("EdDSA needs an Ed25519 key")
    else:
        supported = ", ".join(_jwt.SUPPORTED_ALGORITHMS)
        raise ConfigurationError(f"unsupported algorithm {algorithm!r}; use one of {supported}")


def _algorithm_for(key: Any) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return "ES256"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "EdDSA"
    raise ConfigurationError(f"unsupported key type {type(key).__name__}")


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One key, its ``kid`` and the single algorithm it may be used with.

    ``private`` is None for a verification-only public key. Key material
    never appears in ``repr``.
    """

    kid: str
    algorithm: str
    public: Any = field(repr=False)
    private: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        _check_key_fits(self.public, self.algorithm)
        if not self.kid:
            raise ConfigurationError("a key needs a non-empty kid")

    @property
    def symmetric(self) -> bool:
        """HMAC keys sign and verify with one secret and are never published."""
        return self.algorithm in _HMAC_MIN_BYTES

    @property
    def can_sign(self) -> bool:
        """Whether this key holds the private (or shared) half."""
        return self.private is not None

    # --------------------------------------------------------------- builders

    @classmethod
    def generate(cls, algorithm: str = "EdDSA", *, kid: str | None = None) -> SigningKey:
        """A new random key for ``algorithm`` (RSA keys are 2048-bit)."""
        private: Any
        if algorithm in _HMAC_MIN_BYTES:
            import secrets

            return cls.from_secret(
                secrets.token_bytes(_HMAC_MIN_BYTES[algorithm]), algorithm, kid=kid
            )
        if algorithm in _RSA_ALGORITHMS:
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif algorithm == "ES256":
            private = ec.generate_private_key(ec.SECP256R1())
        elif algorithm == "EdDSA":
            private = ed25519.Ed25519PrivateKey.generate()
        else:
            _check_key_fits(None, algorithm)
            raise AssertionError("unreachable")
        return cls._asymmetric(private, algorithm, kid)

    @classmethod
    def from_secret(
        cls, secret: str | bytes, algorithm: str = "HS256", *, kid: str | None = None
    ) -> SigningKey:
        """An HMAC key from a shared secret (at least 32/48/64 bytes for HS256/384/512)."""
        raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if algorithm not in _HMAC_MIN_BYTES:
            raise ConfigurationError(f"a shared secret cannot be used with {algorithm}")
        default_kid = _b64url(hashlib.sha256(b"refreshkit-kid\x00" + raw).digest())[:16]
        return cls(kid=kid or default_kid, algorithm=algorithm, public=raw, private=raw)

    @classmethod
    def from_pem(
        cls,
        pem: str | bytes,
        *,
        algorithm: str | None = None,
        kid: str | None = None,
        password: bytes | None = None,
    ) -> SigningKey:
        """A key from PEM: a private key signs; a public key only verifies.

        The algorithm defaults from the key type (RSA: RS256, P-256: ES256,
        Ed25519: EdDSA); pass ``algorithm="PS256"`` for RSA-PSS.
        """
        data = pem.encode("ascii") if isinstance(pem, str) else pem
        key: Any
        try:
            if b"PRIVATE KEY" in data:
                key = serialization.load_pem_private_key(data, password=password)
            else:
                key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError(f"unusable PEM key: {exc}") from None
        chosen = algorithm or _algorithm_for(key)
        if b"PRIVATE KEY" in data:
            return cls._asymmetric(key, chosen, kid)
        _check_key_fits(key, chosen)
        return cls(kid=kid or _thumbprint(key, chosen), algorithm=chosen, public=key)

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any] | str) -> SigningKey:
        """A key from a JWK (dict or JSON string); private members make it a signer."""
        data: dict[str, Any] = json.loads(jwk) if isinstance(jwk, str) else dict(jwk)
        key, algorithm, kid = _jwt.key_from_jwk(data)
        if algorithm in _HMAC_MIN_BYTES:
            return cls.from_secret(key, algorithm, kid=kid)
        if hasattr(key, "private_bytes"):
            return cls._asymmetric(key, algorithm, kid)
        return cls(kid=kid or _thumbprint(key, algorithm), algorithm=algorithm, public=key)

    @classmethod
    def _asymmetric(cls, private: Any, algorithm: str, kid: str | None) -> SigningKey:
        public = private.public_key()
        _check_key_fits(public, algorithm)
        return cls(
            kid=kid or _thumbprint(public, algorithm),
            algorithm=algorithm,
            public=public,
            private=private,
        )

    # ---------------------------------------------------------------- exports

    def public_jwk(self) -> dict[str, Any]:
        """The public JWK with ``kid``, ``alg`` and ``use="sig"``; refused for HMAC keys."""
        if self.symmetric:
            raise ConfigurationError("symmetric keys are never exported")
        jwk = _public_jwk(self.public, self.algorithm)
        # PyJWT adds ``key_ops`` to RSA keys; RFC 7517 §4.3 says not to send it
        # beside ``use``, and ``use`` is what JWKS consumers read.
        jwk.pop("key_ops", None)
        jwk.update(kid=self.kid, alg=self.algorithm, use="sig")
        return jwk

    def private_jwk(self) -> dict[str, Any]:
        """The private JWK (for storing a generated key); keep it secret."""
        if self.private is None:
            raise ConfigurationError("this key is verification-only")
        if self.symmetric:
            jwk: dict[str, Any] = {"kty": "oct", "k": _b64url(self.private)}
        else:
            jwk = _jwt.jwk_from_key(self.private, self.algorithm, private=True)
            if isinstance(self.private, ec.EllipticCurvePrivateKey):
                jwk.update(_ec_coordinates(self.private))
        jwk.update(kid=self.kid, alg=self.algorithm)
        return jwk

    def private_pem(self) -> str:
        """The private key as unencrypted PKCS#8 PEM; refused for HMAC keys."""
        if self.private is None or self.symmetric:
            raise ConfigurationError("only asymmetric private keys have a PEM form")
        pem: bytes = self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return pem.decode("ascii")


def _ec_coordinates(private: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    """``x``, ``y`` and ``d`` at the curve's full length (RFC 7518 §6.2.1-6.2.2).

    Older PyJWT releases drop leading zero bytes, so about one P-256 key in 128
    would export an ``x``, ``y`` or ``d`` of 31 bytes, which a strict reader
    (PyJWT itself) refuses to load again.
    """
    size = (private.curve.key_size + 7) // 8
    coordinates = _ec_public_coordinates(private.public_key())
    coordinates["d"] = _b64url(private.private_numbers().private_value.to_bytes(size, "big"))
    return coordinates


def _ec_public_coordinates(public: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """``x`` and ``y`` at the curve's full length (see :func:`_ec_coordinates`)."""
    size = (public.curve.key_size + 7) // 8
    numbers = public.public_numbers()
    return {
        "x": _b64url(numbers.x.to_bytes(size, "big")),
        "y": _b64url(numbers.y.to_bytes(size, "big")),
    }


def _public_jwk(public: Any, algorithm: str) -> dict[str, Any]:
    """PyJWT's public JWK of ``public``, with EC coordinates at full length.

    The length matters twice: a reader refuses short coordinates, and the
    RFC 7638 thumbprint (the kid) is computed over the full-length form.
    """
    jwk = _jwt.jwk_from_key(public, algorithm)
    if isinstance(public, ec.EllipticCurvePublicKey):
        jwk.update(_ec_public_coordinates(public))
    return jwk


def _thumbprint(public: Any, algorithm: str) -> str:
    """RFC 7638 JWK thumbprint: a stable kid derived from the public key."""
    jwk = _public_jwk(public, algorithm)
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return _b64url(hashlib.sha256(canonical).digest())[:22]


class KeySet:
    """The active signing key plus verification-only keys, looked up by ``kid``.

    Immutable: :meth:`rotate` and :meth:`retire` return new sets.
    """

    __slots__ = ("_active", "_by_kid")

    def __init__(self, active: SigningKey, verification: Iterable[SigningKey] = ()) -> None:
        if not active.can_sign:
            raise ConfigurationError("the active key must be able to sign")
        by_kid: dict[str, SigningKey] = {active.kid: active}
        for key in verification:
            if key.kid in by_kid and by_kid[key.kid] != key:
                raise ConfigurationError(f"two different keys share kid {key.kid!r}")
            by_kid.setdefault(key.kid, key)
        self._active = active
        self._by_kid = by_kid

    @classmethod
    def generate(cls, algorithm: str = "EdDSA") -> KeySet:
        """A set with one freshly generated key: handy for tests and demos."""
        return cls(SigningKey.generate(algorithm))

    @classmethod
    def from_settings(cls, settings: Settings) -> KeySet:
        """The key named by ``secret_key`` or ``private_key`` (PEM text) in settings."""
        if settings.private_key:
            key = SigningKey.from_pem(
                settings.private_key,
                algorithm=settings.algorithm if settings.algorithm not in _HMAC_MIN_BYTES else None,
                kid=settings.key_id,
            )
        elif settings.secret_key:
            key = SigningKey.from_secret(
                settings.secret_key, settings.algorithm, kid=settings.key_id
            )
        else:
            raise ConfigurationError(
                "no signing key: set REFRESHKIT_SECRET_KEY (HS*) or REFRESHKIT_PRIVATE_KEY "
                "(PEM), or pass keys=KeySet.generate()"
            )
        return cls(key)

    @property
    def active(self) -> SigningKey:
        """The key that signs new tokens."""
        return self._active

    def get(self, kid: str) -> SigningKey | None:
        """The key with ``kid``, or None."""
        return self._by_kid.get(kid)

    def rotate(self, new_active: SigningKey) -> KeySet:
        """A set where ``new_active`` signs and every current key still verifies."""
        return KeySet(new_active, [k for k in self._by_kid.values() if k.kid != new_active.kid])

    def retire(self, kid: str) -> KeySet:
        """A set without ``kid``; tokens it signed stop verifying. The active key cannot retire."""
        if kid == self._active.kid:
            raise ConfigurationError("rotate to a new key before retiring the active one")
        return KeySet(self._active, [k for k in self._by_kid.values() if k.kid != kid])

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The JWKS document of every asymmetric key (symmetric ones are never published)."""
        return {"keys": [k.public_jwk() for k in self._by_kid.values() if not k.symmetric]}

    def __iter__(self) -> Iterator[SigningKey]:
        return iter(self._by_kid.values())

    def __len__(self) -> int:
        return len(self._by_kid)

    def __contains__(self, kid: object) -> bool:
        return kid in self._by_kid

    def __repr__(self) -> str:
        return f"KeySet(active={self._active.kid!r}, kids={list(self._by_kid)!r})"
