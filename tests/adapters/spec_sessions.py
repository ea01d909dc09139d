"""The device-management half of the HTTP specification, for any adapter.

A signed-in user lists their sessions (``GET <prefix>/sessions``) with what
each login recorded (user agent, client IP as ``session_ip`` keeps it,
device label, client) and the current one marked, ends one
(``DELETE <prefix>/sessions/<sid>``) or all others
(``POST <prefix>/sessions/end-others``), never another user's; and a login
can choose shorter lifetimes (remember me unchecked), kept across refreshes
to the microsecond. Through the same fixtures and drivers as
:mod:`tests.adapters.spec`: a framework's test module subclasses
:class:`SessionSpec` beside ``AdapterSpec``. Every driver's peer is
loopback (127.0.0.1).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from refreshkit import FrozenClock
from refreshkit.adapters import _http

from .spec import MakeApi, assert_no_store, assert_oauth_error, bearer, refresh_form
from .support import Api, Reply

US = timedelta(microseconds=1)
PHONE_AGENT = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148"
LAPTOP_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"


def sign_in(
    api: Api,
    user: str = "alice",
    *,
    agent: str = LAPTOP_AGENT,
    headers: dict[str, str] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Log in through the test app's /login, with a user agent; the token body."""
    sent = {_http.DELIVERY_HEADER: "body", "User-Agent": agent, **(headers or {})}
    reply = api.request("POST", "/login", json_body={"username": user, **options}, headers=sent)
    assert reply.status == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def devices(api: Api, tokens: dict[str, Any]) -> list[dict[str, Any]]:
    reply = api.request("GET", "/sessions", headers=bearer(tokens["access_token"]))
    assert reply.status == 200, reply.text
    assert_no_store(reply)
    listed: list[dict[str, Any]] = reply.json()["sessions"]
    return listed


def end_others(api: Api, tokens: dict[str, Any]) -> Reply:
    return api.request("POST", "/sessions/end-others", headers=bearer(tokens["access_token"]))


