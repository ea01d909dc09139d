"""The framework-free HTTP rules, directly: parsing, challenges, cookies, error mapping."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from refreshkit import Settings
from refreshkit.adapters import _http
from refreshkit.clients import Client, ClientCredentials
from refreshkit.errors import (
    ClientMismatchError,
    ConfigurationError,
    DeviceMismatchError,
    ExpiredTokenError,
    InsufficientScopeError,
    InvalidClientError,
    InvalidScopeError,
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
        (ClientMismatchError("another client's"), 400, "invalid_grant"),
        (InvalidScopeError("too wide"), 400, "invalid_scope"),
        (InvalidClientError("who?"), 401, "invalid_client"),
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


# --------------------------------------------------------- client credentials


def _basic(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode("ascii")


@pytest.mark.parametrize(
    ("authorization", "fields", "expected"),
    [
        (None, {}, None),
        ("Bearer abc", {}, None),
        (None, {"client_id": "spa"}, ClientCredentials("spa")),
        (
            None,
            {"client_id": "app", "client_secret": "s"},
            ClientCredentials("app", "s", "client_secret_post"),
        ),
        (_basic(b"app:s"), {}, ClientCredentials("app", "s", "client_secret_basic")),
        # RFC 6749 §2.3.1: form-encoded before base64, so '+' is a space and '%3A' a colon.
        (
            _basic(b"my+app%3A1:p%2Bw+d"),
            {},
            ClientCredentials("my app:1", "p+w d", "client_secret_basic"),
        ),
        (
            _basic(b"app:s"),
            {"client_id": "app"},
            ClientCredentials("app", "s", "client_secret_basic"),
        ),
        (["Bearer x"], {"client_id": "spa"}, ClientCredentials("spa")),
    ],
)
def test_client_credentials_come_from_basic_or_the_body(
    authorization: str | list[str] | None,
    fields: dict[str, str],
    expected: ClientCredentials | None,
) -> None:
    found = _http.client_credentials(authorization, fields)
    assert found == expected
    if found is not None and expected is not None:
        assert (found.secret, found.method) == (expected.secret, expected.method)


@pytest.mark.parametrize(
    ("authorization", "fields"),
    [
        (_basic(b"app:s"), {"client_secret": "s"}),
        (_basic(b"app:s"), {"client_id": "other"}),
        (None, {"client_secret": "s"}),
        ([_basic(b"app:s"), "Bearer x"], {}),
    ],
    ids=["basic-and-post", "two-client-ids", "secret-without-id", "two-headers"],
)
def test_ambiguous_client_credentials_are_a_bad_request(
    authorization: str | list[str] | None, fields: dict[str, str]
) -> None:
    with pytest.raises(_http.BadRequestError):
        _http.client_credentials(authorization, fields)


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic",
        "Basic %%%",
        _basic(b"no-colon"),
        _basic(b":secret"),
        _basic(b"id:"),
        _basic(b"\xff:x"),
    ],
)
def test_malformed_basic_credentials_are_invalid_client(authorization: str) -> None:
    with pytest.raises(InvalidClientError):
        _http.client_credentials(authorization, {})


def test_only_a_client_registered_to_introspect_may() -> None:
    allowed = Client.confidential_with_secret("rs", "secret", introspection=True)
    _http.check_introspector(allowed)
    for refused in (None, Client.public("spa"), Client.confidential_with_secret("b", "secret")):
        with pytest.raises(InvalidClientError):
            _http.check_introspector(refused)


def test_invalid_client_carries_a_basic_challenge_in_the_realm() -> None:
    answer = _http.token_error_response(InvalidClientError("no"), realm="shop")
    assert ("WWW-Authenticate", 'Basic realm="shop"') in answer.headers
    assert answer.status == 401


def test_revocation_refuses_another_clients_token_as_unauthorized_client() -> None:
    answer = _http.revocation_error_response(ClientMismatchError("theirs"))
    assert (answer.status, answer.body["error"]) == (400, "unauthorized_client")
    assert _http.revocation_error_response(StoreError("down")).status == 503


def test_a_refresh_request_carries_its_scope() -> None:
    fields = {"grant_type": "refresh_token", "refresh_token": "rk_a.b", "scope": "read"}
    assert _http.read_refresh_request(fields, {}, {}, Settings()).scope == "read"
    del fields["scope"]
    assert _http.read_refresh_request(fields, {}, {}, Settings()).scope is None


# ----------------------------------------------------------------------- TLS

PROXIES = Settings(trusted_proxies=("10.0.0.0/8", "2001:db8::/32"))


@pytest.mark.parametrize(
    ("scheme", "peer", "headers", "settings", "secure"),
    [
        ("https", "203.0.113.7", {}, Settings(), True),
        ("http", "203.0.113.7", {}, Settings(), False),
        ("http", "127.0.0.1", {}, Settings(), True),
        ("http", "127.8.9.1", {}, Settings(), True),
        ("http", "::1", {}, Settings(), True),
        ("http", "::ffff:127.0.0.1", {}, Settings(), True),
        ("http", "testclient", {}, Settings(), False),
        ("http", None, {}, Settings(), False),
        # A loopback peer forwarding for someone else is a proxy, and not trusted.
        ("http", "127.0.0.1", {"X-Forwarded-For": "203.0.113.7"}, Settings(), False),
        ("http", "127.0.0.1", {"Forwarded": "for=203.0.113.7;proto=https"}, Settings(), False),
        # Forwarded headers from anyone but a trusted proxy are ignored.
        ("http", "203.0.113.7", {"X-Forwarded-Proto": "https"}, PROXIES, False),
        ("https", "203.0.113.7", {"X-Forwarded-Proto": "http"}, PROXIES, True),
        # From a trusted proxy, the last hop's word decides.
        ("http", "10.1.2.3", {"X-Forwarded-Proto": "https"}, PROXIES, True),
        ("http", "10.1.2.3", {"x-forwarded-proto": "HTTPS"}, PROXIES, True),
        ("https", "10.1.2.3", {"X-Forwarded-Proto": "http"}, PROXIES, False),
        ("http", "10.1.2.3", {"X-Forwarded-Proto": "http, https"}, PROXIES, True),
        ("http", "10.1.2.3", {"Forwarded": 'for="[2001:db8::9]";proto="https"'}, PROXIES, True),
        ("http", "10.1.2.3", {"Forwarded": "proto=https, for=1.2.3.4;proto=http"}, PROXIES, False),
        ("http", "2001:db8::5", {"Forwarded": "for=1.2.3.4;proto=https"}, PROXIES, True),
        # Forwarded wins over X-Forwarded-Proto; a trusted proxy naming no proto leaves the scheme.
        (
            "http",
            "10.1.2.3",
            {"Forwarded": "proto=http", "X-Forwarded-Proto": "https"},
            PROXIES,
            False,
        ),
        ("https", "10.1.2.3", {"Forwarded": "for=1.2.3.4"}, PROXIES, True),
        ("http", "10.1.2.3", {}, PROXIES, False),
        ("http", "203.0.113.7", {"X-Forwarded-Proto": "http"}, Settings(require_tls=False), True),
    ],
)
def test_a_request_is_secure_over_tls_from_loopback_or_via_a_trusted_proxy(
    scheme: str, peer: str | None, headers: dict[str, str], settings: Settings, secure: bool
) -> None:
    assert _http.request_is_secure(scheme, peer, headers, settings) is secure


def test_the_tls_refusal_names_the_fix() -> None:
    with pytest.raises(_http.BadRequestError) as refused:
        _http.check_tls("http", "203.0.113.7", {}, Settings())
    assert "https" in refused.value.message
    assert "trusted_proxies" in refused.value.message
    assert "require_tls" in refused.value.message
