"""Settings: the one path by which refreshkit is configured.

Build :class:`Settings` in code, from ``REFRESHKIT_*`` environment variables
(:meth:`Settings.from_env`) or from any mapping such as a Flask config
(:meth:`Settings.from_mapping`). Durations are :class:`~datetime.timedelta`
or strings like ``"15m"``, ``"14d"``, ``"1h30m"``; everything is validated
once, up front, with a :class:`~refreshkit.errors.ConfigurationError` that
names the offending field.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import ipaddress
import os
import re
import types
import typing
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from .clients import Client, clients_from_config
from .errors import ConfigurationError

__all__ = ["Settings", "parse_duration", "redact_url"]

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|w|d|h|m|s)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: ``password=`` (and the like) in a URL's query, as redis-py and libpq accept them.
_QUERY_SECRET = re.compile(r"(?i)([?&;](?:password|passwd|pwd|sslpassword)=)[^&;#]*")
_RETRY_WINDOW_DEFAULT = timedelta(seconds=30)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_duration(value: timedelta | str | float) -> timedelta:
    """Turn ``"15m"``, ``"14d"``, ``"1h30m"``, ``"500ms"`` or seconds into a timedelta.

    Raises :class:`ValueError` on anything else, so a typo never becomes zero.
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    text = value.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return timedelta(seconds=float(text))
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {value!r} (use e.g. '30s', '15m', '14d', '1h30m')")
    return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u] for n, u in parts))


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, fit for a repr or a log line.

    Masks the userinfo password (``scheme://user:***@host``), up to the last
    ``@`` so that a password with an unescaped ``/`` or ``@`` is masked whole,
    and ``password=``-style query parameters. Masks more rather than less.
    """
    scheme, separator, rest = url.partition("://")
    if separator and "@" in rest:
        userinfo, _, host = rest.rpartition("@")
        if ":" in userinfo:
            rest = f"{userinfo.split(':', 1)[0]}:***@{host}"
    return _QUERY_SECRET.sub(r"\1***", f"{scheme}{separator}{rest}")


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob refreshkit has, with safe defaults.

    Secrets (``secret_key``, ``private_key``) are hidden from ``repr``, and
    so is the password in ``store_url`` (shown as ``***``).
    """

    #: ``iss`` claim of access tokens, checked on verification.
    issuer: str = "refreshkit"
    #: ``aud`` claim(s); the first is written, any is accepted.
    audience: tuple[str, ...] = ("refreshkit",)
    #: Lifetime of an access token.
    access_ttl: timedelta = timedelta(minutes=15)
    #: A session not refreshed for this long expires (sliding expiration).
    refresh_idle_ttl: timedelta = timedelta(days=14)
    #: No session outlives this, however often it is refreshed.
    refresh_absolute_ttl: timedelta = timedelta(days=30)
    #: Rotate refresh tokens on every use (RFC 9700 §4.14.2); off keeps them reusable.
    rotation: bool = True
    #: How long after its rotation a token presented again is a retry (a lost
    #: reply, a resent request, a racing tab) that gets the *same* successor
    #: back, as long as that successor was never used. 0: strict RFC 9700
    #: rotation, every second use is reuse. Must be shorter than ``refresh_idle_ttl``.
    retry_window: timedelta = _RETRY_WINDOW_DEFAULT
    #: Deprecated alias of ``retry_window`` (a :class:`DeprecationWarning`);
    #: moved into ``retry_window`` and reset to None.
    reuse_grace: timedelta | None = field(default=None, repr=False)
    #: Deprecated and ignored (a :class:`DeprecationWarning`): a retry hands out
    #: the same successor, so there are no sibling tokens left to count.
    max_grace_reuses: int | None = field(default=None, repr=False)
    #: With rotation off: how often one refresh token may be used (None: unbounded).
    max_uses: int | None = None
    #: Live sessions per subject; starting one more revokes the oldest (None: unbounded).
    max_sessions: int | None = None
    #: Revoke the session when its token is presented from another device.
    revoke_on_device_mismatch: bool = True
    #: Clock skew tolerated when checking ``exp``/``nbf``/``iat``.
    leeway: timedelta = timedelta(0)
    #: Signing algorithm for keys built from ``secret_key``/``private_key``.
    algorithm: str = "HS256"
    #: Shared secret for HS* algorithms (at least 32 bytes).
    secret_key: str | None = field(default=None, repr=False)
    #: PEM private key text for asymmetric algorithms (the CLI also accepts a file path).
    private_key: str | None = field(default=None, repr=False)
    #: Key id written to tokens when the key is built from settings.
    key_id: str | None = None
    #: Where tokens are stored (a store URL, see :doc:`/backends/index`); None: the
    #: in-memory store, with a warning, since it is neither durable nor shared.
    store_url: str | None = None
    #: Verified access tokens remembered (by full token, never past ``exp``); 0 disables.
    verify_cache_size: int = 1024
    #: URL prefix of the HTTP token endpoints (``<prefix>/token/refresh``).
    url_prefix: str = ""
    #: Adapters read and set the refresh token in a cookie.
    cookie_mode: bool = False
    #: Adapters accept the refresh token in the request body / JSON.
    body_mode: bool = True
    #: Name of the refresh-token cookie. Left at this default, adapters send it as
    #: ``__Secure-refresh_token`` when ``cookie_secure`` is on (see the security page).
    cookie_name: str = "refresh_token"
    #: ``Secure`` flag of the cookie; turning it off is for plain-HTTP development only.
    cookie_secure: bool = True
    #: ``SameSite`` of the cookie.
    cookie_samesite: Literal["strict", "lax", "none"] = "strict"
    #: ``Domain`` of the cookie (None: host-only, the safe default).
    cookie_domain: str | None = None
    #: CSRF defence in cookie mode: a required custom header, or a double-submit token.
    csrf_protection: Literal["header", "double_submit"] = "double_submit"
    #: Header that carries the CSRF proof.
    csrf_header_name: str = "X-CSRF-Token"
    #: Cookie that carries the double-submit CSRF token (readable by scripts). Left at
    #: this default, adapters send it as ``__Host-refresh_csrf`` (``__Secure-`` with a
    #: ``cookie_domain``) when ``cookie_secure`` is on.
    csrf_cookie_name: str = "refresh_csrf"
    #: The registered OAuth clients (:class:`~refreshkit.clients.Client`, or their
    #: mappings, or a JSON array of them); none: one implicit public client.
    clients: tuple[Client, ...] = ()
    #: The client a token request that names none is taken to be (a public
    #: client, e.g. the single-page app in cookie mode); None: such requests
    #: must authenticate, once any client is registered.
    default_client: str | None = None
    #: The token, revoke and introspection endpoints refuse plain HTTP, except
    #: from a loopback peer or when a trusted proxy forwards an HTTPS request.
    require_tls: bool = True
    #: Proxy addresses or networks (``"10.0.0.0/8"``) whose ``Forwarded`` and
    #: ``X-Forwarded-Proto`` / ``-For`` headers are believed; from anyone else
    #: they are ignored.
    trusted_proxies: tuple[str, ...] = ()
    #: How a session keeps its login's client IP (for the user's device list):
    #: ``"plain"``, ``"truncated"`` (the /24 of an IPv4 address, the /48 of an
    #: IPv6 one), ``"hashed"`` (a keyed HMAC-SHA256, never the raw address) or
    #: ``"off"`` (not recorded).
    session_ip: Literal["plain", "truncated", "hashed", "off"] = "truncated"
    #: The key of ``session_ip="hashed"`` (at least 32 characters); None: ``secret_key``.
    session_ip_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        hints = _field_types()
        for f in dataclasses.fields(self):
            value = _coerce(f.name, hints[f.name], getattr(self, f.name))
            object.__setattr__(self, f.name, value)
            if isinstance(value, timedelta) and value < timedelta(0):
                raise ConfigurationError(f"{f.name} must not be negative")
        if self.access_ttl <= timedelta(0):
            raise ConfigurationError("access_ttl must be positive")
        if self.refresh_idle_ttl <= timedelta(0):
            raise ConfigurationError("refresh_idle_ttl must be positive")
        if self.access_ttl > self.refresh_idle_ttl:
            raise ConfigurationError(
                "access_ttl is longer than refresh_idle_ttl: refresh tokens would die first"
            )
        if self.refresh_idle_ttl > self.refresh_absolute_ttl:
            raise ConfigurationError("refresh_idle_ttl must not exceed refresh_absolute_ttl")
        self._migrate_grace_settings()
        if self.retry_window >= self.refresh_idle_ttl:
            raise ConfigurationError("retry_window must be shorter than refresh_idle_ttl")
        for name in ("max_uses", "max_sessions"):
            limit = getattr(self, name)
            if limit is not None and limit < 1:
                raise ConfigurationError(f"{name} must be >= 1 or None")
        if self.verify_cache_size < 0:
            raise ConfigurationError("verify_cache_size must be >= 0")
        if not self.audience:
            raise ConfigurationError("audience must name at least one audience")
        if self.url_prefix and (
            not self.url_prefix.startswith("/") or self.url_prefix.endswith("/")
        ):
            raise ConfigurationError("url_prefix must start with '/' and not end with one")
        if not (self.cookie_mode or self.body_mode):
            raise ConfigurationError("enable cookie_mode, body_mode, or both")
        if self.cookie_samesite not in ("strict", "lax", "none"):
            raise ConfigurationError("cookie_samesite must be 'strict', 'lax' or 'none'")
        if self.cookie_samesite == "none" and not self.cookie_secure:
            raise ConfigurationError("cookie_samesite='none' requires cookie_secure")
        if self.csrf_protection not in ("header", "double_submit"):
            raise ConfigurationError("csrf_protection must be 'header' or 'double_submit'")
        if self.session_ip not in ("plain", "truncated", "hashed", "off"):
            raise ConfigurationError("session_ip must be 'plain', 'truncated', 'hashed' or 'off'")
        if self.session_ip == "hashed" and len(self.session_ip_key or self.secret_key or "") < 32:
            raise ConfigurationError(
                "session_ip='hashed' needs a key of at least 32 characters: set "
                "session_ip_key (or secret_key)"
            )
        self._check_clients()
        for proxy in self.trusted_proxies:
            try:
                ipaddress.ip_network(proxy, strict=False)
            except ValueError:
                raise ConfigurationError(
                    f"trusted_proxies: {proxy!r} is not an IP address or network"
                ) from None

    def _check_clients(self) -> None:
        """Unique ids, a public default client, and overrides that make valid settings."""
        from .clients import ClientRegistry

        ids = [c.client_id for c in self.clients]
        duplicate = next((i for i in ids if ids.count(i) > 1), None)
        if duplicate is not None:
            raise ConfigurationError(f"clients: {duplicate!r} is registered twice")
        if self.default_client is not None:
            chosen = next((c for c in self.clients if c.client_id == self.default_client), None)
            if chosen is None:
                raise ConfigurationError(
                    f"default_client {self.default_client!r} names no registered client"
                )
            if chosen.confidential:
                raise ConfigurationError(
                    f"default_client {self.default_client!r} must be a public client: "
                    "a request that names no client presents no secret"
                )
        if self.clients:
            ClientRegistry(self)  # builds (and so validates) each client's settings

    def _migrate_grace_settings(self) -> None:
        """Map the settings of the old grace window onto ``retry_window``, with a warning.

        Both aliases are reset to None afterwards, so :meth:`replace` and
        ``repr`` carry ``retry_window`` alone and warn no second time.
        """
        if self.reuse_grace is not None:
            default = _RETRY_WINDOW_DEFAULT
            if self.retry_window not in (default, self.reuse_grace):
                raise ConfigurationError(
                    "reuse_grace is the deprecated name of retry_window: set retry_window only"
                )
            warnings.warn(
                "Settings.reuse_grace is deprecated: it is now retry_window, within which "
                "a retried refresh gets the same successor token back",
                DeprecationWarning,
                stacklevel=4,
            )
            object.__setattr__(self, "retry_window", self.reuse_grace)
            object.__setattr__(self, "reuse_grace", None)
        if self.max_grace_reuses is not None:
            warnings.warn(
                "Settings.max_grace_reuses is deprecated and ignored: a retried refresh "
                "gets the same successor token back, so no sibling tokens are counted",
                DeprecationWarning,
                stacklevel=4,
            )
            object.__setattr__(self, "max_grace_reuses", None)

    def __repr__(self) -> str:
        # Written out, not generated, only to mask store_url's password.
        shown = []
        for f in dataclasses.fields(self):
            if f.repr:
                value = getattr(self, f.name)
                if f.name == "store_url" and isinstance(value, str):
                    value = redact_url(value)
                shown.append(f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with ``changes`` applied (coerced and validated like any input)."""
        current = self._as_dict()
        if "reuse_grace" in changes and "retry_window" not in changes:
            del current["retry_window"]  # the deprecated alias names it
        return Settings.from_mapping({**current, **changes})

    def _as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any], *, prefix: str = "") -> Settings:
        """Build settings from a mapping, coercing strings to each field's type.

        With ``prefix`` (e.g. ``"REFRESHKIT_"``) only keys that start with it
        are read, case-insensitively, so a whole Flask config can be passed.
        An unknown key under the prefix is a :class:`ConfigurationError` (naming
        the likely setting): typos in a config must not pass silently.
        """
        hints = _field_types()
        values: dict[str, Any] = {}
        for key, raw in mapping.items():
            if prefix:
                if not key.upper().startswith(prefix.upper()):
                    continue
                key = key[len(prefix) :]
            name = key.lower()
            if name not in hints:
                raise ConfigurationError(
                    f"unknown setting {prefix}{key.upper()}{_hint(key, prefix)}"
                )
            values[name] = raw
        return cls(**values)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, prefix: str = "REFRESHKIT_"
    ) -> Settings:
        """Build settings from ``REFRESHKIT_*`` environment variables.

        The environment is shared with other tools (``REFRESHKIT_REQUIRE_SERVICES``
        for the test suite, say), so a variable that names no setting is ignored
        with a :class:`UserWarning` rather than refused; the warning names the
        setting a typo most likely meant. Any other problem is a
        :class:`ConfigurationError`.
        """
        source = os.environ if environ is None else environ
        known = _field_types()
        chosen: dict[str, str] = {}
        for key, value in source.items():
            if not key.upper().startswith(prefix.upper()):
                continue
            if key[len(prefix) :].lower() in known:
                chosen[key] = value
            else:
                hint = _hint(key[len(prefix) :], prefix)
                warnings.warn(f"{key} names no refreshkit setting{hint}; ignored", stacklevel=2)
        return cls.from_mapping(chosen, prefix=prefix)


def _hint(name: str, prefix: str) -> str:
    """``" (did you mean PREFIX_NAME?)"`` for the setting ``name`` is likely a typo of."""
    close = difflib.get_close_matches(name.lower(), _field_types(), n=1, cutoff=0.8)
    return f" (did you mean {prefix}{close[0].upper()}?)" if close else ""


@functools.cache
def _field_types() -> dict[str, Any]:
    hints = typing.get_type_hints(Settings)
    return {f.name: hints[f.name] for f in dataclasses.fields(Settings)}


def _coerce(name: str, hint: Any, raw: Any) -> Any:
    """Convert ``raw`` (often a string) to the field type ``hint``."""
    try:
        return _coerce_to(hint, raw)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"setting {name}: {exc}") from None


def _coerce_to(hint: Any, raw: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        empty = raw is None or (isinstance(raw, str) and raw.strip().lower() in ("", "none"))
        if empty and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce_to(inner[0], raw)
    if origin is Literal:
        if raw not in args:
            raise ValueError(f"expected one of {', '.join(map(repr, args))}, got {raw!r}")
        return raw
    if hint is timedelta:
        return parse_duration(raw)
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"expected a boolean, got {raw!r}")
    if hint is int:
        if isinstance(raw, bool):
            raise ValueError(f"expected an integer, got {raw!r}")
        return int(raw)
    if origin is tuple and args and args[0] is Client:
        return clients_from_config(raw)
    if origin is tuple:
        if isinstance(raw, tuple) and all(isinstance(p, str) for p in raw):
            return raw
        if isinstance(raw, str):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        return tuple(str(part) for part in raw)
    if hint is str:
        if not isinstance(raw, str):
            raise ValueError(f"expected a string, got {type(raw).__name__}")
        return raw
    raise TypeError(f"unsupported setting type {hint!r}")  # pragma: no cover