class SessionSpec:
    """Device lists, ending sessions, and remember-me lifetimes: for any adapter."""

    # ------------------------------------------------------------ the list

    def test_the_device_list_shows_what_each_login_recorded_and_marks_this_one(
        self, make_api: MakeApi, clock: FrozenClock
    ) -> None:
        api = make_api()
        phone = sign_in(api, agent=PHONE_AGENT, device_label="Alice's phone")
        clock.advance(US)
        laptop = sign_in(api)
        sign_in(api, "bob")
        listed = devices(api, phone)
        assert [d["current"] for d in listed] == [False, True]  # most recently used first
        newest, this = listed
        assert this["user_agent"] == PHONE_AGENT and this["device_label"] == "Alice's phone"
        assert newest["user_agent"] == LAPTOP_AGENT and newest["device_label"] is None
        assert this["ip"] == "127.0.0.0/24"  # the default: truncated to the /24
        assert {d["sid"] for d in listed} >= {newest["sid"], this["sid"]}
        assert set(this) >= {"sid", "created_at", "last_used_at", "expires_at", "client_id"}
        assert not any(k for d in listed for k in d if "hash" in k or "token" in k)
        assert [d["current"] for d in devices(api, laptop)] == [True, False]

    def test_a_refresh_moves_last_used_and_keeps_created(
        self, make_api: MakeApi, clock: FrozenClock
    ) -> None:
        api = make_api()
        tokens = sign_in(api)
        (before,) = devices(api, tokens)
        clock.advance(timedelta(minutes=3, microseconds=5))
        refreshed = refresh_form(api, tokens["refresh_token"]).json()
        (after,) = devices(api, refreshed)
        assert after["created_at"] == before["created_at"]
        assert after["last_used_at"] == clock.now().isoformat() != before["last_used_at"]
        assert after["user_agent"] == LAPTOP_AGENT

    def test_a_plain_ip_comes_from_a_trusted_proxy_forwarding_only(self, make_api: MakeApi) -> None:
        forwarded = {"X-Forwarded-For": "198.51.100.7, 127.0.0.1"}
        trusting = make_api(session_ip="plain", trusted_proxies=("127.0.0.1",))
        (seen,) = devices(trusting, sign_in(trusting, headers=forwarded))
        assert seen["ip"] == "198.51.100.7"
        standard = make_api(session_ip="plain")
        for listed in devices(standard, sign_in(standard, "carol", headers=forwarded)):
            assert listed["ip"] == "127.0.0.1"  # the header of an untrusted peer is ignored

    def test_a_hashed_ip_names_no_address_and_off_records_none(self, make_api: MakeApi) -> None:
        hashed = make_api(session_ip="hashed", session_ip_key="k" * 32)
        tokens = sign_in(hashed)
        sign_in(hashed)
        first, second = devices(hashed, tokens)
        assert first["ip"] == second["ip"] and "127" not in first["ip"]
        off = make_api(session_ip="off")
        assert [d["ip"] for d in devices(off, sign_in(off, "dave"))] == [None]

    # ---------------------------------------------------- ending sessions

    def test_another_users_session_is_not_found_and_stays_live(self, make_api: MakeApi) -> None:
        api = make_api()
        alice = sign_in(api)
        bob = sign_in(api, "bob")
        (bob_session,) = devices(api, bob)
        reply = api.request(
            "DELETE", f"/sessions/{bob_session['sid']}", headers=bearer(alice["access_token"])
        )
        assert reply.status == 404 and reply.json()["error"] == "not_found"
        unknown = api.request(
            "DELETE", "/sessions/" + "0" * 32, headers=bearer(alice["access_token"])
        )
        assert unknown.status == 404 and unknown.json() == reply.json()
        assert refresh_form(api, bob["refresh_token"]).status == 200
        assert len(devices(api, bob)) == 1

    def test_an_ended_session_is_not_found_the_second_time(self, make_api: MakeApi) -> None:
        api = make_api()
        laptop = sign_in(api)
        phone = sign_in(api, agent=PHONE_AGENT)
        sid = next(d["sid"] for d in devices(api, laptop) if not d["current"])
        headers = bearer(laptop["access_token"])
        assert api.request("DELETE", f"/sessions/{sid}", headers=headers).status == 204
        assert api.request("DELETE", f"/sessions/{sid}", headers=headers).status == 404
        assert_oauth_error(refresh_form(api, phone["refresh_token"]), 400, "invalid_grant")
        assert [d["current"] for d in devices(api, laptop)] == [True]

    def test_signing_out_other_devices_keeps_this_session_and_other_users(
        self, make_api: MakeApi
    ) -> None:
        api = make_api()
        others = [sign_in(api, agent=PHONE_AGENT) for _ in range(2)]
        this = sign_in(api)
        bob = sign_in(api, "bob")
        reply = end_others(api, this)
        assert reply.status == 200 and reply.json() == {"ended": 2}
        assert_no_store(reply)
        for other in others:
            assert_oauth_error(refresh_form(api, other["refresh_token"]), 400, "invalid_grant")
        assert [d["current"] for d in devices(api, this)] == [True]
        assert refresh_form(api, this["refresh_token"]).status == 200
        assert refresh_form(api, bob["refresh_token"]).status == 200
        assert end_others(api, this).json() == {"ended": 0}

    def test_signing_out_other_devices_needs_an_access_token(self, make_api: MakeApi) -> None:
        api = make_api()
        reply = api.request("POST", "/sessions/end-others")
        assert reply.status == 401
        assert reply.header("WWW-Authenticate") is not None

    # --------------------------------------------------------- remember me

    def test_a_login_without_remember_me_slides_by_its_own_idle_lifetime(
        self, make_api: MakeApi, clock: FrozenClock
    ) -> None:
        api = make_api(refresh_idle_ttl="14d", refresh_absolute_ttl="30d")
        idle = timedelta(hours=1, microseconds=3)
        tokens = sign_in(api, idle_ttl_us=idle // US)
        for _ in range(3):
            clock.advance(idle - US)
            reply = refresh_form(api, tokens["refresh_token"])
            assert reply.status == 200, reply.text
            tokens = reply.json()
        (listed,) = devices(api, tokens)
        assert listed["expires_at"] == (clock.now() + idle).isoformat()
        clock.advance(idle)
        assert_oauth_error(refresh_form(api, tokens["refresh_token"]), 400, "invalid_grant")

    def test_a_shorter_absolute_lifetime_ends_the_session_to_the_microsecond(
        self, make_api: MakeApi, clock: FrozenClock
    ) -> None:
        api = make_api(refresh_idle_ttl="14d", refresh_absolute_ttl="30d")
        cap = timedelta(days=1, microseconds=9)
        start = clock.now()
        tokens = sign_in(api, absolute_ttl_us=cap // US)
        clock.set(start + cap - US)
        reply = refresh_form(api, tokens["refresh_token"])
        assert reply.status == 200, reply.text
        clock.set(start + cap)
        assert_oauth_error(refresh_form(api, reply.json()["refresh_token"]), 400, "invalid_grant")

    # --------------------------------------------------------------- cutoff

    def test_a_password_change_cuts_off_every_earlier_session_and_token(
        self, make_api: MakeApi, clock: FrozenClock
    ) -> None:
        api = make_api()
        phone = sign_in(api, agent=PHONE_AGENT)
        laptop = sign_in(api)
        bob = sign_in(api, "bob")
        clock.advance(timedelta(seconds=2, microseconds=1))
        reply = api.request("POST", "/change-password", headers=bearer(laptop["access_token"]))
        assert reply.status == 200 and reply.json() == {"ended": 2}, reply.text
        for old in (phone, laptop):
            assert_oauth_error(refresh_form(api, old["refresh_token"]), 400, "invalid_grant")
            online = api.request("GET", "/online-me", headers=bearer(old["access_token"]))
            assert online.status == 401
            # Offline verification cannot know: the access token lives until its exp.
            assert api.request("GET", "/me", headers=bearer(old["access_token"])).status == 200
        fresh = sign_in(api)  # the login with the new password, in the same instant
        assert api.request("GET", "/online-me", headers=bearer(fresh["access_token"])).status == 200
        assert refresh_form(api, fresh["refresh_token"]).status == 200
        assert refresh_form(api, bob["refresh_token"]).status == 200
