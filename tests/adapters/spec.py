"""The HTTP specification both adapters meet, written once.

A framework's test module subclasses :class:`AdapterSpec` and provides the
fixtures ``make_api`` (``**settings -> Api`` for a test app with the routes
below), ``clock`` (the manager's FrozenClock) and ``outage`` (the failing
store's switch). Every test then runs through the framework's test client
and through a real server.

The test app, in either framework: ``POST /login`` (JSON ``username``,
optional ``scope`` and ``client_id``) calls the adapter's login helper; ``GET /me`` requires an
access token; ``GET /admin`` requires scope ``admin``; ``GET /online-me``
verifies online (revocation visible at once).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt
import pytest

from refreshkit import FrozenClock
from refreshkit.adapters import _http

from .support import OUTAGE_RETRY_AFTER, Api, Outage, Reply

MakeApi = Callable[..., Api]

#: The default cookie names as sent over HTTPS: the path-scoped refresh cookie
#: can only be ``__Secure-``; the CSRF cookie (Path=/, host-only) is ``__Host-``.
REFRESH_COOKIE = "__Secure-refresh_token"
CSRF_COOKIE = "__Host-refresh_csrf"
#: RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
DESCRIPTION_CHARS = frozenset(chr(c) for c in range(0x20, 0x7F)) - {'"', "\\"}


def login(api: Api, user: str = "alice", *, scope: str | None = None, body: bool = True) -> Reply:
    payload: dict[str, Any] = {"username": user}
    if scope is not None:
        payload["scope"] = scope
    headers = {_http.DELIVERY_HEADER: "body"} if body else {}
    reply = api.request("POST", "/login", json_body=payload, headers=headers)
    assert reply.status == 200, reply.text
    return reply


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refresh_form(api: Api, refresh_token: str) -> Reply:
    return api.request(
        "POST",
        "/token/refresh",
        form={"grant_type": "refresh_token", "refresh_token": refresh_token},
    )


def assert_no_store(reply: Reply) -> None:
    assert reply.header("Cache-Control") == "no-store"
    assert reply.header("Pragma") == "no-cache"


def assert_oauth_error(reply: Reply, status: int, error: str) -> None:
    assert reply.status == status, reply.text
    assert reply.json()["error"] == error
    assert set(reply.json().get("error_description", "")) <= DESCRIPTION_CHARS
    assert_no_store(reply)


class AdapterSpec:
    """Every route, every error code, cookies and CSRF, outages: for any adapter."""

    @pytest.fixture
    def api(self, make_api: MakeApi) -> Api:
        return make_api()

    # ------------------------------------------------------------------ login

    def test_login_in_body_mode_answers_an_rfc6749_token_response(self, api: Api) -> None:
        reply = login(api, scope="read write")
        body = reply.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 900
        assert body["scope"] == "read write"
        assert body["refresh_token"].startswith("rk_")
        assert body["access_token"].count(".") == 2
        assert_no_store(reply)
        assert reply.set_cookies() == {}

    def test_login_in_cookie_mode_keeps_the_refresh_token_out_of_the_body(self, api: Api) -> None:
        reply = login(api, body=False)
        assert "refresh_token" not in reply.json()
        cookies = reply.set_cookies()
        refresh_cookie = cookies[REFRESH_COOKIE]
        assert "; HttpOnly" in refresh_cookie
        assert "; Secure" in refresh_cookie
        assert "; SameSite=Strict" in refresh_cookie
        assert "; Path=/token/refresh" in refresh_cookie
        assert reply.cookie_values()[REFRESH_COOKIE].startswith("rk_")
        csrf_cookie = cookies[CSRF_COOKIE]
        assert "HttpOnly" not in csrf_cookie  # the page's script must read it
        assert "; Path=/;" in csrf_cookie

    def test_default_cookie_names_carry_the_strongest_prefix_their_attributes_allow(
        self, api: Api
    ) -> None:
        cookies = login(api, body=False).set_cookies()
        assert set(cookies) == {REFRESH_COOKIE, CSRF_COOKIE}
        # __Host- needs Secure, no Domain and Path=/ (RFC 6265bis §4.1.3.2).
        assert "Domain=" not in cookies[CSRF_COOKIE]
        assert "; Secure" in cookies[CSRF_COOKIE]
        # The refresh cookie's Path is the refresh endpoint: __Secure- is the most it can be.
        assert "; Secure" in cookies[REFRESH_COOKIE]

    def test_an_unprefixed_refresh_cookie_is_not_read_once_names_are_prefixed(
        self, api: Api
    ) -> None:
        """A sibling subdomain can toss ``refresh_token``; it can never set ``__Host-``."""
        cookies = login(api, body=False).cookie_values()
        token, csrf = cookies[REFRESH_COOKIE], cookies[CSRF_COOKIE]
        tossed = {"refresh_token": token, "refresh_csrf": csrf}
        reply = api.request(
            "POST", "/token/refresh", cookies=tossed, headers={"X-CSRF-Token": csrf}
        )
        assert_oauth_error(reply, 400, "invalid_request")

    def test_without_secure_the_default_cookie_names_drop_their_prefix(
        self, make_api: MakeApi
    ) -> None:
        """Browsers drop a prefixed cookie that lacks Secure, so plain-HTTP dev gets bare names."""
        api = make_api(cookie_secure=False)
        reply = login(api, body=False)
        cookies = reply.set_cookies()
        assert set(cookies) == {"refresh_token", "refresh_csrf"}
        assert "Secure" not in cookies["refresh_token"]
        values = reply.cookie_values()
        refreshed = api.request(
            "POST",
            "/token/refresh",
            cookies=values,
            headers={"X-CSRF-Token": values["refresh_csrf"]},
        )
        assert refreshed.status == 200, refreshed.text
        assert set(refreshed.set_cookies()) == {"refresh_token", "refresh_csrf"}

    # -------------------------------------------------------- protected routes

    def test_a_valid_access_token_reaches_the_protected_route(self, api: Api) -> None:
        access = login(api).json()["access_token"]
        reply = api.request("GET", "/me", headers=bearer(access))
        assert reply.status == 200
        assert reply.json()["subject"] == "alice"

    def test_no_credentials_answer_401_with_a_bare_bearer_challenge(self, api: Api) -> None:
        reply = api.request("GET", "/me")
        assert reply.status == 401
        assert reply.header("WWW-Authenticate") == 'Bearer realm="refreshkit"'

    def test_no_credentials_carry_no_error_code_in_the_body_either(self, api: Api) -> None:
        """RFC 6750 §3.1: a request without authentication gets no error code."""
        reply = api.request("GET", "/me")
        assert reply.status == 401
        assert "error" not in reply.json()
        assert_no_store(reply)

    def test_another_auth_scheme_counts_as_no_credentials(self, api: Api) -> None:
        reply = api.request("GET", "/me", headers={"Authorization": "Basic YWxpY2U6cHc="})
        assert reply.status == 401
        assert reply.header("WWW-Authenticate") == 'Bearer realm="refreshkit"'

    def test_a_forged_access_token_answers_401_invalid_token(self, api: Api) -> None:
        access = login(api).json()["access_token"]
        forged = access[:-4] + ("AAAA" if not access.endswith("AAAA") else "BBBB")
        reply = api.request("GET", "/me", headers=bearer(forged))
        assert_oauth_error(reply, 401, "invalid_token")
        assert 'error="invalid_token"' in (reply.header("WWW-Authenticate") or "")

    def test_an_expired_access_token_answers_401_invalid_token(
        self, api: Api, clock: FrozenClock
    ) -> None:
        access = login(api).json()["access_token"]
        clock.advance(901)
        reply = api.request("GET", "/me", headers=bearer(access))
        assert_oauth_error(reply, 401, "invalid_token")
        assert "expired" in reply.json()["error_description"]

    def test_a_refresh_token_is_never_accepted_as_an_access_token(self, api: Api) -> None:
        refresh = login(api).json()["refresh_token"]
        reply = api.request("GET", "/me", headers=bearer(refresh))
        assert_oauth_error(reply, 401, "invalid_token")

    def test_a_malformed_bearer_header_answers_400_invalid_request(self, api: Api) -> None:
        reply = api.request("GET", "/me", headers={"Authorization": "Bearer two tokens"})
        assert_oauth_error(reply, 400, "invalid_request")

    @pytest.mark.parametrize("other", ["bearer", "Basic YWxpY2U6cHc="])
    @pytest.mark.parametrize("bearer_first", [True, False])
    def test_two_authorization_headers_answer_400_invalid_request(
        self, api: Api, other: str, bearer_first: bool
    ) -> None:
        access = login(api).json()["access_token"]
        second = f"Bearer {access}" if other == "bearer" else other
        pair = [("Authorization", f"Bearer {access}"), ("Authorization", second)]
        reply = api.request("GET", "/me", headers=pair if bearer_first else pair[::-1])
        assert_oauth_error(reply, 400, "invalid_request")

    def test_a_missing_scope_answers_403_insufficient_scope(self, api: Api) -> None:
        access = login(api, scope="read").json()["access_token"]
        reply = api.request("GET", "/admin", headers=bearer(access))
        assert_oauth_error(reply, 403, "insufficient_scope")
        challenge = reply.header("WWW-Authenticate") or ""
        assert 'error="insufficient_scope"' in challenge
        assert 'scope="admin"' in challenge

    def test_the_required_scope_opens_the_scoped_route(self, api: Api) -> None:
        access = login(api, scope="read admin").json()["access_token"]
        assert api.request("GET", "/admin", headers=bearer(access)).status == 200

    # ---------------------------------------------------------------- refresh

    def test_refresh_with_a_form_body_rotates_the_refresh_token(self, api: Api) -> None:
        first = login(api).json()
        reply = refresh_form(api, first["refresh_token"])
        assert reply.status == 200, reply.text
        body = reply.json()
        assert body["refresh_token"] != first["refresh_token"]
        assert body["token_type"] == "Bearer"
        assert_no_store(reply)
        assert api.request("GET", "/me", headers=bearer(body["access_token"])).status == 200

    def test_refresh_with_a_json_body_works_too(self, api: Api) -> None:
        refresh = login(api).json()["refresh_token"]
        reply = api.request(
            "POST",
            "/token/refresh",
            json_body={"grant_type": "refresh_token", "refresh_token": refresh},
        )
        assert reply.status == 200
        assert reply.json()["refresh_token"] != refresh

    def test_replaying_a_rotated_refresh_token_revokes_the_whole_session(self, api: Api) -> None:
        old = login(api).json()["refresh_token"]
        new = refresh_form(api, old).json()
        newer = refresh_form(api, new["refresh_token"]).json()  # the successor is used
        replay = refresh_form(api, old)
        assert_oauth_error(replay, 400, "invalid_grant")
        assert_oauth_error(refresh_form(api, newer["refresh_token"]), 400, "invalid_grant")
        online = api.request("GET", "/online-me", headers=bearer(newer["access_token"]))
        assert_oauth_error(online, 401, "invalid_token")

    def test_a_retry_within_the_window_gets_the_same_refresh_token(self, api: Api) -> None:
        old = login(api).json()["refresh_token"]
        first = refresh_form(api, old)
        retried = refresh_form(api, old)  # the first reply was lost, or another tab raced it
        assert first.status == retried.status == 200
        assert retried.json()["refresh_token"] == first.json()["refresh_token"]
        assert retried.json()["access_token"] != first.json()["access_token"]
        assert refresh_form(api, retried.json()["refresh_token"]).status == 200

    def test_an_unknown_refresh_token_answers_invalid_grant(self, api: Api) -> None:
        reply = refresh_form(api, "rk_0123456789abcdef.notarealsecret")
        assert_oauth_error(reply, 400, "invalid_grant")

    def test_an_expired_session_answers_invalid_grant(self, api: Api, clock: FrozenClock) -> None:
        refresh = login(api).json()["refresh_token"]
        clock.advance(15 * 86400)
        assert_oauth_error(refresh_form(api, refresh), 400, "invalid_grant")

    @pytest.mark.parametrize(
        ("form", "error"),
        [
            ({"refresh_token": "rk_x.y"}, "invalid_request"),
            ({"grant_type": "password", "refresh_token": "rk_x.y"}, "unsupported_grant_type"),
            ({"grant_type": "authorization_code", "code": "c"}, "unsupported_grant_type"),
            ({"grant_type": "refresh_token"}, "invalid_request"),
            ({"grant_type": "refresh_token", "refresh_token": ""}, "invalid_request"),
        ],
    )
    def test_a_malformed_refresh_request_is_refused(
        self, api: Api, form: dict[str, str], error: str
    ) -> None:
        reply = api.request("POST", "/token/refresh", form=form)
        assert_oauth_error(reply, 400, error)

    @pytest.mark.parametrize(
        ("content_type", "raw"),
        [
            ("application/json", b"{not json"),
            ("application/json", b'["grant_type"]'),
            ("application/json", b'{"grant_type": "refresh_token", "refresh_token": 5}'),
            ("text/plain", b"grant_type=refresh_token"),
            (
                "application/x-www-form-urlencoded",
                b"grant_type=refresh_token&grant_type=refresh_token&refresh_token=rk_a.b",
            ),
        ],
    )
    def test_an_unparsable_body_answers_invalid_request(
        self, api: Api, content_type: str, raw: bytes
    ) -> None:
        reply = api.request(
            "POST", "/token/refresh", content=raw, headers={"Content-Type": content_type}
        )
        assert_oauth_error(reply, 400, "invalid_request")

    @pytest.mark.parametrize("route", ["/token/refresh", "/token/revoke"])
    @pytest.mark.parametrize("opener", [b"[", b'{"a":'])
    def test_a_deeply_nested_json_body_answers_invalid_request(
        self, api: Api, route: str, opener: bytes
    ) -> None:
        raw = opener * (_http.MAX_BODY_BYTES // len(opener))
        reply = api.request(
            "POST", route, content=raw, headers={"Content-Type": "application/json"}
        )
        assert_oauth_error(reply, 400, "invalid_request")

    @pytest.mark.parametrize(
        ("route", "name"), [("/token/refresh", "refresh_token"), ("/token/revoke", "token")]
    )
    def test_duplicate_json_keys_are_refused_like_duplicate_form_parameters(
        self, api: Api, route: str, name: str
    ) -> None:
        refresh = login(api).json()["refresh_token"]
        raw = f'{{"grant_type": "refresh_token", "{name}": "rk_a.b", "{name}": "{refresh}"}}'
        reply = api.request(
            "POST", route, content=raw.encode(), headers={"Content-Type": "application/json"}
        )
        assert_oauth_error(reply, 400, "invalid_request")
        assert refresh_form(api, refresh).status == 200  # the last value was not used either

    @pytest.mark.parametrize("route", ["/token/refresh", "/token/revoke"])
    def test_a_body_over_the_size_cap_answers_invalid_request(self, api: Api, route: str) -> None:
        raw = b"token=rk_a.b&pad=" + b"x" * _http.MAX_BODY_BYTES
        reply = api.request(
            "POST",
            route,
            content=raw,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert_oauth_error(reply, 400, "invalid_request")
        assert "too large" in reply.json()["error_description"]

    @pytest.mark.parametrize("as_json", [False, True])
    def test_an_empty_grant_type_counts_as_missing(self, api: Api, as_json: bool) -> None:
        """RFC 6749 §3.2: a parameter without a value is treated as omitted."""
        refresh = login(api).json()["refresh_token"]
        fields = {"grant_type": "", "refresh_token": refresh}
        if as_json:
            reply = api.request("POST", "/token/refresh", json_body=fields)
        else:
            reply = api.request("POST", "/token/refresh", form=fields)
        assert_oauth_error(reply, 400, "invalid_request")

    @pytest.mark.parametrize("route", ["/token/refresh", "/token/revoke"])
    @pytest.mark.parametrize(
        ("content_type", "raw"),
        [
            ("application/x-www-form-urlencoded", b"%22%5C%0A%C3%A9=1&%22%5C%0A%C3%A9=2"),
            ("application/json", b'{"\\"\\\\\\n\\u00e9": "1", "\\"\\\\\\n\\u00e9": "2"}'),
        ],
    )
    def test_error_descriptions_never_echo_text_outside_the_rfc6749_character_set(
        self, api: Api, route: str, content_type: str, raw: bytes
    ) -> None:
        reply = api.request("POST", route, content=raw, headers={"Content-Type": content_type})
        assert_oauth_error(reply, 400, "invalid_request")  # checks the character set

    def test_body_tokens_are_refused_when_body_mode_is_off(self, make_api: MakeApi) -> None:
        api = make_api(body_mode=False)
        login(api, body=False)
        reply = refresh_form(api, "rk_0123456789abcdef.secret")
        assert_oauth_error(reply, 400, "invalid_request")

    # ----------------------------------------------------------- cookie + CSRF

    def test_cookie_refresh_with_the_double_submit_token_rotates_the_cookie(self, api: Api) -> None:
        cookies = login(api, body=False).cookie_values()
        reply = api.request(
            "POST",
            "/token/refresh",
            cookies=cookies,
            headers={"X-CSRF-Token": cookies[CSRF_COOKIE]},
        )
        assert reply.status == 200, reply.text
        assert "refresh_token" not in reply.json()
        rotated = reply.cookie_values()
        assert rotated[REFRESH_COOKIE] != cookies[REFRESH_COOKIE]
        assert rotated[CSRF_COOKIE] != cookies[CSRF_COOKIE]
        assert_no_store(reply)

    def test_cookie_refresh_without_the_csrf_header_is_refused_and_consumes_nothing(
        self, api: Api
    ) -> None:
        cookies = login(api, body=False).cookie_values()
        refused = api.request("POST", "/token/refresh", cookies=cookies)
        assert_oauth_error(refused, 400, "invalid_request")
        assert "CSRF" in refused.json()["error_description"]
        accepted = api.request(
            "POST",
            "/token/refresh",
            cookies=cookies,
            headers={"X-CSRF-Token": cookies[CSRF_COOKIE]},
        )
        assert accepted.status == 200

    def test_a_planted_csrf_pair_not_bound_to_the_refresh_token_is_refused(self, api: Api) -> None:
        cookies = login(api, body=False).cookie_values()
        planted = {**cookies, CSRF_COOKIE: "attacker-chosen"}
        reply = api.request(
            "POST", "/token/refresh", cookies=planted, headers={"X-CSRF-Token": "attacker-chosen"}
        )
        assert_oauth_error(reply, 400, "invalid_request")

    def test_header_csrf_mode_needs_only_the_custom_header(self, make_api: MakeApi) -> None:
        api = make_api(csrf_protection="header", body_mode=False)
        login_reply = login(api, body=False)
        assert set(login_reply.set_cookies()) == {REFRESH_COOKIE}
        cookies = login_reply.cookie_values()
        refused = api.request("POST", "/token/refresh", cookies=cookies)
        assert_oauth_error(refused, 400, "invalid_request")
        accepted = api.request(
            "POST", "/token/refresh", cookies=cookies, headers={"X-CSRF-Token": "1"}
        )
        assert accepted.status == 200

    def test_cookies_are_ignored_when_cookie_mode_is_off(self, make_api: MakeApi) -> None:
        api = make_api(cookie_mode=False)
        refresh = login(api).json()["refresh_token"]
        reply = api.request(
            "POST",
            "/token/refresh",
            cookies={REFRESH_COOKIE: refresh},
            headers={"X-CSRF-Token": _http.csrf_token_for(refresh)},
        )
        assert_oauth_error(reply, 400, "invalid_request")

    # ------------------------------------------------------------- revocation

    def test_revoking_a_refresh_token_ends_its_session(self, api: Api) -> None:
        refresh = login(api).json()["refresh_token"]
        reply = api.request(
            "POST", "/token/revoke", form={"token": refresh, "token_type_hint": "refresh_token"}
        )
        assert reply.status == 200
        assert reply.text == ""
        assert_no_store(reply)
        assert_oauth_error(refresh_form(api, refresh), 400, "invalid_grant")

    def test_a_misleading_hint_does_not_stop_revocation(self, api: Api) -> None:
        refresh = login(api).json()["refresh_token"]
        reply = api.request(
            "POST", "/token/revoke", form={"token": refresh, "token_type_hint": "access_token"}
        )
        assert reply.status == 200
        assert_oauth_error(refresh_form(api, refresh), 400, "invalid_grant")

    @pytest.mark.parametrize("token", ["rk_unknown.token", "not-a-token", "a.b.c"])
    def test_revoking_an_unknown_token_still_answers_200(self, api: Api, token: str) -> None:
        assert api.request("POST", "/token/revoke", form={"token": token}).status == 200

    def test_a_revocation_without_a_token_is_invalid_request(self, api: Api) -> None:
        reply = api.request("POST", "/token/revoke", form={"token_type_hint": "refresh_token"})
        assert_oauth_error(reply, 400, "invalid_request")

    def test_revoking_an_access_token_denies_it_to_online_checks(self, api: Api) -> None:
        access = login(api).json()["access_token"]
        reply = api.request("POST", "/token/revoke", json_body={"token": access})
        assert reply.status == 200
        denied = api.request("GET", "/online-me", headers=bearer(access))
        assert_oauth_error(denied, 401, "invalid_token")

    @pytest.mark.parametrize("revoked_from", [None, "laptop", "elsewhere"])
    def test_revoking_a_device_bound_access_token_denies_it_from_any_device(
        self, api: Api, revoked_from: str | None
    ) -> None:
        """Whoever holds a signed, unexpired access token may revoke it (RFC 7009 §2.1)."""
        laptop = {"X-Device": "laptop"}
        reply = api.request(
            "POST",
            "/login",
            json_body={"username": "alice"},
            headers={_http.DELIVERY_HEADER: "body", **laptop},
        )
        access = reply.json()["access_token"]
        assert api.request("GET", "/online-me", headers={**bearer(access), **laptop}).status == 200
        device = {"X-Device": revoked_from} if revoked_from else {}
        revoked = api.request("POST", "/token/revoke", form={"token": access}, headers=device)
        assert revoked.status == 200
        denied = api.request("GET", "/online-me", headers={**bearer(access), **laptop})
        assert_oauth_error(denied, 401, "invalid_token")

    def test_revocation_needs_no_csrf_proof_even_in_cookie_mode(self, api: Api) -> None:
        """Forcing a revocation only signs the victim out, so it is not CSRF-protected."""
        cookies = login(api, body=False).cookie_values()
        refresh = next(value for value in cookies.values() if value.startswith("rk_"))
        reply = api.request("POST", "/token/revoke", form={"token": refresh})
        assert reply.status == 200
        assert_oauth_error(refresh_form(api, refresh), 400, "invalid_grant")

    # ----------------------------------------------------------------- logout

    def test_logout_ends_the_session_and_clears_the_cookies(self, api: Api) -> None:
        tokens = login(api).json()
        reply = api.request("POST", "/logout", headers=bearer(tokens["access_token"]))
        assert reply.status == 204
        cleared = reply.set_cookies()
        assert "Max-Age=0" in cleared[REFRESH_COOKIE]
        assert "Path=/token/refresh" in cleared[REFRESH_COOKIE]
        assert "Max-Age=0" in cleared[CSRF_COOKIE]
        assert_oauth_error(refresh_form(api, tokens["refresh_token"]), 400, "invalid_grant")
        online = api.request("GET", "/online-me", headers=bearer(tokens["access_token"]))
        assert online.status == 401

    def test_logout_needs_an_access_token(self, api: Api) -> None:
        assert api.request("POST", "/logout").status == 401

    # --------------------------------------------------------------- sessions

    def test_a_user_sees_their_own_sessions_with_the_current_one_flagged(self, api: Api) -> None:
        login(api, "alice")
        current = login(api, "alice").json()
        login(api, "bob")
        reply = api.request("GET", "/sessions", headers=bearer(current["access_token"]))
        assert reply.status == 200
        sessions = reply.json()["sessions"]
        assert len(sessions) == 2
        assert sum(s["current"] for s in sessions) == 1
        assert set(sessions[0]) >= {"sid", "created_at", "last_used_at", "expires_at"}
        assert_no_store(reply)

    def test_a_user_ends_their_other_device(self, api: Api) -> None:
        laptop = login(api, "alice").json()
        phone = login(api, "alice").json()
        sessions = api.request("GET", "/sessions", headers=bearer(laptop["access_token"])).json()
        phone_sid = next(s["sid"] for s in sessions["sessions"] if not s["current"])
        reply = api.request(
            "DELETE", f"/sessions/{phone_sid}", headers=bearer(laptop["access_token"])
        )
        assert reply.status == 204
        assert_oauth_error(refresh_form(api, phone["refresh_token"]), 400, "invalid_grant")
        assert refresh_form(api, laptop["refresh_token"]).status == 200

    def test_a_user_cannot_end_another_users_session(self, api: Api) -> None:
        alice = login(api, "alice").json()
        bob = login(api, "bob").json()
        bob_sid = api.request("GET", "/sessions", headers=bearer(bob["access_token"])).json()[
            "sessions"
        ][0]["sid"]
        reply = api.request("DELETE", f"/sessions/{bob_sid}", headers=bearer(alice["access_token"]))
        assert reply.status == 404
        assert reply.json()["error"] == "not_found"
        assert refresh_form(api, bob["refresh_token"]).status == 200

    def test_ending_an_unknown_session_is_404(self, api: Api) -> None:
        alice = login(api).json()
        reply = api.request("DELETE", "/sessions/nope", headers=bearer(alice["access_token"]))
        assert reply.status == 404

    # ------------------------------------------------------------------- JWKS

    def test_the_jwks_route_publishes_the_key_that_verifies_access_tokens(self, api: Api) -> None:
        access = login(api).json()["access_token"]
        reply = api.request("GET", "/.well-known/jwks.json")
        assert reply.status == 200
        jwks = jwt.PyJWKSet.from_dict(reply.json())
        kid = jwt.get_unverified_header(access)["kid"]
        key = next(k for k in jwks.keys if k.key_id == kid)
        # The manager's clock is frozen in 2030: check the signature, not the times.
        times_off = {"verify_exp": False, "verify_iat": False, "verify_nbf": False}
        claims = jwt.decode(
            access, key.key, algorithms=["EdDSA"], audience="refreshkit", options=times_off
        )
        assert claims["sub"] == "alice"

    def test_the_browser_script_is_served_as_a_cacheable_module(self, api: Api) -> None:
        from importlib import resources

        shipped = (resources.files("refreshkit") / "static" / "refreshkit.js").read_text()
        reply = api.request("GET", "/refreshkit.js")
        assert reply.status == 200
        assert reply.header("Content-Type") == "application/javascript; charset=utf-8"
        assert reply.text == shipped
        assert "export function createRefreshKit" in reply.text
        assert reply.header("Cache-Control") == "public, max-age=86400"
        assert reply.header("X-Content-Type-Options") == "nosniff"
        etag = reply.header("ETag")
        assert etag is not None
        assert etag.startswith('"')
        again = api.request("GET", "/refreshkit.js", headers={"If-None-Match": etag})
        assert again.status == 304
        assert again.text == ""
        assert again.header("ETag") == etag
        stale = api.request("GET", "/refreshkit.js", headers={"If-None-Match": '"old"'})
        assert stale.status == 200
        assert stale.text == shipped

    # ----------------------------------------------------------------- outage

    def test_a_store_outage_answers_503_with_retry_after_on_refresh(
        self, api: Api, outage: Outage
    ) -> None:
        refresh = login(api).json()["refresh_token"]
        outage.active = True
        reply = refresh_form(api, refresh)
        assert_oauth_error(reply, 503, "temporarily_unavailable")
        assert reply.header("Retry-After") == str(OUTAGE_RETRY_AFTER)
        assert reply.header("WWW-Authenticate") is None
        outage.active = False
        assert refresh_form(api, refresh).status == 200  # nothing was lost

    def test_a_store_outage_never_answers_401_on_online_checks(
        self, api: Api, outage: Outage
    ) -> None:
        access = login(api).json()["access_token"]
        outage.active = True
        reply = api.request("GET", "/online-me", headers=bearer(access))
        assert_oauth_error(reply, 503, "temporarily_unavailable")
        assert reply.header("Retry-After") == str(OUTAGE_RETRY_AFTER)
        stateless = api.request("GET", "/me", headers=bearer(access))
        assert stateless.status == 200

    @pytest.mark.parametrize("route", ["login", "revoke", "logout", "sessions"])
    def test_a_store_outage_answers_503_everywhere_else(
        self, api: Api, outage: Outage, route: str
    ) -> None:
        tokens = login(api).json()
        outage.active = True
        if route == "login":
            reply = api.request("POST", "/login", json_body={"username": "alice"})
        elif route == "revoke":
            reply = api.request("POST", "/token/revoke", form={"token": tokens["refresh_token"]})
        else:
            method = "POST" if route == "logout" else "GET"
            reply = api.request(method, f"/{route}", headers=bearer(tokens["access_token"]))
        assert reply.status == 503, reply.text
        assert reply.header("Retry-After") == str(OUTAGE_RETRY_AFTER)
