"""The OAuth-client half of the HTTP specification, for any adapter.

Client authentication (RFC 6749 §2.3.1, §5.2), binding of refresh tokens to
their client (§6, RFC 7009 §2.1), scope narrowing, per-client delivery,
introspection (RFC 7662) and the TLS rule, through the same fixtures and
drivers as :mod:`tests.adapters.spec`: a framework's test module subclasses
:class:`ClientSpec` beside ``AdapterSpec``.

Every driver's peer is loopback: the test clients speak HTTPS unless told
``plain=True``, the real servers plain HTTP.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote_plus

import pytest

from refreshkit import Client

from .spec import MakeApi, assert_no_store, assert_oauth_error, bearer, login
from .support import OUTAGE_RETRY_AFTER, Api, Headers, Outage, Reply

BACKEND_SECRET = "backend-secret-0123456789"
RESOURCE_SERVER_SECRET = "resource-server-secret-0123456789"
#: A client id and secret that need RFC 6749 §2.3.1 form-encoding inside Basic.
ODD_ID, ODD_SECRET = "partner:app one", "p+ss:w%rd é"
CLIENTS = (
    Client.public("spa"),
    Client.public("cookie-only", delivery="cookie"),
    Client.public("body-only", delivery="body"),
    Client.confidential_with_secret("backend", BACKEND_SECRET),
    Client.confidential_with_secret(
        "post-only", BACKEND_SECRET, auth_methods=("client_secret_post",)
    ),
    Client.confidential_with_secret("resource-server", RESOURCE_SERVER_SECRET, introspection=True),
    Client.confidential_with_secret(ODD_ID, ODD_SECRET),
)
TOKEN_ROUTES = ("/token/refresh", "/token/revoke", "/token/introspect")


def basic(client_id: str, secret: str) -> dict[str, str]:
    """``Authorization: Basic`` as RFC 6749 §2.3.1 builds it: form-encoded, then base64."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}


BACKEND = basic("backend", BACKEND_SECRET)
RESOURCE_SERVER = basic("resource-server", RESOURCE_SERVER_SECRET)
BACKEND_POST = {"client_id": "backend", "client_secret": BACKEND_SECRET}


def refresh(
    api: Api, token: str, *, headers: Headers | None = None, plain: bool = False, **fields: str
) -> Reply:
    form = {"grant_type": "refresh_token", "refresh_token": token, **fields}
    return api.request("POST", "/token/refresh", form=form, headers=headers, plain=plain)


def revoke(api: Api, token: str, *, headers: Headers | None = None, **fields: str) -> Reply:
    return api.request("POST", "/token/revoke", form={"token": token, **fields}, headers=headers)


def introspect(api: Api, token: str, *, headers: Headers | None = None, **fields: str) -> Reply:
    form = {"token": token, **fields}
    return api.request("POST", "/token/introspect", form=form, headers=headers)


def tokens(api: Api, *, client_id: str | None = None, scope: str | None = None) -> dict[str, Any]:
    """Log alice in (body delivery), bound at once to ``client_id`` when given."""
    payload: dict[str, Any] = {"username": "alice"}
    if client_id is not None:
        payload["client_id"] = client_id
    if scope is not None:
        payload["scope"] = scope
    reply = api.request("POST", "/login", json_body=payload, headers={"X-Token-Delivery": "body"})
    assert reply.status == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def assert_invalid_client(reply: Reply) -> None:
    """RFC 6749 §5.2: 401 ``invalid_client`` with a Basic challenge, never cached."""
    assert_oauth_error(reply, 401, "invalid_client")
    assert reply.header("WWW-Authenticate") == 'Basic realm="refreshkit"'


