"""OAuth clients: the registry, binding, scope narrowing, cnf and introspection."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import jwt
import pytest

from refreshkit import (
    Client,
    ClientMismatchError,
    ConfigurationError,
    InvalidClientError,
    InvalidScopeError,
    InvalidTokenError,
    RevokedTokenError,
    Settings,
    TokenReuseError,
)
from refreshkit.clients import (
    ClientCredentials,
    ClientRegistry,
    hash_client_secret,
    new_client_secret,
    verify_client_secret,
)

from ._managers import FLAVOURS, manager_factory

SECRET = "s3cret-of-the-partner-backend"


@pytest.fixture(params=FLAVOURS)
def make(request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    with manager_factory(request.param) as factory:
        yield factory


def _clients() -> list[Client]:
    return [
        Client.public("spa", delivery="cookie", access_ttl="5m", scopes={"read", "write"}),
        Client.confidential_with_secret("backend", SECRET, scopes={"read", "write", "admin"}),
        Client.confidential_with_secret(
            "resource-server", SECRET, introspection=True, auth_methods=["client_secret_post"]
        ),
    ]


def _unverified(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


# ------------------------------------------------------------------ secrets


def test_a_secret_hash_verifies_only_its_secret_and_never_holds_it() -> None:
    secret = new_client_secret()
    stored = hash_client_secret(secret)
    assert secret not in stored and stored.startswith("scrypt$16384$8$1$")
    assert verify_client_secret(secret, stored)
    assert not verify_client_secret(secret + "x", stored)
    assert hash_client_secret(secret) != stored  # salted
    for malformed in ("", "scrypt$1$2", "bcrypt$1$2$3$4$5", "scrypt$x$8$1$AA$AA"):
        assert not verify_client_secret(secret, malformed)


def test_configuration_holds_the_hash_never_the_secret() -> None:
    with pytest.raises(ConfigurationError, match="secret_hash, never the secret"):
        Settings(clients=[{"client_id": "backend", "secret": SECRET}])  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="hash_client_secret"):
        Client("backend", secret_hash=SECRET)


# ------------------------------------------------------------- configuration


def test_clients_come_from_json_configuration_with_durations_and_scopes() -> None:
    config = [
        {"client_id": "spa", "delivery": "cookie", "refresh_idle_ttl": "1d", "scopes": "read"},
        {
            "client_id": "backend",
            "secret_hash": hash_client_secret(SECRET),
            "auth_methods": ["client_secret_post"],
            "audience": "partner-api",
        },
    ]
    settings = Settings.from_env(
        {"REFRESHKIT_CLIENTS": json.dumps(config), "REFRESHKIT_DEFAULT_CLIENT": "spa"}
    )
    spa, backend = settings.clients
    assert spa.refresh_idle_ttl == timedelta(days=1) and spa.scopes == frozenset({"read"})
    assert backend.confidential and backend.auth_methods == ("client_secret_post",)
    registry = ClientRegistry(settings)
    assert registry.settings_for("spa").cookie_mode and not registry.settings_for("spa").body_mode
    assert registry.settings_for("backend").audience == ("partner-api",)
    assert registry.audiences() == ("refreshkit", "partner-api")
    assert "secret_hash" not in repr(settings)


@pytest.mark.parametrize(
    ("clients", "extra", "message"),
    [
        ([{"client_id": "a"}, {"client_id": "a"}], {}, "registered twice"),
        ([{"client_id": "a"}], {"default_client": "b"}, "names no registered client"),
        ([{"client_id": "a", "colour": "blue"}], {}, "unknown setting 'colour'"),
        ([{"client_id": "a", "auth_methods": ["client_secret_jwt"]}], {}, "unknown auth method"),
        ([{"client_id": "a", "auth_methods": ["client_secret_basic"]}], {}, "public"),
        ([{"client_id": "a", "introspection": True}], {}, "only a confidential client"),
        ([{"client_id": "a", "refresh_idle_ttl": "90d"}], {}, "client a: refresh_idle_ttl"),
        ([{"client_id": "a", "access_ttl": "soon"}], {}, "not a duration"),
        ('{"client_id": "a"}', {}, "a list of clients"),
        ("[not json", {}, "not a JSON array"),
    ],
)
def test_a_bad_client_registration_is_a_configuration_error_naming_it(
    clients: Any, extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_mapping({"clients": clients, **extra})


def test_the_default_client_must_be_public() -> None:
    with pytest.raises(ConfigurationError, match="must be a public client"):
        Settings(clients=_clients(), default_client="backend")


# ------------------------------------------------------------ authentication


def test_each_client_authenticates_only_by_its_registered_method() -> None:
    registry = ClientRegistry(Settings(clients=_clients()))
    basic = ClientCredentials("backend", SECRET, "client_secret_basic")
    assert registry.authenticate(basic) == "backend"
    assert registry.authenticate(ClientCredentials("backend", SECRET, "client_secret_post"))
    assert registry.authenticate(ClientCredentials("spa")) == "spa"
    refused = [
        ClientCredentials("backend", "wrong", "client_secret_basic"),
        ClientCredentials("backend"),  # a confidential client without its secret
        ClientCredentials("resource-server", SECRET, "client_secret_basic"),  # not its method
        ClientCredentials("nobody", SECRET, "client_secret_basic"),
        ClientCredentials("nobody"),
        ClientCredentials("spa", "a-secret", "client_secret_post"),  # a public client has none
        None,  # no default client: a request must say who it is
    ]
    for credentials in refused:
        with pytest.raises(InvalidClientError):
            registry.authenticate(credentials)
    # The remembered digest of a verified secret never lets a wrong one through.
    assert registry.authenticate(basic) == "backend"
    with pytest.raises(InvalidClientError):
        registry.authenticate(ClientCredentials("backend", SECRET + "!", "client_secret_basic"))


def test_without_a_registry_there_is_one_implicit_public_client() -> None:
    registry = ClientRegistry(Settings())
    assert registry.implicit
    assert registry.authenticate(None) is None
    assert registry.authenticate(ClientCredentials("any-app")) == "any-app"
    with pytest.raises(InvalidClientError, match="no confidential client"):
        registry.authenticate(ClientCredentials("any-app", "secret", "client_secret_basic"))


def test_the_default_client_answers_for_a_request_that_names_none() -> None:
    registry = ClientRegistry(Settings(clients=_clients(), default_client="spa"))
    assert registry.authenticate(None) == "spa"


# ------------------------------------------------------------------- binding


def test_a_session_is_bound_to_its_client_and_another_client_is_refused(
    make: Callable[..., Any],
) -> None:
    manager = make(clients=_clients())
    pair = manager.issue("alice", client_id="spa", scope="read")
    assert _unverified(pair.access_token)["client_id"] == "spa"
    assert manager.verify_access(pair.access_token).client_id == "spa"
    with pytest.raises(ClientMismatchError):
        manager.refresh(pair.refresh_token, client_id="backend")
    with pytest.raises(ClientMismatchError):
        manager.revoke(pair.refresh_token, client_id="backend")
    with pytest.raises(ClientMismatchError):
        manager.revoke_access_token(pair.access_token, client_id="backend")
    # ... and the session is intact for its own client.
    again = manager.refresh(pair.refresh_token, client_id="spa")
    assert manager.revoke(again.refresh_token, client_id="spa")


def test_an_unbound_session_is_bound_by_the_first_client_that_refreshes_it(
    make: Callable[..., Any],
) -> None:
    manager = make()  # no registry: the implicit client takes any client_id at its word
    pair = manager.issue("alice")
    first = manager.refresh(pair.refresh_token, client_id="spa")
    assert _unverified(first.access_token)["client_id"] == "spa"
    with pytest.raises(ClientMismatchError):
        manager.refresh(first.refresh_token, client_id="other-app")
    # A retry of the first token by another client is refused too, and revokes nothing.
    with pytest.raises(ClientMismatchError):
        manager.refresh(pair.refresh_token, client_id="other-app")
    assert manager.refresh(first.refresh_token, client_id="spa").sid == pair.sid


def test_issuing_for_an_unknown_client_or_beyond_its_scopes_is_refused(
    make: Callable[..., Any],
) -> None:
    manager = make(clients=_clients())
    with pytest.raises(InvalidClientError):
        manager.issue("alice", client_id="nobody")
    with pytest.raises(InvalidScopeError, match="admin"):
        manager.issue("alice", client_id="spa", scope="read admin")
    assert manager.issue("alice", client_id="backend", scope="read admin").scope == "read admin"


def test_a_client_policy_overrides_the_application_settings(make: Callable[..., Any]) -> None:
    manager = make(
        clients=[
            Client.public("mobile", access_ttl="2m", refresh_absolute_ttl="7d", rotation=False),
            Client.public("web", audience=["web-api"]),
        ]
    )
    pair = manager.issue("alice", client_id="mobile")
    assert pair.expires_in == 120
    assert pair.refresh_expires_at - manager.clock.now() == timedelta(days=7)
    again = manager.refresh(pair.refresh_token, client_id="mobile")
    assert again.refresh_token == pair.refresh_token  # rotation off for this client
    web = manager.issue("bob", client_id="web")
    assert _unverified(web.access_token)["aud"] == "web-api"
    assert manager.verify_access(web.access_token).audience == ("web-api",)


# ------------------------------------------------------------------ scopes


def test_a_refresh_may_narrow_the_scope_but_never_widen_it(make: Callable[..., Any]) -> None:
    manager = make()
    pair = manager.issue("alice", scope="read write")
    narrow = manager.refresh(pair.refresh_token, scope="read")
    assert narrow.scope == "read" and _unverified(narrow.access_token)["scope"] == "read"
    with pytest.raises(InvalidScopeError):
        manager.refresh(narrow.refresh_token, scope="read admin")
    # The refused request changed nothing; the grant itself was never narrowed.
    full = manager.refresh(narrow.refresh_token)
    assert full.scope == "read write" and _unverified(full.access_token)["scope"] == "read write"
    assert manager.sessions("alice")[0].scope == "read write"


def test_a_retry_of_a_narrowing_refresh_gets_the_same_successor_and_scope(
    make: Callable[..., Any],
) -> None:
    manager = make()
    pair = manager.issue("alice", scope="read write")
    first = manager.refresh(pair.refresh_token, scope="read")
    retry = manager.refresh(pair.refresh_token, scope="read")
    assert retry.refresh_token == first.refresh_token and retry.scope == "read"


def test_a_scope_request_never_hides_reuse_or_reveals_a_scope(make: Callable[..., Any]) -> None:
    manager = make(retry_window=0)
    pair = manager.issue("alice", scope="read")
    sid, _, _ = pair.refresh_token.partition(".")
    with pytest.raises(InvalidTokenError):  # a forgery: refused, whatever scope it asks for
        manager.refresh(f"{sid}.{'A' * 43}", scope="admin")
    successor = manager.refresh(pair.refresh_token)
    with pytest.raises(TokenReuseError):  # the old token is reuse, scope or not
        manager.refresh(pair.refresh_token, scope="admin")
    with pytest.raises(RevokedTokenError):
        manager.refresh(successor.refresh_token)


# --------------------------------------------------------------------- cnf


def test_cnf_set_at_issue_is_carried_through_refreshes(make: Callable[..., Any]) -> None:
    manager = make()
    cnf = {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}
    pair = manager.issue("alice", cnf=cnf)
    assert manager.verify_access(pair.access_token).cnf == cnf
    again = manager.refresh(pair.refresh_token)
    assert manager.verify_access(again.access_token).cnf == cnf
    with pytest.raises(ValueError, match="cnf"):
        manager.issue("alice", cnf={})


# ------------------------------------------------------------ introspection


def test_introspection_reports_active_tokens_with_their_rfc_7662_members(
    make: Callable[..., Any],
) -> None:
    manager = make(clients=_clients())
    pair = manager.issue("alice", client_id="backend", scope="read", cnf={"jkt": "abc"})
    access = manager.introspect(pair.access_token)
    claims = _unverified(pair.access_token)
    assert access == {
        "active": True,
        "token_type": "Bearer",
        "sub": "alice",
        "iss": "refreshkit",
        "aud": "refreshkit",
        "exp": claims["exp"],
        "iat": claims["iat"],
        "nbf": claims["nbf"],
        "jti": claims["jti"],
        "sid": pair.sid,
        "scope": "read",
        "client_id": "backend",
        "cnf": {"jkt": "abc"},
    }
    refresh = manager.introspect(pair.refresh_token)
    assert refresh["active"] and refresh["client_id"] == "backend"
    assert refresh["exp"] == int(pair.refresh_expires_at.timestamp())
    assert "token_type" not in refresh


def test_introspection_says_inactive_and_never_why(make: Callable[..., Any]) -> None:
    manager = make()
    pair = manager.issue("alice")
    successor = manager.refresh(pair.refresh_token)
    inactive = {"active": False}
    for token in ("", "garbage", "rk_x.y", pair.refresh_token, pair.access_token[:-3] + "abc"):
        assert manager.introspect(token) == inactive
    assert manager.introspect(successor.refresh_token)["active"]
    manager.clock.advance(timedelta(minutes=16))
    assert manager.introspect(successor.access_token) == inactive  # expired


def test_revoking_a_refresh_token_ends_its_access_tokens_online_but_not_offline(
    make: Callable[..., Any],
) -> None:
    """RFC 7009 §2.1 SHOULD: the session's access tokens go with its refresh token."""
    manager = make()
    pair = manager.issue("alice")
    assert manager.introspect(pair.access_token)["active"]
    assert manager.revoke(pair.refresh_token)
    assert manager.introspect(pair.access_token) == {"active": False}
    assert manager.introspect(pair.refresh_token) == {"active": False}
    with pytest.raises(RevokedTokenError):
        manager.verify_access_online(pair.access_token)
    # Offline verification reads no store: the token lives until its exp.
    assert manager.verify_access(pair.access_token).sid == pair.sid
