"""Standard clients (not ours) against the running examples, with no custom code.

Authlib's OAuth 2.0 client refreshes (RFC 6749 §6), revokes (RFC 7009) and
introspects (RFC 7662), as the public ``spa`` and as the confidential
``backend`` by ``client_secret_basic`` and ``client_secret_post``;
requests-oauthlib refreshes with Basic credentials; PyJWT's PyJWKClient
verifies access tokens with the keys from the JWKS route. Both examples run
on an SQLite file, served for real on loopback (plain HTTP is allowed there).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import jwt
import pytest

from .support import load_example, uvicorn_server, werkzeug_server

authlib_httpx = pytest.importorskip("authlib.integrations.httpx_client")
from authlib.integrations.base_client import OAuthError  # noqa: E402

LOGIN = {"username": "demo", "password": "correct horse battery staple"}


@dataclass(frozen=True)
class Example:
    """A running example app: its URL and its module (which holds the client secrets)."""

    url: str
    module: ModuleType

    def oauth_client(self, method: str, **kwargs: Any) -> Any:
        """Authlib's client as the confidential ``backend``, authenticating by ``method``."""
        return authlib_httpx.OAuth2Client(
            client_id="backend",
            client_secret=kwargs.pop("client_secret", self.module.BACKEND_SECRET),
            token_endpoint_auth_method=method,
            **kwargs,
        )

    def resource_server(self, method: str = "client_secret_basic") -> Any:
        """Authlib's client as the ``resource-server``, which may introspect."""
        return authlib_httpx.OAuth2Client(
            client_id="resource-server",
            client_secret=self.module.RESOURCE_SERVER_SECRET,
            token_endpoint_auth_method=method,
        )


@pytest.fixture(
    params=[
        pytest.param("fastapi_app", marks=pytest.mark.fastapi),
        pytest.param("flask_app", marks=pytest.mark.flask),
    ]
)
def example(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Example]:
    pytest.importorskip("fastapi" if request.param == "fastapi_app" else "flask")
    module = load_example(request.param)
    if request.param == "fastapi_app":
        app = module.create_app(f"sqlite+aiosqlite:///{tmp_path / 'example.db'}")
        with uvicorn_server(app) as url:
            yield Example(url, module)
    else:
        app = module.create_app(f"sqlite:///{tmp_path / 'example.db'}")
        with werkzeug_server(app) as url:
            yield Example(url, module)


@pytest.fixture
def example_url(example: Example) -> str:
    return example.url


def login(url: str) -> dict[str, Any]:
    reply = httpx.post(f"{url}/login", json=LOGIN, headers={"X-Token-Delivery": "body"})
    assert reply.status_code == 200, reply.text
    token: dict[str, Any] = reply.json()
    return token


def test_the_example_rejects_a_wrong_password(example_url: str) -> None:
    reply = httpx.post(f"{example_url}/login", json={**LOGIN, "password": "guess"})
    assert reply.status_code == 401


def test_authlib_refreshes_an_expired_token_on_its_own(example_url: str) -> None:
    token = login(example_url)
    token["expires_at"] = int(time.time()) - 60  # the client believes it expired
    updates: list[dict[str, Any]] = []
    with authlib_httpx.OAuth2Client(
        client_id="spa",
        token=token,
        token_endpoint=f"{example_url}/token/refresh",
        update_token=lambda new, refresh_token=None, access_token=None: updates.append(new),
    ) as client:
        reply = client.get(f"{example_url}/me")
    assert reply.status_code == 200, reply.text
    assert reply.json()["user"] == "demo"
    assert len(updates) == 1
    assert updates[0]["refresh_token"] != token["refresh_token"]  # rotated


def test_authlib_refresh_token_call_and_replay_detection(example_url: str) -> None:
    token = login(example_url)
    with authlib_httpx.OAuth2Client(client_id="spa", token=token) as client:
        fresh = client.refresh_token(f"{example_url}/token/refresh")
        assert fresh["access_token"] != token["access_token"]
        client.refresh_token(f"{example_url}/token/refresh")  # the successor is used
        with pytest.raises(OAuthError, match="invalid_grant"):
            client.refresh_token(
                f"{example_url}/token/refresh", refresh_token=token["refresh_token"]
            )


def test_authlib_revokes_a_refresh_token(example_url: str) -> None:
    token = login(example_url)
    with authlib_httpx.OAuth2Client(client_id="spa", token=token) as client:
        reply = client.revoke_token(
            f"{example_url}/token/revoke",
            token=token["refresh_token"],
            token_type_hint="refresh_token",
        )
        assert reply.status_code == 200
        with pytest.raises(OAuthError, match="invalid_grant"):
            client.refresh_token(f"{example_url}/token/refresh")


def test_pyjwkclient_verifies_access_tokens_from_the_jwks_route(example_url: str) -> None:
    access = login(example_url)["access_token"]
    jwks_client = jwt.PyJWKClient(f"{example_url}/.well-known/jwks.json")
    signing_key = jwks_client.get_signing_key_from_jwt(access)
    claims = jwt.decode(access, signing_key.key, algorithms=["EdDSA"], audience="refreshkit")
    assert claims["sub"] == "demo"
    assert jwt.get_unverified_header(access)["typ"] == "at+jwt"


# ------------------------------------------------------------------ clients

METHODS = ["client_secret_basic", "client_secret_post"]


@pytest.mark.parametrize("method", METHODS)
def test_authlib_refreshes_as_a_confidential_client(example: Example, method: str) -> None:
    token = login(example.url)
    with example.oauth_client(method, token=token) as client:
        fresh = client.refresh_token(f"{example.url}/token/refresh")
        assert fresh["refresh_token"] != token["refresh_token"]
        reply = client.get(f"{example.url}/me")
    assert reply.status_code == 200, reply.text
    # The session now belongs to the backend: the public client may not use it.
    spa = authlib_httpx.OAuth2Client(client_id="spa", token=fresh)
    with spa, pytest.raises(OAuthError, match="invalid_grant"):
        spa.refresh_token(f"{example.url}/token/refresh")


