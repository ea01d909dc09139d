"""The framework-free HTTP rules, directly: parsing, challenges, cookies, error mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from refreshkit import Settings
from refreshkit.adapters import _http
from refreshkit.errors import (
    ConfigurationError,
    DeviceMismatchError,
    ExpiredTokenError,
    InsufficientScopeError,
    StoreError,
    TokenReuseError,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def test_form_and_json_bodies_parse_to_the_same_fields() -> None:
    form = _http.parse_fields(
        "application/x-www-form-urlencoded; charset=utf-8",
        b"grant_type=refresh_token&refresh_token=rk_a.b",
    )
    as_json = _http.parse_fields(
        "application/json", b'{"grant_type": "refresh_token", "refresh_token": "rk_a.b"}'
    )
    assert form == as_json == {"grant_type": "refresh_token", "refresh_token": "rk_a.b"}
    assert _http.parse_fields(None, b"") == {}


def test_an_oversized_body_is_refused_before_parsing() -> None:
    with pytest.raises(_http.BadRequestError, match="too large"):
        _http.parse_fields("application/json", b" " * (_http.MAX_BODY_BYTES + 1))


@pytest.mark.parametrize("declared", [str(_http.MAX_BODY_BYTES + 1), "10" * 20])
def test_a_declared_content_length_over_the_cap_is_refused_before_reading(declared: str) -> None:
    with pytest.raises(_http.BadRequestError, match="too large"):
        _http.CappedBody(declared)


@pytest.mark.parametrize("declared", ["-1", "12a", "1e3", "\u0661"])
def test_a_malformed_content_length_is_a_bad_request(declared: str) -> None:
    with pytest.raises(_http.BadRequestError, match="Content-Length"):
        _http.CappedBody(declared)


def test_a_body_without_content_length_is_refused_at_the_first_chunk_past_the_cap() -> None:
    body = _http.CappedBody(None)
    body.feed(b"a" * _http.MAX_BODY_BYTES)
    assert body.read_size() == 1  # one byte more is enough to tell
    with pytest.raises(_http.BadRequestError, match="too large"):
        body.feed(b"a")
    exact = _http.CappedBody(str(_http.MAX_BODY_BYTES))
    exact.feed(b"b" * _http.MAX_BODY_BYTES)
    assert exact.value() == b"b" * _http.MAX_BODY_BYTES


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("", None),
        ("Basic YTpi", None),
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer   abc", "abc"),
    ],
)
def test_bearer_credentials_are_read_from_the_authorization_header(
    header: str | None, token: str | None
) -> None:
    assert _http.bearer_token(header) == token


@pytest.mark.parametrize(
    "header", ["Bearer", "Bearer a b", "Bearer a,Bearer b", "Bearer a, Basic b", 'Bearer a"b']
)
def test_a_malformed_bearer_header_is_a_bad_request(header: str) -> None:
    with pytest.raises(_http.BadRequestError):
        _http.bearer_token(header)


@pytest.mark.parametrize(
    "values",
    [["Bearer a", "Bearer a"], ["Basic YTpi", "Bearer a"], ["Basic YTpi,Bearer a"]],
)
def test_more_than_one_authorization_header_is_a_bad_request(values: list[str]) -> None:
    """Kept apart (ASGI) or joined with a comma (WSGI): refused either way."""
    joined = ",".join(values)
    with pytest.raises(_http.BadRequestError, match="more than one"):
        _http.bearer_token(values if len(values) > 1 else joined)


def test_another_scheme_with_commas_is_still_no_bearer_credentials() -> None:
    assert _http.bearer_token(['Digest username="a", realm="b"']) is None


@pytest.mark.parametrize(
    ("overrides", "refresh", "csrf"),
    [
        ({}, "__Secure-refresh_token", "__Host-refresh_csrf"),
        ({"cookie_domain": "example.com"}, "__Secure-refresh_token", "__Secure-refresh_csrf"),
        ({"cookie_secure": False}, "refresh_token", "refresh_csrf"),
        ({"cookie_name": "rt", "csrf_cookie_name": "rt_csrf"}, "rt", "rt_csrf"),
        ({"cookie_name": "__Secure-rt", "csrf_cookie_name": "__Host-c"}, "__Secure-rt", "__Host-c"),
    ],
)
def test_default_cookie_names_get_the_prefix_their_attributes_allow(
    overrides: dict[str, object], refresh: str, csrf: str
) -> None:
    settings = Settings(cookie_mode=True, **overrides)  # type: ignore[arg-type]
    _http.check_cookie_names(settings)
    cookies = _http._cookies_for("rk_a.b", NOW + timedelta(days=1), NOW, settings)
    assert [c.name for c in cookies] == [refresh, csrf]
    assert _http.refresh_cookie_name(settings) == refresh
    assert _http.csrf_cookie_name(settings) == csrf


@pytest.mark.parametrize(
    "overrides",
    [
        {"cookie_name": "__Host-rt"},  # its Path is the refresh endpoint, never /
        {"csrf_cookie_name": "__host-c", "cookie_domain": "example.com"},
        {"csrf_cookie_name": "__Secure-c", "cookie_secure": False},
    ],
)
def test_a_prefixed_cookie_name_its_attributes_break_is_a_configuration_error(
    overrides: dict[str, object],
) -> None:
    """Browsers would drop such a cookie without a word: fail at start instead."""
    settings = Settings(cookie_mode=True, **overrides)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="cookie"):
        _http.check_cookie_names(settings)


def test_the_refresh_cookie_has_every_safe_attribute() -> None:
    settings = Settings(cookie_mode=True, url_prefix="/auth", cookie_domain="example.com")
    pair_cookie = _http._cookies_for("rk_a.b", NOW + timedelta(days=14), NOW, settings)[0]
    assert pair_cookie.header_value() == (
        "__Secure-refresh_token=rk_a.b; Path=/auth/token/refresh; Max-Age=1209600; "
        "Domain=example.com; HttpOnly; Secure; SameSite=Strict"
    )


def test_the_csrf_token_is_bound_to_one_refresh_token() -> None:
    assert _http.csrf_token_for("rk_a.b") == _http.csrf_token_for("rk_a.b")
    assert _http.csrf_token_for("rk_a.b") != _http.csrf_token_for("rk_a.c")
    assert "rk_" not in _http.csrf_token_for("rk_a.b")


def test_login_delivery_follows_the_enabled_modes_and_the_client_header() -> None:
    both = Settings(cookie_mode=True, body_mode=True)
    assert _http.choose_delivery({}, both) == "cookie"
    assert _http.choose_delivery({"x-token-delivery": "body"}, both) == "body"
    assert _http.choose_delivery({"X-Token-Delivery": "body"}, Settings()) == "body"
    cookie_only = Settings(cookie_mode=True, body_mode=False)
    assert _http.choose_delivery({"X-Token-Delivery": "body"}, cookie_only) == "cookie"
    with pytest.raises(ConfigurationError, match="body delivery"):
        _http.choose_delivery({}, cookie_only, "body")


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (TokenReuseError("reused"), 400, "invalid_grant"),
        (ExpiredTokenError("expired"), 400, "invalid_grant"),
        (DeviceMismatchError("elsewhere"), 400, "invalid_grant"),
        (_http.BadRequestError("bad"), 400, "invalid_request"),
        (StoreError("down", retry_after=3), 503, "temporarily_unavailable"),
        (ConfigurationError("oops"), 500, "server_error"),
        (RuntimeError("surprise"), 500, "server_error"),
    ],
)
def test_every_error_maps_to_its_token_endpoint_answer(
    error: Exception, status: int, code: str
) -> None:
    answer = _http.token_error_response(error)
    assert (answer.status, answer.body["error"]) == (status, code)
    assert ("Cache-Control", "no-store") in answer.headers
    if status == 503:
        assert ("Retry-After", "3") in answer.headers


def test_an_outage_is_never_a_401_for_a_protected_resource() -> None:
    answer = _http.access_error_response(StoreError("down", retry_after=9))
    assert answer.status == 503
    assert ("Retry-After", "9") in answer.headers
    assert not any(name == "WWW-Authenticate" for name, _ in answer.headers)


def test_challenges_quote_safely_and_name_the_missing_scope() -> None:
    scope = _http.access_error_response(
        InsufficientScopeError('needs "admin"\\', required=frozenset({"admin", "audit"}))
    )
    challenge = dict(scope.headers)["WWW-Authenticate"]
    assert challenge == (
        'Bearer realm="refreshkit", error="insufficient_scope", '
        'error_description="needs admin", scope="admin audit"'
    )
    assert scope.status == 403


def test_only_the_rk_prefix_makes_a_refresh_token_revocation() -> None:
    refresh = _http.read_revocation_request({"token": "rk_x.y", "token_type_hint": "access_token"})
    access = _http.read_revocation_request({"token": "a.b.c", "token_type_hint": "refresh_token"})
    assert _http.revocation_target(refresh) == "refresh_token"
    assert _http.revocation_target(access) == "access_token"
