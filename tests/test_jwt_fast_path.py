"""The JWS fast path: memoised headers and prepared keys never weaken a check."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from refreshkit import FrozenClock, InvalidTokenError, KeySet, Settings, SigningKey, TokenManager
from refreshkit.backends.memory import MemoryStore

ALGORITHMS = ["HS256", "HS384", "HS512", "RS256", "PS256", "ES256", "EdDSA"]


def _manager(key: SigningKey) -> TokenManager:
    return TokenManager(
        Settings(verify_cache_size=0), keys=KeySet(key), store=MemoryStore(), clock=FrozenClock()
    )


def _segment(data: dict[str, object]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _hs256(header: dict[str, object], payload: dict[str, object], key: SigningKey) -> str:
    """Sign by hand, so PyJWT's own encode-time checks cannot stop a forgery."""
    signing = f"{_segment(header)}.{_segment(payload)}"
    signature = jwt.algorithms.HMACAlgorithm(jwt.algorithms.HMACAlgorithm.SHA256).sign(
        signing.encode(), key.private
    )
    return f"{signing}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_tokens_are_byte_for_byte_what_pyjwt_would_sign(algorithm: str) -> None:
    key = SigningKey.generate(algorithm)
    token = _manager(key).issue("alice").access_token
    payload = jwt.decode(token, options={"verify_signature": False})
    expected = jwt.encode(
        payload, key.private, algorithm=algorithm, headers={"typ": "at+jwt", "kid": key.kid}
    )
    header, body, _ = token.split(".")
    assert expected.split(".")[:2] == [header, body]
    times = {"verify_exp": False, "verify_nbf": False, "verify_iat": False}
    assert jwt.decode(
        token, key.public, algorithms=[algorithm], audience="refreshkit", options=times
    )


def test_a_new_key_under_a_known_kid_is_used_not_the_memoised_one() -> None:
    first = SigningKey.from_secret(b"a" * 32, kid="same")
    second = SigningKey.from_secret(b"b" * 32, kid="same")
    manager = _manager(first)
    token = manager.issue("alice").access_token
    assert manager.verify_access(token).subject == "alice"
    manager.keys = KeySet(second)
    with pytest.raises(InvalidTokenError, match="signature"):
        manager.verify_access(token)


def test_a_signature_with_a_non_canonical_tail_is_refused() -> None:
    manager = _manager(SigningKey.generate("HS256"))
    token = manager.issue("alice").access_token
    head, signature = token.rsplit(".", 1)
    # 32 bytes -> 43 characters: the last one carries 2 unused bits, which must be zero.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = alphabet[alphabet.index(signature[-1]) | 1]
    assert twin != signature[-1]
    with pytest.raises(InvalidTokenError):
        manager.verify_access(f"{head}.{signature[:-1]}{twin}")
    with pytest.raises(InvalidTokenError):
        manager.verify_access(f"{head}.{signature}=")


@pytest.mark.parametrize(
    "extra", [{"crit": ["exp"]}, {"b64": False, "crit": ["b64"]}, {"b64": True}]
)
def test_jws_extensions_are_refused_even_when_correctly_signed(extra: dict[str, object]) -> None:
    key = SigningKey.generate("HS256")
    manager = _manager(key)
    payload = jwt.decode(manager.issue("alice").access_token, options={"verify_signature": False})
    forged = _hs256({"alg": "HS256", "typ": "at+jwt", "kid": key.kid, **extra}, payload, key)
    with pytest.raises(InvalidTokenError):
        manager.verify_access(forged)


@pytest.mark.parametrize(
    ("claim", "value"),
    [("aud", ["other", 7]), ("aud", 7), ("iss", ["refreshkit"]), ("exp", None)],
)
def test_registered_claims_of_the_wrong_shape_are_refused(claim: str, value: object) -> None:
    key = SigningKey.generate("HS256")
    manager = _manager(key)
    payload = jwt.decode(manager.issue("alice").access_token, options={"verify_signature": False})
    payload[claim] = value
    if value is None:
        del payload[claim]
    forged = _hs256({"alg": "HS256", "typ": "at+jwt", "kid": key.kid}, payload, key)
    with pytest.raises(InvalidTokenError):
        manager.verify_access(forged)


def test_many_distinct_headers_keep_the_memo_bounded() -> None:
    from refreshkit import _jwt

    manager = _manager(SigningKey.generate("HS256"))
    for number in range(1000):
        header = _segment({"alg": "HS256", "typ": "at+jwt", "kid": f"k{number}"})
        with pytest.raises(InvalidTokenError, match="unknown key"):
            manager.verify_access(f"{header}.e30.AAAA")
    assert len(_jwt._parsed_headers) <= 256


def _b64_bytes(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _signed_raw(header: bytes, payload: bytes, key: SigningKey) -> str:
    """HS256 over already-encoded segments, so the JSON text can be in any encoding."""
    signing = f"{_b64_bytes(header)}.{_b64_bytes(payload)}"
    signature = jwt.algorithms.HMACAlgorithm(jwt.algorithms.HMACAlgorithm.SHA256).sign(
        signing.encode(), key.private
    )
    return f"{signing}.{_b64_bytes(signature)}"


NOT_UTF8 = {
    "utf-16": lambda text: text.encode("utf-16"),
    "utf-16-le": lambda text: text.encode("utf-16-le"),
    "utf-32": lambda text: text.encode("utf-32"),
    "utf-32-be": lambda text: text.encode("utf-32-be"),
    "utf-8-bom": lambda text: text.encode("utf-8-sig"),
    "lone-surrogate": lambda text: text[:-1].encode() + b',"x":"\xed\xa0\x80"}',
}


@pytest.mark.parametrize("part", ["header", "payload"])
@pytest.mark.parametrize("encoding", NOT_UTF8)
def test_a_header_or_payload_that_is_not_utf8_json_is_refused(part: str, encoding: str) -> None:
    """RFC 8725 §3.7: JSON in a JWT is UTF-8; json.loads would guess UTF-16/32 from bytes."""
    key = SigningKey.generate("HS256")
    manager = _manager(key)
    payload = jwt.decode(manager.issue("alice").access_token, options={"verify_signature": False})
    texts = {
        "header": json.dumps({"alg": "HS256", "kid": key.kid, "typ": "at+jwt"}),
        "payload": json.dumps(payload),
    }
    assert manager.verify_access(
        _signed_raw(texts["header"].encode(), texts["payload"].encode(), key)
    )
    encoded = {name: text.encode() for name, text in texts.items()}
    encoded[part] = NOT_UTF8[encoding](texts[part])
    with pytest.raises(InvalidTokenError, match="malformed"):
        manager.verify_access(_signed_raw(encoded["header"], encoded["payload"], key))