@pytest.mark.parametrize("method", METHODS)
def test_authlib_with_a_wrong_secret_is_refused_as_invalid_client(
    example: Example, method: str
) -> None:
    token = login(example.url)
    with example.oauth_client(method, token=token, client_secret="wrong") as client:
        with pytest.raises(OAuthError, match="invalid_client"):
            client.refresh_token(f"{example.url}/token/refresh")
        revoked = client.revoke_token(f"{example.url}/token/revoke", token=token["refresh_token"])
        assert revoked.status_code == 401
        assert revoked.json()["error"] == "invalid_client"
        assert revoked.headers["www-authenticate"].startswith("Basic ")
    with example.oauth_client(method, token=token) as client:
        client.refresh_token(f"{example.url}/token/refresh")  # nothing was consumed


@pytest.mark.parametrize("method", METHODS)
def test_authlib_revokes_and_a_resource_server_introspects(example: Example, method: str) -> None:
    token = login(example.url)
    introspect_url = f"{example.url}/token/introspect"
    with example.resource_server(method) as resource_server:
        active = resource_server.introspect_token(introspect_url, token=token["access_token"])
        assert active.status_code == 200, active.text
        assert active.json()["active"] is True
        assert active.json()["sub"] == "demo"
    with example.oauth_client(method, token=token) as client:
        fresh = client.refresh_token(f"{example.url}/token/refresh")
        revoked = client.revoke_token(
            f"{example.url}/token/revoke",
            token=fresh["refresh_token"],
            token_type_hint="refresh_token",
        )
        assert revoked.status_code == 200
    with example.resource_server(method) as resource_server:
        for revoked_token in (fresh["refresh_token"], fresh["access_token"]):
            answer = resource_server.introspect_token(introspect_url, token=revoked_token)
            assert answer.json() == {"active": False}


def test_a_client_that_may_not_introspect_is_refused(example: Example) -> None:
    token = login(example.url)
    with example.oauth_client("client_secret_basic") as backend:
        reply = backend.introspect_token(
            f"{example.url}/token/introspect", token=token["access_token"]
        )
    assert reply.status_code == 401
    assert reply.json()["error"] == "invalid_client"


def test_requests_oauthlib_refreshes_with_basic_credentials(
    example: Example, monkeypatch: pytest.MonkeyPatch
) -> None:
    requests_oauthlib = pytest.importorskip("requests_oauthlib")
    from requests.auth import HTTPBasicAuth

    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")  # loopback, plain HTTP
    token = login(example.url)
    session = requests_oauthlib.OAuth2Session(client_id="backend", token=token)
    fresh = session.refresh_token(
        f"{example.url}/token/refresh",
        auth=HTTPBasicAuth("backend", example.module.BACKEND_SECRET),
    )
    assert fresh["refresh_token"] != token["refresh_token"]
    assert session.get(f"{example.url}/me").json()["user"] == "demo"
    wrong = requests_oauthlib.OAuth2Session(client_id="backend", token=fresh)
    with pytest.raises(Exception, match="invalid_client"):
        wrong.refresh_token(f"{example.url}/token/refresh", auth=HTTPBasicAuth("backend", "wrong"))


def _serve_flask_example(database: str, pem: str, urls: Any, stop: Any) -> None:
    """Run in a child process: the Flask example on ``database``, until ``stop`` is set."""
    app = load_example("flask_app").create_app(f"sqlite:///{database}", REFRESHKIT_PRIVATE_KEY=pem)
    with werkzeug_server(app) as url:
        urls.put(url)
        stop.wait(60)


@pytest.mark.fastapi
@pytest.mark.flask
def test_a_token_revoked_in_one_process_is_inactive_at_a_resource_server_in_another(
    tmp_path: Path,
) -> None:
    """The authorization server runs in a child process; the introspecting one here; one store."""
    pytest.importorskip("fastapi")
    pytest.importorskip("flask")
    import multiprocessing

    from refreshkit import KeySet, SigningKey

    pem = SigningKey.generate("EdDSA").private_pem()
    database = tmp_path / "shared.db"
    fastapi_module = load_example("fastapi_app")
    fastapi_app = fastapi_module.create_app(
        f"sqlite+aiosqlite:///{database}", keys=KeySet(SigningKey.from_pem(pem))
    )
    context = multiprocessing.get_context("spawn")
    urls, stop = context.Queue(), context.Event()
    child = context.Process(target=_serve_flask_example, args=(str(database), pem, urls, stop))
    child.start()
    try:
        auth_server = urls.get(timeout=60)
        with uvicorn_server(fastapi_app) as other:
            token = login(auth_server)
            resource_server = authlib_httpx.OAuth2Client(
                client_id="resource-server",
                client_secret=fastapi_module.RESOURCE_SERVER_SECRET,
            )
            with resource_server:
                url = f"{other}/token/introspect"
                first = resource_server.introspect_token(url, token=token["access_token"])
                assert first.json()["active"] is True
                with authlib_httpx.OAuth2Client(client_id="spa", token=token) as spa:
                    spa.revoke_token(f"{auth_server}/token/revoke", token=token["refresh_token"])
                answer = resource_server.introspect_token(url, token=token["access_token"])
                assert answer.json() == {"active": False}
                refresh = resource_server.introspect_token(url, token=token["refresh_token"])
                assert refresh.json() == {"active": False}
    finally:
        stop.set()
        child.join(30)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0
