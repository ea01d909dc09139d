"""OAuth clients: who may refresh, revoke and introspect, and with which policy.

A real application has several clients (a single-page app, a mobile app, a
partner backend, an internal resource server) with different policies.
Each is a :class:`Client`, registered in :ref:`Settings.clients
<setting-clients>` (in code, or as JSON in configuration):

- a **public** client (a browser or mobile app) holds no secret and
  identifies itself with its ``client_id`` alone (RFC 6749 §2.1);
- a **confidential** client authenticates with a secret, by
  ``client_secret_basic`` or ``client_secret_post`` (RFC 6749 §2.3.1), as
  its registration allows. The secret is stored only as an scrypt hash.

A client may narrow the scopes it can be granted, name the audience of its
access tokens, and override the session policy (lifetimes, rotation, retry
window, cookie or body delivery). With no client registered, refreshkit
behaves as one implicit public client, as before clients existed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, get_args

from .errors import ConfigurationError, InvalidClientError, InvalidScopeError

if TYPE_CHECKING:
    from .config import Settings

__all__ = [
    "AUTH_METHODS",
    "AuthMethod",
    "Client",
    "ClientCredentials",
    "ClientRegistry",
    "hash_client_secret",
    "new_client_secret",
    "verify_client_secret",
]

#: RFC 7591 §2 names of the client authentication methods refreshkit serves.
AuthMethod = Literal["none", "client_secret_basic", "client_secret_post"]
AUTH_METHODS: tuple[str, ...] = get_args(AuthMethod)
Delivery = Literal["cookie", "body"]

#: scrypt cost: about 50 ms and 16 MiB per hash on a 2020s core (RFC 7914).
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024
_HASH_SCHEME = "scrypt"
#: Settings fields a client may override, and nothing else.
OVERRIDABLE: tuple[str, ...] = (
    "access_ttl",
    "refresh_idle_ttl",
    "refresh_absolute_ttl",
    "rotation",
    "retry_window",
    "max_uses",
)


# -------------------------------------------------------------------- secrets


def new_client_secret() -> str:
    """A fresh client secret: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_client_secret(secret: str) -> str:
    """The scrypt hash of a client secret, in the form :class:`Client` stores.

    ``scrypt$<n>$<r>$<p>$<salt>$<hash>`` (base64url): the parameters travel with
    the hash, so raising the cost later leaves registered clients working.
    """
    if not secret:
        raise ValueError("a client secret must not be empty")
    salt = secrets.token_bytes(16)
    digest = _scrypt(secret, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return "$".join(
        (_HASH_SCHEME, str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P), _b64(salt), _b64(digest))
    )