class ClientSpec:
    """Registered clients at the token, revocation and introspection endpoints."""

    @pytest.fixture
    def api(self, make_api: MakeApi) -> Api:
        return make_api(clients=CLIENTS, default_client="spa")

    # ------------------------------------------------------ authentication

    @pytest.mark.parametrize("route", TOKEN_ROUTES)
    @pytest.mark.parametrize("method", ["basic", "post"])
    def test_a_wrong_secret_answers_401_invalid_client_with_a_basic_challenge(
        self, api: Api, route: str, method: str
    ) -> None:
        token = tokens(api)["refresh_token"]
        wrong = "not-the-secret"
        if method == "basic":
            reply = api.request(
                "POST", route, form=self._form(route, token), headers=basic("backend", wrong)
            )
        else:
            fields = {**self._form(route, token), "client_id": "backend", "client_secret": wrong}
            reply = api.request("POST", route, form=fields)
        assert_invalid_client(reply)
        assert refresh(api, token, headers=BACKEND).status == 200  # nothing was consumed

    @staticmethod
    def _form(route: str, token: str) -> dict[str, str]:
        if route == "/token/refresh":
            return {"grant_type": "refresh_token", "refresh_token": token}
        return {"token": token}

    @pytest.mark.parametrize("method", ["basic", "post"])
    def test_a_confidential_client_authenticates_with_basic_or_post(
        self, api: Api, method: str
    ) -> None:
        token = tokens(api, client_id="backend")["refresh_token"]
        reply = (
            refresh(api, token, headers=BACKEND)
            if method == "basic"
            else refresh(api, token, **BACKEND_POST)
        )
        assert reply.status == 200, reply.text
        assert_no_store(reply)

    def test_basic_credentials_are_form_decoded_as_rfc6749_says(self, api: Api) -> None:
        token = tokens(api, client_id=ODD_ID)["refresh_token"]
        assert refresh(api, token, headers=basic(ODD_ID, ODD_SECRET)).status == 200

    def test_a_client_uses_only_the_methods_it_is_registered_for(self, api: Api) -> None:
        token = tokens(api, client_id="post-only")["refresh_token"]
        assert_invalid_client(refresh(api, token, headers=basic("post-only", BACKEND_SECRET)))
        post = {"client_id": "post-only", "client_secret": BACKEND_SECRET}
        assert refresh(api, token, **post).status == 200

    def test_a_public_client_identifies_itself_by_client_id_alone(self, api: Api) -> None:
        token = tokens(api, client_id="spa")["refresh_token"]
        reply = refresh(api, token, client_id="spa")
        assert reply.status == 200, reply.text
        assert_invalid_client(refresh(api, reply.json()["refresh_token"], client_id="nobody"))

    def test_a_confidential_client_without_its_secret_is_invalid_client(self, api: Api) -> None:
        token = tokens(api, client_id="backend")["refresh_token"]
        assert_invalid_client(refresh(api, token, client_id="backend"))

    def test_no_credentials_are_the_default_client(self, api: Api) -> None:
        token = tokens(api, client_id="spa")["refresh_token"]
        assert refresh(api, token).status == 200

    def test_without_a_default_client_a_request_must_authenticate(self, make_api: MakeApi) -> None:
        api = make_api(clients=CLIENTS)
        token = tokens(api, client_id="spa")["refresh_token"]
        assert_invalid_client(refresh(api, token))
        assert refresh(api, token, client_id="spa").status == 200

    @pytest.mark.parametrize("route", TOKEN_ROUTES)
    def test_basic_and_post_credentials_at_once_answer_400_invalid_request(
        self, api: Api, route: str
    ) -> None:
        token = tokens(api)["refresh_token"]
        fields = {**self._form(route, token), **BACKEND_POST}
        reply = api.request("POST", route, form=fields, headers=BACKEND)
        assert_oauth_error(reply, 400, "invalid_request")

    def test_a_body_client_id_naming_the_basic_client_is_no_second_method(self, api: Api) -> None:
        token = tokens(api, client_id="backend")["refresh_token"]
        assert refresh(api, token, headers=BACKEND, client_id="backend").status == 200
        other = refresh(api, token, headers=BACKEND, client_id="spa")
        assert_oauth_error(other, 400, "invalid_request")

    @pytest.mark.parametrize(
        "header", ["Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Basic"]
    )
    def test_malformed_basic_credentials_answer_401_invalid_client(
        self, api: Api, header: str
    ) -> None:
        token = tokens(api)["refresh_token"]
        assert_invalid_client(refresh(api, token, headers={"Authorization": header}))

    def test_a_bearer_header_is_no_client_authentication(self, api: Api) -> None:
        first = tokens(api, client_id="spa")
        reply = refresh(api, first["refresh_token"], headers=bearer(first["access_token"]))
        assert reply.status == 200, reply.text

    # ------------------------------------------------------------- binding

    def test_a_refresh_by_another_client_is_invalid_grant_and_the_session_lives(
        self, api: Api
    ) -> None:
        token = tokens(api, client_id="backend")["refresh_token"]
        assert_oauth_error(refresh(api, token), 400, "invalid_grant")
        assert_oauth_error(refresh(api, token, client_id="spa"), 400, "invalid_grant")
        assert refresh(api, token, headers=BACKEND).status == 200

    def test_the_first_client_to_refresh_an_unbound_session_owns_it(self, api: Api) -> None:
        token = tokens(api)["refresh_token"]
        successor = refresh(api, token, headers=BACKEND).json()["refresh_token"]
        assert_oauth_error(refresh(api, successor, client_id="spa"), 400, "invalid_grant")
        assert refresh(api, successor, headers=BACKEND).status == 200

    def test_a_revocation_by_another_client_is_refused_and_the_session_lives(
        self, api: Api
    ) -> None:
        token = tokens(api, client_id="backend")["refresh_token"]
        reply = revoke(api, token, client_id="spa")
        assert_oauth_error(reply, 400, "unauthorized_client")
        assert refresh(api, token, headers=BACKEND).status == 200

    def test_another_clients_access_token_is_not_revoked_either(self, api: Api) -> None:
        access = tokens(api, client_id="backend")["access_token"]
        assert_oauth_error(revoke(api, access), 400, "unauthorized_client")
        assert api.request("GET", "/online-me", headers=bearer(access)).status == 200
        assert revoke(api, access, headers=BACKEND).status == 200
        assert api.request("GET", "/online-me", headers=bearer(access)).status == 401

    def test_the_owning_client_revokes_its_refresh_token(self, api: Api) -> None:
        token = tokens(api, client_id="backend")["refresh_token"]
        assert revoke(api, token, **BACKEND_POST).status == 200
        assert_oauth_error(refresh(api, token, headers=BACKEND), 400, "invalid_grant")

    # --------------------------------------------------------------- scope

    def test_a_refresh_narrows_the_scope_and_the_grant_stays_whole(self, api: Api) -> None:
        token = tokens(api, client_id="spa", scope="read write admin")["refresh_token"]
        narrowed = refresh(api, token, scope="read")
        assert narrowed.status == 200, narrowed.text
        assert narrowed.json()["scope"] == "read"
        access = narrowed.json()["access_token"]
        assert_oauth_error(
            api.request("GET", "/admin", headers=bearer(access)), 403, "insufficient_scope"
        )
        whole = refresh(api, narrowed.json()["refresh_token"])
        assert set(whole.json()["scope"].split()) == {"read", "write", "admin"}

    def test_a_scope_beyond_the_grant_is_invalid_scope_and_consumes_nothing(self, api: Api) -> None:
        token = tokens(api, client_id="spa", scope="read")["refresh_token"]
        assert_oauth_error(refresh(api, token, scope="read admin"), 400, "invalid_scope")
        assert refresh(api, token).status == 200

    # ------------------------------------------------------------ delivery

    def test_a_cookie_only_client_gets_cookies_and_may_not_refresh_from_the_body(
        self, api: Api
    ) -> None:
        reply = api.request(
            "POST",
            "/login",
            json_body={"username": "alice", "client_id": "cookie-only"},
            headers={"X-Token-Delivery": "body"},
        )
        assert reply.status == 200, reply.text
        assert "refresh_token" not in reply.json()
        token = next(v for v in reply.cookie_values().values() if v.startswith("rk_"))
        refused = refresh(api, token, client_id="cookie-only")
        assert_oauth_error(refused, 400, "invalid_request")

    def test_a_body_only_client_gets_its_refresh_token_in_the_body_and_no_cookie(
        self, api: Api
    ) -> None:
        reply = api.request(
            "POST", "/login", json_body={"username": "alice", "client_id": "body-only"}
        )
        assert reply.status == 200, reply.text
        assert reply.json()["refresh_token"].startswith("rk_")
        assert not reply.cookie_values()
        again = refresh(api, reply.json()["refresh_token"], client_id="body-only")
        assert again.status == 200, again.text
        assert again.json()["refresh_token"].startswith("rk_")

    # ------------------------------------------------------- introspection

    def test_an_active_access_token_introspects_with_its_members(self, api: Api) -> None:
        access = tokens(api, client_id="spa", scope="read")["access_token"]
        reply = introspect(api, access, headers=RESOURCE_SERVER, token_type_hint="access_token")
        assert reply.status == 200, reply.text
        assert_no_store(reply)
        answer = reply.json()
        assert answer["active"] is True
        assert answer["sub"] == "alice"
        assert answer["client_id"] == "spa"
        assert answer["scope"] == "read"
        assert answer["token_type"] == "Bearer"

    def test_only_the_current_refresh_token_is_active(self, api: Api) -> None:
        token = tokens(api, client_id="spa")["refresh_token"]
        assert introspect(api, token, headers=RESOURCE_SERVER).json()["active"] is True
        successor = refresh(api, token).json()["refresh_token"]
        post = {"client_id": "resource-server", "client_secret": RESOURCE_SERVER_SECRET}
        assert introspect(api, token, **post).json() == {"active": False}
        current = introspect(api, successor, **post).json()
        assert current["active"] is True
        assert current["client_id"] == "spa"

    def test_revoking_the_refresh_token_makes_its_access_tokens_inactive(self, api: Api) -> None:
        pair = tokens(api, client_id="spa")
        assert revoke(api, pair["refresh_token"]).status == 200
        for token in (pair["access_token"], pair["refresh_token"]):
            assert introspect(api, token, headers=RESOURCE_SERVER).json() == {"active": False}

    def test_a_revoked_access_token_is_inactive(self, api: Api) -> None:
        access = tokens(api, client_id="spa")["access_token"]
        assert revoke(api, access).status == 200
        assert introspect(api, access, headers=RESOURCE_SERVER).json() == {"active": False}

    @pytest.mark.parametrize("token", ["rk_unknown.token", "not-a-token", "a.b.c"])
    def test_anything_else_is_inactive_and_says_no_more(self, api: Api, token: str) -> None:
        reply = introspect(api, token, headers=RESOURCE_SERVER)
        assert reply.status == 200
        assert reply.json() == {"active": False}

    @pytest.mark.parametrize(
        "credentials",
        [
            {},
            {"client_id": "spa"},
            BACKEND,
            basic("resource-server", "not-the-secret"),
        ],
        ids=["none", "public", "not-allowed", "wrong-secret"],
    )
    def test_only_a_client_allowed_to_introspect_may(
        self, api: Api, credentials: dict[str, str]
    ) -> None:
        access = tokens(api)["access_token"]
        headers = {k: v for k, v in credentials.items() if k == "Authorization"}
        fields = {k: v for k, v in credentials.items() if k != "Authorization"}
        assert_invalid_client(introspect(api, access, headers=headers, **fields))

    def test_with_no_client_registered_nobody_may_introspect(self, make_api: MakeApi) -> None:
        api = make_api()
        access = login(api).json()["access_token"]
        assert_invalid_client(introspect(api, access))
        assert_invalid_client(introspect(api, access, client_id="anyone"))

    def test_an_introspection_without_a_token_is_invalid_request(self, api: Api) -> None:
        reply = api.request("POST", "/token/introspect", form={}, headers=RESOURCE_SERVER)
        assert_oauth_error(reply, 400, "invalid_request")

    def test_a_store_outage_answers_503_at_introspection(self, api: Api, outage: Outage) -> None:
        access = tokens(api)["access_token"]
        outage.active = True
        reply = introspect(api, access, headers=RESOURCE_SERVER)
        assert_oauth_error(reply, 503, "temporarily_unavailable")
        assert reply.header("Retry-After") == str(OUTAGE_RETRY_AFTER)

    # ----------------------------------------------------------------- TLS

    @pytest.mark.parametrize("route", TOKEN_ROUTES)
    @pytest.mark.parametrize(
        "forwarded",
        [
            {"X-Forwarded-For": "203.0.113.9"},
            {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"},
            {"Forwarded": "for=203.0.113.9;proto=https"},
        ],
        ids=["forwarded-for", "spoofed-proto", "spoofed-forwarded"],
    )
    def test_plain_http_forwarded_by_an_untrusted_peer_is_refused(
        self, api: Api, route: str, forwarded: dict[str, str]
    ) -> None:
        """A loopback peer forwarding for someone else is a proxy, and untrusted."""
        token = tokens(api)["refresh_token"]
        fields = {**self._form(route, token)}
        headers = {**forwarded, **RESOURCE_SERVER} if route.endswith("introspect") else forwarded
        reply = api.request("POST", route, form=fields, headers=headers, plain=True)
        assert_oauth_error(reply, 400, "invalid_request")
        description = reply.json()["error_description"]
        assert "https" in description
        assert "trusted_proxies" in description
        assert refresh(api, token).status == 200  # nothing was consumed

    def test_plain_http_from_loopback_is_local_development(self, api: Api) -> None:
        token = tokens(api)["refresh_token"]
        assert refresh(api, token, plain=True).status == 200

    @pytest.mark.parametrize(
        "forwarded",
        [
            {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"},
            {"Forwarded": 'for="[2001:db8::1]";proto=https'},
            {"Forwarded": "for=198.51.100.1;proto=http, for=203.0.113.9;proto=https"},
        ],
        ids=["x-forwarded-proto", "forwarded", "forwarded-last-hop"],
    )
    def test_https_forwarded_by_a_trusted_proxy_is_accepted(
        self, make_api: MakeApi, forwarded: dict[str, str]
    ) -> None:
        api = make_api(trusted_proxies=("127.0.0.0/8", "::1"))
        token = tokens(api)["refresh_token"]
        assert refresh(api, token, headers=forwarded, plain=True).status == 200

    @pytest.mark.parametrize("plain", [True, False])
    def test_plain_http_forwarded_by_a_trusted_proxy_is_refused(
        self, make_api: MakeApi, plain: bool
    ) -> None:
        """The proxy's word decides, whatever scheme the proxy itself spoke to us."""
        api = make_api(trusted_proxies=("127.0.0.1",))
        token = tokens(api)["refresh_token"]
        forwarded = {"X-Forwarded-Proto": "http", "X-Forwarded-For": "203.0.113.9"}
        assert_oauth_error(
            refresh(api, token, headers=forwarded, plain=plain), 400, "invalid_request"
        )

    def test_require_tls_off_accepts_plain_http_from_anyone(self, make_api: MakeApi) -> None:
        api = make_api(require_tls=False)
        token = tokens(api)["refresh_token"]
        forwarded = {"X-Forwarded-Proto": "http", "X-Forwarded-For": "203.0.113.9"}
        assert refresh(api, token, headers=forwarded, plain=True).status == 200
