"""The Flask adapter, through Flask's test client and through werkzeug on loopback."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from refreshkit import FrozenClock, KeySet, Settings, TokenManager
from refreshkit.adapters import _http
from refreshkit.backends.memory._state import MemoryState
from refreshkit.errors import ConfigurationError

from .spec import AdapterSpec, MakeApi, bearer
from .spec_checks import CheckSpec
from .spec_clients import ClientSpec
from .spec_sessions import SessionSpec
from .support import (
    Api,
    FailingStore,
    FlaskClientApi,
    Gate,
    HttpxApi,
    Outage,
    login_options,
    werkzeug_server,
)

pytest.importorskip("flask")
from flask import Flask, request
from flask import request as flask_request
from werkzeug.test import EnvironBuilder

from refreshkit.adapters.flask import RefreshKit, current_claims, require_access

pytestmark = pytest.mark.flask


def describe() -> dict[str, Any]:
    return {
        "subject": current_claims.subject,
        "sid": current_claims.sid,
        "scopes": sorted(current_claims.scopes),
    }


def build_app(kit: RefreshKit, app: Flask | None = None) -> Flask:
    """The spec's test app: /login, /me (async view), /admin, /online-me."""
    app = app or Flask(__name__)
    kit.init_app(app)

    @app.post("/login")
    def do_login() -> Any:
        payload = request.get_json()
        return kit.login(
            payload["username"],
            scope=payload.get("scope"),
            client_id=payload.get("client_id"),
            **login_options(payload),
        )

    @app.get("/me")
    @require_access
    async def me() -> dict[str, Any]:
        return describe()

    @app.get("/admin")
    @require_access(scopes=["admin"])
    def admin() -> dict[str, Any]:
        return describe()

    @app.get("/online-me")
    @require_access(online=True)
    def online_me() -> dict[str, Any]:
        return describe()

    @app.get("/fresh")
    @require_access(max_age=300)
    def fresh() -> dict[str, Any]:
        return describe()

    @app.post("/reauth")
    @require_access
    def reauth() -> dict[str, Any]:
        # The application checked the password again here.
        return {"access_token": kit.manager.reauthenticate(current_claims.sid)}

    @app.post("/change-password")
    @require_access(online=True)
    def change_password() -> dict[str, Any]:
        manager = kit.manager
        subject = current_claims.subject
        return {"ended": manager.revoke_subject(subject, before=manager.clock.now())}

    return app


@pytest.fixture(params=["test-client", "werkzeug"])
def make_api(
    request: pytest.FixtureRequest,
    clock: FrozenClock,
    outage: Outage,
    state: MemoryState,
    keys: KeySet,
    gate: Gate,
) -> Iterator[MakeApi]:
    with ExitStack() as stack:

        def make(**overrides: Any) -> Api:
            settings = Settings(cookie_mode=True).replace(**overrides)
            store = FailingStore(state, outage)
            manager = TokenManager(
                settings, keys=keys, store=store, clock=clock, refresh_check=gate
            )
            device = lambda: flask_request.headers.get("X-Device")  # noqa: E731
            app = build_app(RefreshKit(manager=manager, device=device))
            if request.param == "test-client":
                return FlaskClientApi(app.test_client(use_cookies=False))
            url = stack.enter_context(werkzeug_server(app))
            return HttpxApi(stack.enter_context(httpx.Client(base_url=url)), "werkzeug")

        yield make


class TestFlaskAdapter(AdapterSpec):
    """The shared HTTP specification, on Flask."""


class TestFlaskChecks(CheckSpec):
    """The refresh check over HTTP, on Flask."""


class TestFlaskClients(ClientSpec):
    """OAuth clients, introspection and TLS, on Flask."""


class TestFlaskSessions(SessionSpec):
    """Device lists, ending sessions and remember-me lifetimes, on Flask."""


# ----------------------------------------------------------------- Flask only


def test_init_app_reads_refreshkit_settings_from_the_app_config(keys: KeySet) -> None:
    app = Flask(__name__)
    app.config.update(
        REFRESHKIT_ACCESS_TTL="2m",
        REFRESHKIT_URL_PREFIX="/auth",
        REFRESHKIT_SECRET_KEY="s" * 32,
        SECRET_KEY="flask's own, ignored",
    )
    kit = RefreshKit(keys=keys)
    with pytest.warns(RuntimeWarning, match="in-memory store"):  # no store configured
        build_app(kit, app)
    client = app.test_client()
    tokens = client.post(
        "/login", json={"username": "alice"}, headers={"X-Token-Delivery": "body"}
    ).json
    assert tokens["expires_in"] == 120
    with app.app_context():
        assert kit.manager.settings.url_prefix == "/auth"
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    assert client.post("/auth/token/refresh", data=form).status_code == 200
    assert client.post("/token/refresh", data=form).status_code == 404


def test_an_unknown_refreshkit_setting_fails_at_init(keys: KeySet) -> None:
    app = Flask(__name__)
    app.config["REFRESHKIT_ACESS_TTL"] = "5m"
    with pytest.raises(ConfigurationError, match="REFRESHKIT_ACESS_TTL"):
        RefreshKit(app, keys=keys)


def test_current_claims_outside_a_protected_view_is_an_error(keys: KeySet) -> None:
    app = Flask(__name__)
    with app.test_request_context("/"), pytest.raises(RuntimeError, match="require_access"):
        _ = current_claims.subject


