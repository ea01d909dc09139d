"""Access tokens: RFC 9068 shape, and every forgery refused with refreshkit's own error."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from refreshkit import (
    DeviceMismatchError,
    ExpiredTokenError,
    FrozenClock,
    InsufficientScopeError,
    InvalidTokenError,
    KeySet,
    RefreshKitError,
    Settings,
    SigningKey,
    TokenManager,
)
from refreshkit.backends.memory import MemoryStore

from ._managers import FLAVOURS, manager_factory

ALGORITHMS = ["HS256", "HS384", "HS512", "RS256", "PS256", "ES256", "EdDSA"]


def _manager(key: SigningKey | None = None, **overrides: object) -> TokenManager:
    keys = KeySet(key or SigningKey.generate("EdDSA"))
    return TokenManager(
        Settings(**overrides),  # type: ignore[arg-type]
        keys=keys,
        store=MemoryStore(),
        clock=FrozenClock(),
    )


def _b64(data: dict[str, object]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture(params=FLAVOURS)
def make(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """``make(**settings)``: a sync or an async manager (see tests/_managers.py)."""
    with manager_factory(request.param) as factory:
        yield factory


def _signed(key: SigningKey, payload: dict[str, Any]) -> str:
    """An access token signed by ``key`` with any payload PyJWT will serialise."""
    return jwt.encode(
        payload, key.private, algorithm=key.algorithm, headers={"kid": key.kid, "typ": "at+jwt"}
    )


def _claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_supported_algorithm_signs_and_verifies(algorithm: str) -> None:
    manager = _manager(SigningKey.generate(algorithm))
    pair = manager.issue("alice", scope="read")
    header = jwt.get_unverified_header(pair.access_token)
    assert header == {"alg": algorithm, "typ": "at+jwt", "kid": manager.keys.active.kid}
    claims = manager.verify_access(pair.access_token)
    assert claims.subject == "alice" and claims.sid == pair.sid and claims.scopes == {"read"}
    assert set(claims.raw) >= {"iss", "aud", "sub", "iat", "nbf", "exp", "jti", "sid", "scope"}


def test_own_claims_travel_in_the_access_token_but_reserved_ones_are_refused() -> None:
    manager = _manager()
    pair = manager.issue("alice", claims={"role": "admin", "tenant": 7})
    assert manager.verify_access(pair.access_token).extra == {"role": "admin", "tenant": 7}
    with pytest.raises(ValueError, match="sub"):
        manager.issue("alice", claims={"sub": "root"})


def test_alg_none_is_refused() -> None:
    manager = _manager()
    good = manager.issue("alice").access_token
    payload = jwt.decode(good, options={"verify_signature": False})
    forged = f"{_b64({'alg': 'none', 'typ': 'at+jwt', 'kid': manager.keys.active.kid})}."
    forged += f"{_b64(payload)}."
    with pytest.raises(InvalidTokenError):
        manager.verify_access(forged)


def test_hs256_signed_with_the_rsa_public_key_is_refused() -> None:
    """Algorithm confusion: the public key used as an HMAC secret."""
    key = SigningKey.generate("RS256")
    manager = _manager(key)
    payload = jwt.decode(manager.issue("alice").access_token, options={"verify_signature": False})
    public_pem = key.public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "at+jwt", "kid": key.kid}
    signing = f"{_b64(header)}.{_b64(payload)}".encode()
    import hashlib
    import hmac

    signature = hmac.new(public_pem, signing, hashlib.sha256).digest()
    forged = signing.decode() + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    with pytest.raises(InvalidTokenError):
        manager.verify_access(forged)


def test_unknown_kid_is_refused() -> None:
    manager = _manager()
    stranger = _manager()
    with pytest.raises(InvalidTokenError, match="unknown key"):
        manager.verify_access(stranger.issue("alice").access_token)


def test_a_retired_but_kept_key_still_verifies_and_a_retired_one_does_not() -> None:
    old = SigningKey.generate("ES256")
    manager = _manager(old)
    token = manager.issue("alice").access_token
    manager.keys = manager.keys.rotate(SigningKey.generate("EdDSA"))
    assert manager.verify_access(token).subject == "alice"
    assert jwt.get_unverified_header(manager.issue("bob").access_token)["alg"] == "EdDSA"
    manager.keys = manager.keys.retire(old.kid)
    with pytest.raises(InvalidTokenError):
        manager.verify_access(token)


def test_retired_key_stops_verifying_cached_tokens(make: Callable[..., Any]) -> None:
    """Retiring a key refuses its tokens at once, even ones the cache already verified."""
    leaked = SigningKey.generate("HS256")
    manager = make(keys=KeySet(leaked))
    issued = manager.issue("alice").access_token
    far = int((manager.clock.now() + timedelta(days=3650)).timestamp())
    forged = _signed(leaked, {**_claims_of(issued), "sub": "mallory", "exp": far})
    for token in (issued, forged):
        assert manager.verify_access(token) is manager.verify_access(token)  # now cached
    replacement = SigningKey.generate("EdDSA")
    manager.keys = manager.keys.rotate(replacement).retire(leaked.kid)
    for token in (issued, forged):
        with pytest.raises(InvalidTokenError, match="unknown key"):
            manager.verify_access(token)
    assert manager.verify_access(manager.issue("bob").access_token).subject == "bob"


def test_a_key_replaced_under_the_same_kid_stops_verifying_cached_tokens(
    make: Callable[..., Any],
) -> None:
    first = SigningKey.from_secret(b"a" * 32, kid="main")
    manager = make(keys=KeySet(first))
    token = manager.issue("alice").access_token
    assert manager.verify_access(token).subject == "alice"
    manager.keys = KeySet(SigningKey.from_secret(b"b" * 32, kid="main"))
    with pytest.raises(InvalidTokenError, match="signature"):
        manager.verify_access(token)


def test_rotating_without_retiring_keeps_cached_tokens_verifying(
    make: Callable[..., Any],
) -> None:
    manager = make()
    token = manager.issue("alice").access_token
    assert manager.verify_access(token).subject == "alice"
    manager.keys = manager.keys.rotate(SigningKey.generate("ES256"))
    assert manager.verify_access(token) is manager.verify_access(token)


#: 9999-12-31T23:59:59Z, the last second a datetime can hold.
_LAST_INSTANT = 253402300799


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize(
    "value",
    [10**12, 10**400, -(10**400), -1, _LAST_INSTANT + 1, 1e12, 1.5, float("inf")],
    ids=["1e12", "1e400", "-1e400", "-1", "year-10000", "float-1e12", "float-1.5", "float-inf"],
)
def test_time_claims_out_of_range_are_invalid_tokens_not_crashes(
    make: Callable[..., Any], claim: str, value: object
) -> None:
    key = SigningKey.generate("HS256")
    manager = make(keys=KeySet(key))
    payload = _claims_of(manager.issue("alice").access_token)
    token = _signed(key, {**payload, claim: value})
    for _ in range(2):  # a second call would be a cache hit
        with pytest.raises(InvalidTokenError):
            manager.verify_access(token)
    with pytest.raises(InvalidTokenError):
        manager.verify_access_online(token)


def test_an_expiry_at_the_last_representable_second_is_accepted(make: Callable[..., Any]) -> None:
    key = SigningKey.generate("HS256")
    manager = make(keys=KeySet(key))
    payload = {**_claims_of(manager.issue("alice").access_token), "exp": _LAST_INSTANT}
    claims = manager.verify_access(_signed(key, payload))
    assert claims.expires == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "value"),
    [("issuer", "someone-else"), ("audience", ("other-api",))],
)
def test_wrong_issuer_or_audience_is_refused(field: str, value: object) -> None:
    key = SigningKey.generate("EdDSA")
    issuer = _manager(key, **{field: value})
    verifier = _manager(key)
    with pytest.raises(InvalidTokenError):
        verifier.verify_access(issuer.issue("alice").access_token)


def test_a_token_without_the_at_jwt_type_is_refused() -> None:
    key = SigningKey.generate("EdDSA")
    manager = _manager(key)
    payload = jwt.decode(manager.issue("alice").access_token, options={"verify_signature": False})
    plain = jwt.encode(payload, key.private, algorithm="EdDSA", headers={"kid": key.kid})
    id_token = jwt.encode(
        payload, key.private, algorithm="EdDSA", headers={"kid": key.kid, "typ": "JWT"}
    )
    for token in (plain, id_token):
        with pytest.raises(InvalidTokenError, match="typ"):
            manager.verify_access(token)


def test_expired_and_not_yet_valid_tokens_are_refused_by_the_managers_clock() -> None:
    manager = _manager(access_ttl="5m", leeway="10s")
    token = manager.issue("alice").access_token
    assert isinstance(manager.clock, FrozenClock)
    manager.clock.advance(timedelta(minutes=5, seconds=9))
    assert manager.verify_access(token).subject == "alice"
    manager.clock.advance(timedelta(seconds=1))
    with pytest.raises(ExpiredTokenError):
        manager.verify_access(token)


def test_a_token_from_the_future_is_not_yet_valid() -> None:
    key = SigningKey.generate("EdDSA")
    ahead, behind = _manager(key), _manager(key)
    assert isinstance(ahead.clock, FrozenClock)
    ahead.clock.advance(timedelta(minutes=1))
    with pytest.raises(InvalidTokenError, match="not yet valid"):
        behind.verify_access(ahead.issue("alice").access_token)


def test_the_verification_cache_never_serves_a_token_past_exp() -> None:
    manager = _manager(access_ttl="1m")
    token = manager.issue("alice").access_token
    assert manager.verify_access(token) is manager.verify_access(token)
    assert isinstance(manager.clock, FrozenClock)
    manager.clock.advance(timedelta(minutes=1))
    with pytest.raises(ExpiredTokenError):
        manager.verify_access(token)


def test_a_tampered_payload_is_refused() -> None:
    manager = _manager()
    header, payload, signature = manager.issue("alice").access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "root"
    with pytest.raises(InvalidTokenError, match="signature"):
        manager.verify_access(f"{header}.{_b64(claims)}.{signature}")


def test_a_refresh_token_is_never_accepted_as_an_access_token() -> None:
    manager = _manager()
    with pytest.raises(InvalidTokenError):
        manager.verify_access(manager.issue("alice").refresh_token)


def test_scopes_are_required_when_asked_for() -> None:
    manager = _manager()
    token = manager.issue("alice", scope=["read", "write"]).access_token
    assert manager.verify_access(token, scopes=["read"]).scopes == {"read", "write"}
    with pytest.raises(InsufficientScopeError) as caught:
        manager.verify_access(token, scopes=["admin"])
    assert caught.value.status_code == 403 and caught.value.required == {"admin"}


def test_device_bound_access_tokens_need_their_device() -> None:
    manager = _manager()
    token = manager.issue("alice", device="phone-1").access_token
    assert manager.verify_access(token, device="phone-1").device_hash is not None
    for device in ("laptop", None):
        with pytest.raises(DeviceMismatchError):
            manager.verify_access(token, device=device)


GARBAGE = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    st.lists(st.text(alphabet="abcXYZ012-_=", max_size=80), min_size=1, max_size=5).map(".".join),
    st.builds(
        lambda h, p, s: f"{h}.{p}.{s}",
        st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4).map(_b64),
        st.dictionaries(st.text(max_size=8), st.integers(), max_size=4).map(_b64),
        st.text(alphabet="abcdef0123456789-_", max_size=40),
    ),
    st.none(),
    st.integers(),
    st.lists(st.integers(), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(token=GARBAGE)
def test_garbage_of_any_shape_only_ever_raises_refreshkits_own_errors(token: object) -> None:
    manager = _GARBAGE_MANAGER
    with pytest.raises(InvalidTokenError):
        manager.verify_access(token)  # type: ignore[arg-type]
    with pytest.raises(InvalidTokenError):
        manager.refresh(token)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [10_000, 1_000_000])
def test_huge_tokens_are_refused_before_any_work(size: int) -> None:
    manager = _manager()
    for token in ("a" * size, "rk_" + "a" * size, ("x" * (size // 3) + ".") * 2 + "y"):
        with pytest.raises(RefreshKitError):
            manager.verify_access(token)
        with pytest.raises(InvalidTokenError):
            manager.refresh(token)


_GARBAGE_MANAGER = _manager()