def verify_client_secret(secret: str, secret_hash: str) -> bool:
    """Whether ``secret`` matches ``secret_hash`` (constant-time). A malformed hash is False."""
    try:
        scheme, n, r, p, salt, digest = secret_hash.split("$")
        if scheme != _HASH_SCHEME:
            return False
        expected = _unb64(digest)
        actual = _scrypt(secret, _unb64(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=32
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _check_hash_format(secret_hash: str) -> None:
    parts = secret_hash.split("$")
    if len(parts) != 6 or parts[0] != _HASH_SCHEME or not all(parts[1:4]):
        raise ConfigurationError(
            "client secret_hash must come from refreshkit.clients.hash_client_secret "
            "(or `refreshkit client-secret`), not be the secret itself"
        )


# --------------------------------------------------------------------- client


@dataclass(frozen=True, slots=True)
class Client:
    """One registered OAuth client and its policy.

    Build one with :meth:`public` or :meth:`confidential`, or from a mapping
    (JSON configuration) with :meth:`from_mapping`. ``scopes`` None allows any
    scope; ``audience`` empty writes the settings' first audience. Every
    policy field left None inherits the application's setting.
    """

    client_id: str
    #: scrypt hash of the secret (:func:`~refreshkit.clients.hash_client_secret`);
    #: None for a public client.
    secret_hash: str | None = field(default=None, repr=False)
    #: How the client authenticates; a public client uses ``("none",)``.
    auth_methods: tuple[AuthMethod, ...] = ()
    #: The scopes this client may be granted (None: any).
    scopes: frozenset[str] | None = None
    #: ``aud`` of its access tokens (empty: the settings' first audience).
    audience: tuple[str, ...] = ()
    #: May call the introspection endpoint (a resource server). Confidential only.
    introspection: bool = False
    #: Where a login hands this client the refresh token (None: the settings decide).
    delivery: Delivery | None = None
    access_ttl: timedelta | None = None
    refresh_idle_ttl: timedelta | None = None
    refresh_absolute_ttl: timedelta | None = None
    rotation: bool | None = None
    retry_window: timedelta | None = None
    max_uses: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.client_id, str) or not self.client_id.strip():
            raise ConfigurationError("a client needs a non-empty client_id")
        if any(ord(c) < 0x20 or ord(c) > 0x7E for c in self.client_id):
            raise ConfigurationError(
                f"client {self.client_id!r}: client_id must be printable ASCII"
            )
        methods = self.auth_methods or (
            ("client_secret_basic",) if self.secret_hash is not None else ("none",)
        )
        object.__setattr__(self, "auth_methods", tuple(methods))
        unknown = [m for m in methods if m not in AUTH_METHODS]
        if unknown:
            raise ConfigurationError(
                f"client {self.client_id!r}: unknown auth method {unknown[0]!r} "
                f"(use {', '.join(AUTH_METHODS)})"
            )
        if self.secret_hash is None and methods != ("none",):
            raise ConfigurationError(
                f"client {self.client_id!r}: a client without secret_hash is public and "
                "authenticates with auth_methods ('none',) only"
            )
        if self.secret_hash is not None:
            _check_hash_format(self.secret_hash)
            if "none" in methods:
                raise ConfigurationError(
                    f"client {self.client_id!r}: a confidential client cannot use 'none'"
                )
        if self.introspection and self.secret_hash is None:
            raise ConfigurationError(
                f"client {self.client_id!r}: only a confidential client may introspect"
            )
        if self.scopes is not None:
            object.__setattr__(self, "scopes", frozenset(self.scopes))
        object.__setattr__(self, "audience", tuple(self.audience))
        from .config import parse_duration  # config imports this module

        for name in ("access_ttl", "refresh_idle_ttl", "refresh_absolute_ttl", "retry_window"):
            value = getattr(self, name)
            if value is not None:
                try:
                    object.__setattr__(self, name, parse_duration(value))
                except ValueError as exc:
                    raise ConfigurationError(f"client {self.client_id!r}: {name}: {exc}") from None
        if self.delivery not in (None, "cookie", "body"):
            raise ConfigurationError(f"client {self.client_id!r}: delivery is 'cookie' or 'body'")

    @property
    def confidential(self) -> bool:
        """Whether the client holds a secret it must authenticate with."""
        return self.secret_hash is not None

    @classmethod
    def public(cls, client_id: str, **policy: Any) -> Client:
        """A public client (browser, mobile app): identified by ``client_id`` alone."""
        return cls(client_id, **policy)

    @classmethod
    def confidential_with_secret(
        cls,
        client_id: str,
        secret: str,
        *,
        auth_methods: Iterable[AuthMethod] = ("client_secret_basic", "client_secret_post"),
        **policy: Any,
    ) -> Client:
        """A confidential client whose plain ``secret`` is hashed here, never kept."""
        return cls(
            client_id,
            secret_hash=hash_client_secret(secret),
            auth_methods=tuple(auth_methods),
            **policy,
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | Client) -> Client:
        """A client from configuration: keys are the field names; durations as ``"15m"``.

        A plain ``secret`` is refused: configuration holds only ``secret_hash``.
        """
        if isinstance(data, Client):
            return data
        if not isinstance(data, Mapping):
            raise ConfigurationError("each client must be a mapping of its settings")
        if "secret" in data or "client_secret" in data:
            raise ConfigurationError(
                f"client {data.get('client_id')!r}: configuration holds secret_hash, never the "
                "secret (make one with `refreshkit client-secret`)"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigurationError(
                f"client {data.get('client_id')!r}: unknown setting {unknown[0]!r} "
                f"(known: {', '.join(sorted(known))})"
            )
        values = dict(data)
        for name in ("scopes", "audience", "auth_methods"):
            if isinstance(values.get(name), str):
                values[name] = tuple(values[name].split())
        if values.get("scopes") is not None:
            values["scopes"] = frozenset(values["scopes"])
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigurationError(f"client {data.get('client_id')!r}: {exc}") from None

    def policy_overrides(self) -> dict[str, Any]:
        """The settings this client overrides (none left None), delivery included."""
        changes = {name: getattr(self, name) for name in OVERRIDABLE}
        changes = {k: v for k, v in changes.items() if v is not None}
        if self.audience:
            changes["audience"] = self.audience
        if self.delivery == "cookie":
            changes.update(cookie_mode=True, body_mode=False)
        elif self.delivery == "body":
            changes.update(body_mode=True, cookie_mode=False)
        return changes

    def check_scope(self, scope: str | None) -> None:
        """Refuse a grant beyond the client's allowed scopes (:class:`InvalidScopeError`)."""
        if self.scopes is None or not scope:
            return
        extra = set(scope.split()) - self.scopes
        if extra:
            raise InvalidScopeError(
                f"client {self.client_id} may not be granted {' '.join(sorted(extra))}"
            )


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """What a request presented to identify its client (parsed by the HTTP layer)."""

    client_id: str
    secret: str | None = field(default=None, repr=False)
    method: AuthMethod = "none"


# ------------------------------------------------------------------- registry


class ClientRegistry:
    """The registered clients, each with its effective settings.

    Empty means the implicit public client: any request may refresh, as
    before clients existed, and a ``client_id`` it names is taken at its
    word (there is no secret to check). Verified secrets are remembered as
    a SHA-256 digest for a client, so a busy backend pays the scrypt cost
    once, not on every request.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._clients: dict[str, Client] = {c.client_id: c for c in settings.clients}
        self._settings: dict[str, Settings] = {
            c.client_id: _settings_for(c, settings) for c in settings.clients
        }
        self._verified: dict[str, bytes] = {}
        self._lock = threading.Lock()

    @property
    def implicit(self) -> bool:
        """No client is registered: refreshkit acts as one implicit public client."""
        return not self._clients

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._clients

    def __iter__(self) -> Iterator[Client]:
        return iter(self._clients.values())

    def get(self, client_id: str | None) -> Client | None:
        """The client registered as ``client_id``, or None."""
        return self._clients.get(client_id) if client_id is not None else None

    def settings_for(self, client_id: str | None) -> Settings:
        """The settings that govern ``client_id``'s sessions (the app's, with its overrides)."""
        if client_id is None:
            return self.settings
        return self._settings.get(client_id, self.settings)

    def audiences(self) -> tuple[str, ...]:
        """Every audience an access token of this application may carry."""
        extra = [a for c in self._clients.values() for a in c.audience]
        return tuple(dict.fromkeys((*self.settings.audience, *extra)))

    def check_registered(self, client_id: str | None) -> None:
        """Refuse a ``client_id`` that names no registered client (unless none are)."""
        if client_id is not None and not self.implicit and client_id not in self._clients:
            raise InvalidClientError(f"unknown client {client_id}")

    def authenticate(self, credentials: ClientCredentials | None) -> str | None:
        """The authenticated client's id; None is the implicit client.

        No credentials: the ``default_client`` setting, or with no client
        registered the implicit client; otherwise ``invalid_client``. A public
        client presents its ``client_id`` alone; a confidential one a secret
        by a method it is registered for. Raises :class:`~refreshkit.errors.InvalidClientError`.
        """
        if credentials is None:
            if self.implicit or self.settings.default_client is not None:
                return self.settings.default_client
            raise InvalidClientError("client authentication required")
        if self.implicit:
            if credentials.secret is not None:
                raise InvalidClientError("no confidential client is registered")
            return credentials.client_id
        client = self._clients.get(credentials.client_id)
        if client is None:
            # Spend the same time as a wrong secret, so ids cannot be probed.
            if credentials.secret is not None:
                verify_client_secret(credentials.secret, _DUMMY_HASH)
            raise InvalidClientError("client authentication failed")
        if credentials.method not in client.auth_methods:
            raise InvalidClientError(
                f"client {client.client_id} must authenticate with "
                f"{' or '.join(client.auth_methods)}"
            )
        if client.secret_hash is not None and (
            credentials.secret is None or not self._secret_ok(client, credentials.secret)
        ):
            raise InvalidClientError("client authentication failed")
        return client.client_id

    def _secret_ok(self, client: Client, secret: str) -> bool:
        assert client.secret_hash is not None
        digest = hashlib.sha256(client.secret_hash.encode() + b"\x00" + secret.encode()).digest()
        remembered = self._verified.get(client.client_id)
        if remembered is not None and hmac.compare_digest(remembered, digest):
            return True
        if not verify_client_secret(secret, client.secret_hash):
            return False
        with self._lock:
            self._verified[client.client_id] = digest
        return True


_DUMMY_HASH = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43


def _settings_for(client: Client, settings: Settings) -> Settings:
    """The app's settings with the client's overrides, validated like any settings."""
    overrides = client.policy_overrides()
    if not overrides:
        return settings
    # A shorter absolute lifetime alone caps the inherited idle one, as a user means it.
    absolute = overrides.get("refresh_absolute_ttl")
    if absolute is not None and "refresh_idle_ttl" not in overrides:
        overrides["refresh_idle_ttl"] = min(settings.refresh_idle_ttl, absolute)
    try:
        return settings.replace(clients=(), default_client=None, **overrides)
    except ConfigurationError as exc:
        raise ConfigurationError(f"client {client.client_id}: {exc.message}") from None


def clients_from_config(raw: Any) -> tuple[Client, ...]:
    """Clients from configuration: a JSON array (text), a sequence of mappings or Clients."""
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            return ()
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ConfigurationError(f"clients: not a JSON array of clients ({exc})") from None
    if isinstance(raw, Mapping):
        raise ConfigurationError("clients: expected a list of clients, got one mapping")
    if not isinstance(raw, Iterable):
        raise ConfigurationError("clients: expected a list of clients")
    return tuple(Client.from_mapping(item) for item in raw)