def test_store_errors_raised_in_application_views_answer_503(keys: KeySet) -> None:
    outage = Outage(active=True)
    manager = TokenManager(Settings(), keys=keys, store=FailingStore(MemoryState(), outage))
    kit = RefreshKit(manager=manager)
    app = build_app(kit)

    @app.get("/devices")
    def devices() -> list[str]:
        return [s.sid for s in kit.manager.sessions("alice")]

    reply = app.test_client().get("/devices")
    assert reply.status_code == 503
    assert reply.headers["Retry-After"] == "7"


def test_a_protected_async_view_sees_its_claims(keys: KeySet) -> None:
    manager = TokenManager(Settings(), keys=keys, store=FailingStore(MemoryState(), Outage()))
    app = build_app(RefreshKit(manager=manager))
    client = app.test_client()
    access = client.post("/login", json={"username": "carol", "scope": "read"}).json["access_token"]
    reply = client.get("/me", headers=bearer(access))
    assert reply.json == {"subject": "carol", "sid": reply.json["sid"], "scopes": ["read"]}


class CountingInput(io.RawIOBase):
    """A request body of ``size`` bytes that counts how many the application read."""

    def __init__(self, size: int) -> None:
        self.remaining, self.taken = size, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.remaining, 1024)
        buffer[:n] = b"a" * n
        self.remaining -= n
        self.taken += n
        return n


def post_counting(app: Flask, route: str, *, declare_length: bool) -> tuple[int, int]:
    """POST a 1 MiB body straight into the WSGI app; (status, bytes the app read)."""
    body = CountingInput(1 << 20)
    environ = EnvironBuilder(
        path=route, method="POST", content_type="application/x-www-form-urlencoded"
    ).get_environ()
    environ["wsgi.input"] = body
    if declare_length:
        environ["CONTENT_LENGTH"] = str(1 << 20)
    else:  # chunked: the server marks the stream as ending by itself
        environ.pop("CONTENT_LENGTH", None)
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
        environ["wsgi.input_terminated"] = True
    statuses: list[str] = []
    app(environ, lambda status, headers, exc_info=None: statuses.append(status))  # type: ignore[arg-type, return-value]
    return int(statuses[0].split()[0]), body.taken


@pytest.mark.parametrize("route", ["/token/refresh", "/token/revoke"])
def test_a_chunked_body_is_refused_once_past_the_cap_not_read_to_its_end(
    keys: KeySet, route: str
) -> None:
    manager = TokenManager(Settings(), keys=keys, store=FailingStore(MemoryState(), Outage()))
    app = build_app(RefreshKit(manager=manager))
    status, taken = post_counting(app, route, declare_length=False)
    assert status == 400
    assert taken <= _http.MAX_BODY_BYTES + 1024


@pytest.mark.parametrize("route", ["/token/refresh", "/token/revoke"])
def test_a_declared_content_length_over_the_cap_is_refused_before_any_read(
    keys: KeySet, route: str
) -> None:
    manager = TokenManager(Settings(), keys=keys, store=FailingStore(MemoryState(), Outage()))
    app = build_app(RefreshKit(manager=manager))
    status, taken = post_counting(app, route, declare_length=True)
    assert status == 400
    assert taken == 0


@pytest.mark.parametrize("route", ["/token/refresh", "/token/revoke", "/token/introspect"])
def test_plain_http_from_a_remote_peer_is_refused(keys: KeySet, route: str) -> None:
    manager = TokenManager(Settings(), keys=keys, store=FailingStore(MemoryState(), Outage()))
    client = build_app(RefreshKit(manager=manager)).test_client()
    remote = {"REMOTE_ADDR": "203.0.113.7"}
    form = {"token": "t", "refresh_token": "rk_a.b"}
    refused = client.post(route, data=form, environ_overrides=remote)
    assert refused.status_code == 400
    assert "https" in refused.json["error_description"]
    tokens = client.post("/login", json={"username": "alice"}).json
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    secure = client.post(
        "/token/refresh", data=refresh, base_url="https://localhost", environ_overrides=remote
    )
    assert secure.status_code == 200


def test_a_remote_peer_spoofing_x_forwarded_proto_is_refused(keys: KeySet) -> None:
    settings = Settings(trusted_proxies=("10.0.0.0/8",))
    manager = TokenManager(settings, keys=keys, store=FailingStore(MemoryState(), Outage()))
    client = build_app(RefreshKit(manager=manager)).test_client()
    tokens = client.post("/login", json={"username": "alice"}).json
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    spoofed = {"X-Forwarded-Proto": "https"}
    attacker = {"REMOTE_ADDR": "203.0.113.7"}
    refused = client.post("/token/refresh", data=form, headers=spoofed, environ_overrides=attacker)
    assert refused.status_code == 400
    proxy = {"REMOTE_ADDR": "10.1.2.3"}
    accepted = client.post("/token/refresh", data=form, headers=spoofed, environ_overrides=proxy)
    assert accepted.status_code == 200


def test_a_prefixed_cookie_name_browsers_would_drop_fails_at_init(keys: KeySet) -> None:
    app = Flask(__name__)
    app.config.update(
        REFRESHKIT_COOKIE_MODE=True,
        REFRESHKIT_COOKIE_SECURE=False,
        REFRESHKIT_CSRF_COOKIE_NAME="__Host-csrf",
        REFRESHKIT_STORE_URL="memory://",
    )
    with pytest.raises(ConfigurationError, match="cookie_secure"):
        RefreshKit(app, keys=keys)
