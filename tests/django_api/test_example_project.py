"""The example Django project (``examples/django_project``) runs as its docs say.

It runs in a child process: the project has its own settings module, and
Django is configured once per process.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("rest_framework")

from .example_project import run_in_project, serve

pytestmark = pytest.mark.django

#: Seconds a request to the child server may take: its first request imports the
#: project's views and hashes a password, on a machine running other test envs.
TIMEOUT = 60


CLIENT_SESSION = textwrap.dedent(
    """
    import json

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.test import APIClient

    call_command("migrate", verbosity=0)
    get_user_model().objects.create_user("alice", password="a password")
    api = APIClient()
    login = api.post("/api/token/", {"username": "alice", "password": "a password"})
    wrong = api.post("/api/token/", {"username": "alice", "password": "wrong"})
    access = login.json()["access_token"]
    me = api.get("/api/me/", HTTP_AUTHORIZATION="Bearer " + access)
    orders = api.get("/api/orders/", HTTP_AUTHORIZATION="Bearer " + access)
    anonymous = api.get("/api/me/")
    forged = api.get("/api/me/", HTTP_AUTHORIZATION="Bearer not.a.jwt")
    ninja_me = api.get("/ninja/me", HTTP_AUTHORIZATION="Bearer " + access)
    ninja_orders = api.get("/ninja/orders", HTTP_AUTHORIZATION="Bearer " + access)
    ninja_anonymous = api.get("/ninja/orders")
    grant = {"grant_type": "refresh_token", "refresh_token": login.json()["refresh_token"]}
    refreshed = api.post("/api/token/refresh", grant, format="json")
    replayed = api.post("/api/token/refresh", grant, format="json")  # a retry: the same token
    successor = refreshed.json()["refresh_token"]
    revoked = api.post("/api/token/revoke", {"token": successor}, format="json")
    after = api.post(
        "/api/token/refresh",
        {"grant_type": "refresh_token", "refresh_token": successor},
        format="json",
    )
    jwks = api.get("/api/.well-known/jwks.json")
    print(json.dumps({
        "refreshed": [refreshed.status_code, replayed.json()["refresh_token"] == successor],
        "revoked": revoked.status_code,
        "after": [after.status_code, after.json()["error"]],
        "jwks": jwks.status_code,
        "login": [login.status_code, sorted(login.json()), login.headers["Cache-Control"]],
        "wrong": wrong.status_code,
        "me": [me.status_code, me.json()],
        "orders": orders.status_code,
        "anonymous": [anonymous.status_code, anonymous.headers["WWW-Authenticate"]],
        "forged": [forged.status_code, forged.headers["WWW-Authenticate"]],
        "ninja_me": [ninja_me.status_code, ninja_me.json()],
        "ninja_orders": ninja_orders.status_code,
        "ninja_anonymous": [
            ninja_anonymous.status_code, ninja_anonymous.headers["WWW-Authenticate"]
        ],
    }))
    """
)


def test_the_example_project_passes_djangos_checks(tmp_path: Path) -> None:
    done = run_in_project(
        "import django; django.setup(); from django.core.management import call_command;"
        " call_command('check', fail_level='WARNING')",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr


def test_the_example_project_logs_in_and_serves_the_protected_drf_views(tmp_path: Path) -> None:
    done = run_in_project(CLIENT_SESSION, tmp_path)
    assert done.returncode == 0, done.stderr
    seen: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["login"] == [
        200,
        ["access_token", "expires_in", "refresh_token", "scope", "token_type"],
        "no-store",
    ]
    assert seen["wrong"] == 401
    assert seen["me"] == [200, {"username": "alice", "scopes": ["orders:read", "profile"]}]
    assert seen["orders"] == 200
    assert seen["anonymous"] == [401, 'Bearer realm="refreshkit"']
    assert seen["forged"][0] == 401
    assert 'error="invalid_token"' in seen["forged"][1]
    assert seen["ninja_me"] == [200, {"subject": "1"}]  # the subject is the user's pk
    assert seen["ninja_orders"] == 200
    assert seen["ninja_anonymous"] == [401, 'Bearer realm="refreshkit"']
    # refreshkit's own endpoints, in the project's database (django://default)
    assert seen["refreshed"] == [200, True]
    assert seen["revoked"] == 200
    assert seen["after"] == [400, "invalid_grant"]
    assert seen["jwks"] == 200


def test_authlib_refreshes_and_revokes_against_the_example_on_a_real_server(
    tmp_path: Path,
) -> None:
    """A standard OAuth client, no custom code, against Django served for real."""
    import httpx

    authlib_httpx = pytest.importorskip("authlib.integrations.httpx_client")
    from authlib.integrations.base_client import OAuthError

    with serve(tmp_path, "alice", "a password") as url:
        login = httpx.post(
            f"{url}/api/token/",
            json={"username": "alice", "password": "a password"},
            timeout=TIMEOUT,
        )
        assert login.status_code == 200, login.text
        token = login.json()
        with authlib_httpx.OAuth2Client(
            client_id="example-app", token=token, timeout=TIMEOUT
        ) as client:
            fresh = client.refresh_token(f"{url}/api/token/refresh")
            assert fresh["refresh_token"] != token["refresh_token"]
            me = client.get(f"{url}/api/me/")
            assert me.status_code == 200, me.text
            assert me.json()["username"] == "alice"
            revoked = client.revoke_token(f"{url}/api/token/revoke", token=fresh["refresh_token"])
            assert revoked.status_code == 200
            with pytest.raises(OAuthError, match="invalid_grant"):
                client.refresh_token(f"{url}/api/token/refresh")


def test_pyjwkclient_verifies_the_examples_access_tokens_from_its_jwks(tmp_path: Path) -> None:
    """Another service needs only the JWKS URL: the example signs with Ed25519, not HS256."""
    import httpx
    import jwt

    with serve(tmp_path, "alice", "a password") as url:
        login = httpx.post(
            f"{url}/api/token/",
            json={"username": "alice", "password": "a password"},
            timeout=TIMEOUT,
        )
        access = login.json()["access_token"]
        jwks_client = jwt.PyJWKClient(f"{url}/api/.well-known/jwks.json")
        signing_key = jwks_client.get_signing_key_from_jwt(access)
    claims = jwt.decode(access, signing_key.key, algorithms=["EdDSA"], audience="refreshkit")
    assert claims["sub"] == "1"
    assert claims["scope"] == "profile orders:read"
    assert jwt.get_unverified_header(access)["alg"] == "EdDSA"
    key_file = tmp_path / "signing-key.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600  # the development key: owner only


COOKIE_SESSION = textwrap.dedent(
    """
    import json

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    get_user_model().objects.create_user("alice", password="a password")
    browser = Client(enforce_csrf_checks=True)
    form = {"username": "alice", "password": "a password"}
    forged = browser.post("/api/login/", form)  # no Django CSRF token: login CSRF refused
    browser.get("/")
    form["csrfmiddlewaretoken"] = browser.cookies["csrftoken"].value  # set by the page
    login = browser.post("/api/login/", form)
    cookie = login.cookies["__Secure-refresh_token"]
    csrf = login.cookies["__Host-refresh_csrf"].value
    form_type = "application/x-www-form-urlencoded"
    grant = {"data": "grant_type=refresh_token", "content_type": form_type}
    bare = browser.post("/api/token/refresh", **grant)
    proven = browser.post("/api/token/refresh", **grant, HTTP_X_CSRF_TOKEN=csrf)
    print(json.dumps({
        "forged": forged.status_code,
        "login": [login.status_code, sorted(login.json())],
        "cookie": [cookie["path"], bool(cookie["httponly"]), cookie["samesite"]],
        "bare": [bare.status_code, bare.json()["error"]],
        "proven": [proven.status_code, "refresh_token" in proven.json()],
    }))
    """
)


def test_the_page_signs_in_under_djangos_csrf_and_refreshes_under_refreshkits(
    tmp_path: Path,
) -> None:
    done = run_in_project(COOKIE_SESSION, tmp_path)
    assert done.returncode == 0, done.stderr
    seen: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["forged"] == 403  # CsrfViewMiddleware still guards the project's own form
    assert seen["login"] == [200, ["access_token", "expires_in", "scope", "token_type"]]
    assert seen["cookie"] == ["/api/token/refresh", True, "Strict"]
    assert seen["bare"] == [400, "invalid_request"]  # refreshkit's double-submit proof missing
    assert seen["proven"] == [200, False]  # the rotated token went back into the cookie
