"""KeySet: loading every key form, rotation, and a JWKS that never leaks a secret."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from refreshkit import ConfigurationError, KeySet, SigningKey

ASYMMETRIC = ["RS256", "PS256", "ES256", "EdDSA"]


@pytest.mark.parametrize("algorithm", ASYMMETRIC)
def test_pem_round_trip_keeps_kid_and_algorithm(algorithm: str) -> None:
    key = SigningKey.generate(algorithm)
    loaded = SigningKey.from_pem(key.private_pem(), algorithm=algorithm)
    assert loaded.kid == key.kid and loaded.algorithm == algorithm and loaded.can_sign


@pytest.mark.parametrize("algorithm", [*ASYMMETRIC, "HS256", "HS512"])
def test_private_jwk_round_trip(algorithm: str) -> None:
    key = SigningKey.generate(algorithm)
    loaded = SigningKey.from_jwk(json.dumps(key.private_jwk()))
    assert (loaded.kid, loaded.algorithm, loaded.can_sign) == (key.kid, algorithm, True)


@pytest.mark.parametrize("algorithm", ASYMMETRIC)
def test_a_public_key_only_verifies(algorithm: str) -> None:
    key = SigningKey.generate(algorithm)
    public = SigningKey.from_jwk(key.public_jwk())
    assert not public.can_sign and public.kid == key.kid
    with pytest.raises(ConfigurationError, match="sign"):
        KeySet(public)


def test_jwks_exports_public_keys_only_and_never_a_symmetric_one() -> None:
    ec, hs = SigningKey.generate("ES256"), SigningKey.from_secret("s" * 32)
    keys = KeySet(ec).rotate(SigningKey.generate("EdDSA")).rotate(hs)
    document = keys.jwks()
    assert {k["kid"] for k in document["keys"]} == {k.kid for k in keys if not k.symmetric}
    text = json.dumps(document)
    for private_member in ('"d"', '"p"', '"q"', '"k"'):
        assert private_member not in text
    for jwk in document["keys"]:
        assert jwk["use"] == "sig" and jwk["alg"] in ASYMMETRIC
        assert jwt.PyJWK(jwk).key is not None


def test_short_hmac_secrets_and_mismatched_keys_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="32 bytes"):
        SigningKey.from_secret("too-short")
    with pytest.raises(ConfigurationError, match="64 bytes"):
        SigningKey.from_secret("x" * 32, "HS512")
    with pytest.raises(ConfigurationError):
        SigningKey.from_secret("x" * 32, "RS256")
    with pytest.raises(ConfigurationError):
        SigningKey.from_pem(SigningKey.generate("EdDSA").private_pem(), algorithm="ES256")
    with pytest.raises(ConfigurationError, match="unsupported"):
        SigningKey.generate("HS1")
    with pytest.raises(ConfigurationError, match="PEM"):
        SigningKey.from_pem("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----")


def test_rotation_keeps_old_keys_verifying_until_retired() -> None:
    first, second = SigningKey.generate("EdDSA"), SigningKey.generate("EdDSA")
    keys = KeySet(first).rotate(second)
    assert keys.active is second and first.kid in keys and len(keys) == 2
    retired = keys.retire(first.kid)
    assert first.kid not in retired and retired.active is second
    with pytest.raises(ConfigurationError):
        retired.retire(second.kid)


def test_key_material_never_appears_in_repr() -> None:
    secret = "a-very-secret-shared-key-of-32-bytes!"
    key = SigningKey.from_secret(secret)
    assert secret not in repr(key) and secret not in repr(KeySet(key))
    pem = SigningKey.generate("ES256")
    assert "PRIVATE" not in repr(pem)


def test_hmac_kid_is_stable_for_the_same_secret() -> None:
    assert SigningKey.from_secret("z" * 40).kid == SigningKey.from_secret("z" * 40).kid
    assert SigningKey.from_secret("z" * 40).kid != SigningKey.from_secret("y" * 40).kid


@pytest.mark.parametrize("algorithm", ASYMMETRIC)
def test_exported_jwks_carry_use_or_key_ops_never_both(algorithm: str) -> None:
    """RFC 7517 §4.3: ``use`` and ``key_ops`` should not be used together."""
    key = SigningKey.generate(algorithm)
    for jwk in (key.public_jwk(), *KeySet(key).jwks()["keys"]):
        assert jwk["use"] == "sig" and "key_ops" not in jwk
    private = key.private_jwk()
    assert not {"use", "key_ops"} <= set(private)
    assert SigningKey.from_jwk(key.public_jwk()).kid == key.kid


def test_an_ec_private_jwk_keeps_every_coordinate_at_the_curves_full_length() -> None:
    """RFC 7518 §6.2.2.1: ``d`` is the full 32 bytes on P-256, even with leading zeros."""
    for _ in range(5000):  # about one key in 256 has a private value under 2**248
        key = SigningKey.generate("ES256", kid="short")
        assert isinstance(key.private, ec.EllipticCurvePrivateKey)
        if key.private.private_numbers().private_value < 2**248:
            break
    else:
        raise AssertionError("no key with a leading zero byte in 5000 tries")
    jwk = key.private_jwk()
    for name in ("x", "y", "d"):
        assert len(base64.urlsafe_b64decode(jwk[name] + "=" * (-len(jwk[name]) % 4))) == 32
    again = SigningKey.from_jwk(jwk)
    assert again.public_jwk() == key.public_jwk()


def _p256_key_whose(coordinate: str) -> ec.EllipticCurvePrivateKey:
    """The first P-256 key (d = 1, 2, ...) whose public ``x`` or ``y`` starts with a zero byte."""
    for d in itertools.count(1):
        private = ec.derive_private_key(d, ec.SECP256R1())
        if getattr(private.public_key().public_numbers(), coordinate) < 2**248:
            return private
    raise AssertionError("unreachable")


@pytest.mark.parametrize("coordinate", ["x", "y"])
def test_ec_coordinates_with_a_leading_zero_export_at_full_length(coordinate: str) -> None:
    """RFC 7518 §6.2.1.2: 32 bytes for P-256, whatever the PyJWT release drops."""
    private = _p256_key_whose(coordinate)
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    key = SigningKey.from_pem(pem)
    public = key.public_jwk()
    raw = base64.urlsafe_b64decode(public[coordinate] + "==")
    assert len(raw) == 32 and raw[0] == 0
    members = {name: public[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=")
    assert key.kid == thumbprint.decode()[:22]  # RFC 7638 over the full-length form
    without_kid = {name: value for name, value in public.items() if name != "kid"}
    assert SigningKey.from_jwk(without_kid).kid == key.kid  # loads again, same kid
    assert SigningKey.from_jwk(key.private_jwk()).kid == key.kid
