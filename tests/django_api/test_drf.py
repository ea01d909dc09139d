"""Django REST framework: RFC 6750 answers from the authentication and permission classes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

pytest.importorskip("rest_framework")

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from rest_framework.test import APIClient

from refreshkit.adapters.django import conf
from refreshkit.adapters.django.drf import TokenUser

pytestmark = pytest.mark.django

#: Nothing listens on port 1: every online check meets a real store outage.
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def client() -> APIClient:
    return APIClient()


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def access_token(subject: str = "alice", scope: str | None = None) -> str:
    return conf.get_manager().issue(subject, scope=scope).access_token


def test_a_valid_token_answers_200_with_its_claims_on_request_auth_and_auth_claims(
    client: APIClient,
) -> None:
    reply = client.get("/drf/me", **bearer(access_token(scope="profile")))
    assert reply.status_code == 200, reply.content
    assert reply.json() == {
        "subject": "alice",
        "scopes": ["profile"],
        "auth_claims": "alice",
        "django_request_claims": "alice",
        "user": "alice",
        "user_type": "TokenUser",
    }


def test_without_a_token_drf_answers_401_with_a_bare_bearer_challenge(client: APIClient) -> None:
    reply = client.get("/drf/me")
    assert reply.status_code == 401  # not DRF's 403: the class names its challenge
    assert reply.headers["WWW-Authenticate"] == 'Bearer realm="refreshkit"'


def test_another_scheme_is_left_to_other_classes_and_then_refused_as_unauthenticated(
    client: APIClient,
) -> None:
    reply = client.get("/drf/me", HTTP_AUTHORIZATION="Basic YWxpY2U6cHc=")
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"] == 'Bearer realm="refreshkit"'


def test_a_bad_token_answers_401_invalid_token_in_body_and_challenge(client: APIClient) -> None:
    reply = client.get("/drf/me", **bearer("not.a.jwt"))
    assert reply.status_code == 401
    challenge = reply.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="refreshkit", error="invalid_token"')
    assert reply.json()["error"] == "invalid_token"


def test_a_token_of_another_issuer_is_invalid(
    client: APIClient, refreshkit_settings: Callable[..., None]
) -> None:
    token = access_token()
    refreshkit_settings(issuer="https://other.example")
    reply = client.get("/drf/me", **bearer(token))
    assert reply.status_code == 401
    assert 'error="invalid_token"' in reply.headers["WWW-Authenticate"]


def test_a_malformed_bearer_header_answers_400_invalid_request(client: APIClient) -> None:
    reply = client.get("/drf/me", HTTP_AUTHORIZATION="Bearer two words")
    assert reply.status_code == 400
    assert reply.json()["error"] == "invalid_request"
    assert 'error="invalid_request"' in reply.headers["WWW-Authenticate"]


def test_the_realm_comes_from_the_django_realm_option(
    client: APIClient, refreshkit_settings: Callable[..., None]
) -> None:
    refreshkit_settings(django_realm="shop")
    assert client.get("/drf/me").headers["WWW-Authenticate"] == 'Bearer realm="shop"'


def test_a_missing_scope_answers_403_insufficient_scope_naming_it(client: APIClient) -> None:
    reply = client.get("/drf/orders", **bearer(access_token(scope="profile")))
    assert reply.status_code == 403
    assert reply.json()["error"] == "insufficient_scope"
    challenge = reply.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="orders:read"' in challenge


def test_with_scopes_lets_a_token_holding_the_scope_through(client: APIClient) -> None:
    reply = client.get("/drf/orders", **bearer(access_token(scope="orders:read profile")))
    assert reply.status_code == 200
    assert reply.json()["scopes"] == ["orders:read", "profile"]


def test_a_views_required_scopes_attribute_is_enforced(client: APIClient) -> None:
    refused = client.get("/drf/admin", **bearer(access_token(scope="profile")))
    allowed = client.get("/drf/admin", **bearer(access_token(scope="admin")))
    assert refused.status_code == 403
    assert 'scope="admin"' in refused.headers["WWW-Authenticate"]
    assert allowed.status_code == 200


def test_the_scope_permission_refuses_a_request_without_a_token_as_401_not_403(
    client: APIClient,
) -> None:
    reply = client.get("/drf/admin")
    assert reply.status_code == 401
    assert reply.headers["WWW-Authenticate"] == 'Bearer realm="refreshkit"'


def test_offline_checks_accept_a_revoked_sessions_token_until_it_expires(
    client: APIClient,
) -> None:
    pair = conf.get_manager().issue("alice")
    conf.get_manager().revoke_session(pair.sid)
    assert client.get("/drf/me", **bearer(pair.access_token)).status_code == 200


def test_an_online_check_refuses_a_revoked_sessions_token(client: APIClient) -> None:
    pair = conf.get_manager().issue("alice")
    assert client.get("/drf/online", **bearer(pair.access_token)).status_code == 200
    conf.get_manager().revoke_session(pair.sid)
    reply = client.get("/drf/online", **bearer(pair.access_token))
    assert reply.status_code == 401
    assert 'error="invalid_token"' in reply.headers["WWW-Authenticate"]


def test_the_django_online_option_makes_every_check_online(
    client: APIClient, refreshkit_settings: Callable[..., None]
) -> None:
    refreshkit_settings(django_online=True)
    pair = conf.get_manager().issue("alice")
    conf.get_manager().revoke_session(pair.sid)
    assert client.get("/drf/me", **bearer(pair.access_token)).status_code == 401


def test_a_store_outage_on_an_online_check_answers_503_with_retry_after_never_401(
    client: APIClient, refreshkit_settings: Callable[..., None]
) -> None:
    pytest.importorskip("redis")
    token = access_token()  # signed by the same keys; only the store is gone
    refreshkit_settings(store_url=UNREACHABLE_REDIS)
    reply = client.get("/drf/online", **bearer(token))
    assert reply.status_code == 503, reply.content
    assert reply.json()["error"] == "temporarily_unavailable"
    assert int(reply.headers["Retry-After"]) >= 1


def test_the_token_user_is_the_subject_and_holds_no_permissions() -> None:
    pair = conf.get_manager().issue("alice", scope="profile")
    claims = conf.get_manager().verify_access(pair.access_token)
    user = TokenUser(claims)
    assert (user.id, user.pk, user.username, user.get_username()) == ("alice",) * 4
    assert user.is_authenticated and user.is_active and not user.is_anonymous
    assert not user.has_perm("orders.view_order") and not user.is_staff
    assert user == TokenUser(claims) and user.claims is claims


# ------------------------------------------------------------ the user model


@pytest.fixture
def database() -> Iterator[None]:
    """The project's tables, each test's rows rolled back."""
    call_command("migrate", verbosity=0)
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


@pytest.mark.usefixtures("database")
@pytest.mark.parametrize(("lookup", "subject"), [("username", "alice"), ("pk", None)])
def test_the_user_lookup_option_puts_the_real_user_on_the_request(
    client: APIClient, refreshkit_settings: Callable[..., None], lookup: str, subject: Any
) -> None:
    user = get_user_model().objects.create_user("alice", password="unused")
    refreshkit_settings(django_user_lookup=lookup)
    reply = client.get("/drf/me", **bearer(access_token(subject or str(user.pk))))
    assert reply.status_code == 200, reply.content
    assert reply.json()["user_type"] == "User"
    assert reply.json()["user"] == "alice"


@pytest.mark.usefixtures("database")
@pytest.mark.parametrize("subject", ["nobody", "inactive"])
def test_a_token_for_a_missing_or_inactive_user_is_invalid(
    client: APIClient, refreshkit_settings: Callable[..., None], subject: str
) -> None:
    get_user_model().objects.create_user("inactive", password="unused", is_active=False)
    refreshkit_settings(django_user_lookup="username")
    reply = client.get("/drf/me", **bearer(access_token(subject)))
    assert reply.status_code == 401
    assert 'error="invalid_token"' in reply.headers["WWW-Authenticate"]


@pytest.mark.usefixtures("database")
def test_a_subject_that_is_no_primary_key_is_invalid_not_a_server_error(
    client: APIClient, refreshkit_settings: Callable[..., None]
) -> None:
    refreshkit_settings(django_user_lookup="pk")
    reply = client.get("/drf/me", **bearer(access_token("alice")))
    assert reply.status_code == 401


#: The RFC 9470 challenge of a route requiring an authentication at most 300 s ago.
STEP_UP = (
    'Bearer realm="refreshkit", error="insufficient_user_authentication", '
    'error_description="a more recent authentication is required", max_age="300"'
)


@pytest.mark.parametrize("route", ["/drf/fresh", "/drf/fresh-view", "/drf/fresh-auth"])
def test_a_login_too_long_ago_answers_401_with_the_step_up_challenge_until_reauthenticated(
    client: APIClient, route: str
) -> None:
    manager = conf.get_manager()
    long_ago = manager.clock.now() - timedelta(minutes=10)
    pair = manager.issue("alice", auth_time=long_ago)
    reply = client.get(route, **bearer(pair.access_token))
    assert reply.status_code == 401, reply.content
    assert reply.headers["WWW-Authenticate"] == STEP_UP
    assert reply.json()["error"] == "insufficient_user_authentication"
    assert client.get("/drf/me", **bearer(pair.access_token)).status_code == 200
    fresh = manager.reauthenticate(pair.sid)
    assert client.get(route, **bearer(fresh)).status_code == 200
