"""The framework-free half of every adapter: requests in, RFC responses out.

Both the FastAPI and the Flask adapter call this module and nothing else
decides anything about HTTP: which request parameters are valid
(RFC 6749 §6, RFC 7009 §2.1), what a token response looks like
(RFC 6749 §5.1/§5.2), the ``WWW-Authenticate`` challenge (RFC 6750 §3), the
refresh and CSRF cookies, and which status every refreshkit error maps to.
It also reads the client's credentials (RFC 6749 §2.3.1) and decides
whether a request came over TLS. It does no I/O and calls no manager:
adapters make those calls themselves, with the sync or the async manager.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote_plus

from .. import _tokens
from ..clients import Client, ClientCredentials
from ..config import Settings
from ..errors import (
    ClientMismatchError,
    ConfigurationError,
    InsufficientScopeError,
    InsufficientUserAuthenticationError,
    InvalidClientError,
    InvalidScopeError,
    RefreshKitError,
    StoreError,
    TokenError,
)
from ..models import Session, SessionInfo, TokenPair

__all__ = [
    "DELIVERY_HEADER",
    "FORWARDING_HEADERS",
    "NO_STORE_HEADERS",
    "BadRequestError",
    "CappedBody",
    "Cookie",
    "HttpResponse",
    "IntrospectionRequest",
    "RefreshRequest",
    "RevocationRequest",
    "TokenDelivery",
    "access_error_response",
    "bearer_token",
    "check_cookie_names",
    "check_introspector",
    "check_tls",
    "choose_delivery",
    "client_address",
    "client_credentials",
    "csrf_cookie_name",
    "csrf_token_for",
    "ended_sessions_response",
    "introspection_response",
    "jwks_response",
    "script_response",
    "logout_response",
    "no_content_response",
    "not_found_response",
    "owns_session",
    "parse_fields",
    "read_introspection_request",
    "read_refresh_request",
    "read_revocation_request",
    "refresh_cookie_name",
    "refresh_cookie_path",
    "request_is_secure",
    "revocation_error_response",
    "revocation_response",
    "revocation_target",
    "session_view",
    "sessions_response",
    "token_error_response",
    "token_response",
]

#: Every response that carries a token, or an error about one, must not be cached
#: (RFC 6749 §5.1).
NO_STORE_HEADERS: tuple[tuple[str, str], ...] = (
    ("Cache-Control", "no-store"),
    ("Pragma", "no-cache"),
)
#: With cookie and body mode both on, a client sends ``X-Token-Delivery: body``
#: to receive the refresh token in the JSON body instead of a cookie at login.
DELIVERY_HEADER = "X-Token-Delivery"
#: Largest request body the token endpoints read: a refresh request is tiny.
MAX_BODY_BYTES = 16 * 1024
_CSRF_CONTEXT = b"refreshkit-csrf\x00"
#: RFC 6750 §2.1 ``b64token``: the only shape of bearer credentials.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
#: Cookie name prefixes (RFC 6265bis §4.1.3): browsers hold cookies named so to
#: their attributes, so a sibling subdomain or plain-HTTP page cannot plant them.
_HOST_PREFIX, _SECURE_PREFIX = "__Host-", "__Secure-"

TokenDelivery = Literal["cookie", "body"]


class BadRequestError(RefreshKitError):
    """The request itself is malformed: RFC 6749 §5.2 ``invalid_request`` (400).

    Also carries ``unsupported_grant_type`` and the CSRF refusal; the
    ``error_code`` says which.
    """

    error_code = "invalid_request"
    status_code = 400

    def __init__(self, message: str, *, error_code: str = "invalid_request") -> None:
        super().__init__(message)
        self.error_code = error_code


# --------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Cookie:
    """One ``Set-Cookie`` instruction; :meth:`header_value` renders it."""

    name: str
    value: str = field(repr=False)
    path: str
    max_age: int
    http_only: bool
    secure: bool
    samesite: str
    domain: str | None = None

    def header_value(self) -> str:
        """The ``Set-Cookie`` header value (RFC 6265), attributes in a fixed order."""
        parts = [f"{self.name}={self.value}", f"Path={self.path}", f"Max-Age={self.max_age}"]
        if self.max_age == 0:
            parts.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
        if self.domain:
            parts.append(f"Domain={self.domain}")
        if self.http_only:
            parts.append("HttpOnly")
        if self.secure:
            parts.append("Secure")
        parts.append(f"SameSite={self.samesite.capitalize()}")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A framework-neutral response: status, JSON body (or None), headers, cookies.

    A ``bytes`` body is sent as it is, as ``media_type`` (the browser script).
    """

    status: int
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    cookies: tuple[Cookie, ...] = ()
    media_type: str | None = None

    def header_items(self) -> list[tuple[str, str]]:
        """Every header including one ``Set-Cookie`` per cookie, for the framework to send."""
        items = list(self.headers)
        items.extend(("Set-Cookie", cookie.header_value()) for cookie in self.cookies)
        return items


@dataclass(frozen=True, slots=True)
class RefreshRequest:
    """A valid refresh request: the token, where it came from, and any narrower scope."""

    refresh_token: str = field(repr=False)
    delivery: TokenDelivery
    #: The ``scope`` parameter (None when omitted): at most the session's grant.
    scope: str | None = None


@dataclass(frozen=True, slots=True)
class RevocationRequest:
    """A valid RFC 7009 revocation request."""

    token: str = field(repr=False)
    token_type_hint: str | None = None


@dataclass(frozen=True, slots=True)
class IntrospectionRequest:
    """A valid RFC 7662 §2.1 introspection request (the hint is read, never trusted)."""

    token: str = field(repr=False)
    token_type_hint: str | None = None


# ------------------------------------------------------------------- parsing


class CappedBody:
    """A request body read chunk by chunk, refused as soon as it outgrows the cap.

    The declared ``Content-Length`` is checked up front, so an oversized
    body is refused before a byte of it is read; a body without one
    (chunked) is refused at the first chunk past :data:`MAX_BODY_BYTES`.
    An adapter feeds it what its framework's request stream yields.
    """

    __slots__ = ("_chunks", "_size")

    def __init__(self, content_length: str | None) -> None:
        """Raises :class:`BadRequestError` for a declared length that is malformed or too large."""
        if content_length is not None and content_length.strip():
            declared = content_length.strip()
            if not declared.isdigit() or not declared.isascii():
                raise BadRequestError("malformed Content-Length")
            if int(declared) > MAX_BODY_BYTES:
                raise BadRequestError("request body too large")
        self._chunks: list[bytes] = []
        self._size = 0

    def read_size(self) -> int:
        """How much to read next: one byte past the cap at most, enough to notice it."""
        return MAX_BODY_BYTES + 1 - self._size

    def feed(self, chunk: bytes) -> None:
        """Add a chunk. Raises :class:`BadRequestError` once the body is too large."""
        self._size += len(chunk)
        if self._size > MAX_BODY_BYTES:
            raise BadRequestError("request body too large")
        self._chunks.append(chunk)

    def value(self) -> bytes:
        """The whole body read so far."""
        return b"".join(self._chunks)


class _DuplicateKeyError(ValueError):
    """A JSON object names one key twice."""


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Forms refuse a repeated parameter (RFC 6749 §3.2); JSON must not let the
    # last one win instead, or the two parsers would disagree about a request.
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKeyError
        obj[key] = value
    return obj


def parse_fields(content_type: str | None, body: bytes) -> dict[str, str]:
    """The parameters of a token-endpoint request body, form-encoded or JSON.

    An empty body is no parameters. Raises :class:`BadRequestError` for a
    body too large, undecodable, of another media type, a JSON value that is
    not an object of strings (or nested too deep to parse), or a parameter
    given twice, in either format (RFC 6749 §3.2).
    """
    if not body:
        return {}
    if len(body) > MAX_BODY_BYTES:
        raise BadRequestError("request body too large")
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequestError("request body is not UTF-8") from None
    if media_type == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            raise BadRequestError("malformed form body") from None
        fields: dict[str, str] = {}
        for name, value in pairs:
            if name in fields:
                raise BadRequestError("a parameter is given more than once")
            fields[name] = value
        return fields
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            data = json.loads(text, object_pairs_hook=_object_without_duplicates)
        except _DuplicateKeyError:
            raise BadRequestError("a parameter is given more than once") from None
        except RecursionError:
            raise BadRequestError("JSON body nested too deeply") from None
        except ValueError:
            raise BadRequestError("malformed JSON body") from None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise BadRequestError("the JSON body must be an object of string parameters")
        return dict(data)
    raise BadRequestError("send application/x-www-form-urlencoded or application/json")


def read_refresh_request(
    fields: Mapping[str, str],
    cookies: Mapping[str, str],
    headers: Mapping[str, str],
    settings: Settings,
) -> RefreshRequest:
    """Validate a refresh request (RFC 6749 §6) and find its refresh token.

    The token comes from the ``refresh_token`` parameter (body mode) or the
    refresh cookie (cookie mode, which then requires the CSRF proof). A
    cookie-mode request may omit the body entirely. ``scope`` (RFC 6749 §6)
    is passed on for the manager to narrow the new access token's scope
    within the session's grant. ``settings`` are those of the authenticated
    client (its cookie or body mode). Raises :class:`BadRequestError`
    (``invalid_request``, ``unsupported_grant_type``).
    """
    # A parameter sent without a value counts as omitted (RFC 6749 §3.2).
    grant_type = fields.get("grant_type") or None
    if grant_type is None and fields:
        raise BadRequestError("missing grant_type")
    if grant_type is not None and grant_type != "refresh_token":
        raise BadRequestError(
            "only grant_type=refresh_token is supported here",
            error_code="unsupported_grant_type",
        )
    scope = fields.get("scope") or None
    if "refresh_token" in fields:
        if not settings.body_mode:
            raise BadRequestError("refresh tokens are accepted only in the cookie here")
        token = fields["refresh_token"]
        if not token:
            raise BadRequestError("empty refresh_token")
        return RefreshRequest(token, "body", scope)
    cookie_token = cookies.get(refresh_cookie_name(settings)) if settings.cookie_mode else None
    if cookie_token:
        check_csrf(cookie_token, cookies, headers, settings)
        return RefreshRequest(cookie_token, "cookie", scope)
    raise BadRequestError("missing refresh_token")


def read_revocation_request(fields: Mapping[str, str]) -> RevocationRequest:
    """Validate an RFC 7009 §2.1 request: ``token`` required, ``token_type_hint`` optional.

    An unknown hint is ignored, as §2.1 allows. Raises :class:`BadRequestError`.
    """
    token = fields.get("token")
    if not token:
        raise BadRequestError("missing token")
    return RevocationRequest(token, fields.get("token_type_hint") or None)


def read_introspection_request(fields: Mapping[str, str]) -> IntrospectionRequest:
    """Validate an RFC 7662 §2.1 request: ``token`` required, ``token_type_hint`` optional.

    The hint is kept but never decides anything: the token's format does.
    Raises :class:`BadRequestError`.
    """
    token = fields.get("token")
    if not token:
        raise BadRequestError("missing token")
    return IntrospectionRequest(token, fields.get("token_type_hint") or None)


def revocation_target(request: RevocationRequest) -> Literal["refresh_token", "access_token"]:
    """Which kind of token a revocation names.

    Refresh tokens carry the ``rk_`` prefix and access tokens are JWTs, so the
    format decides and ``token_type_hint`` can never mislead it.
    """
    return "refresh_token" if request.token.startswith(_tokens.PREFIX) else "access_token"


def bearer_token(authorization: str | Sequence[str] | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (RFC 6750 §2.1), or None.

    ``authorization`` is the header's value, or every value when the
    framework keeps repeated headers apart. None means no bearer credentials
    (an absent header or another scheme). Raises :class:`BadRequestError`
    for more than one ``Authorization`` header (kept apart, or joined with
    commas as WSGI servers do), or a Bearer header that is malformed.
    """
    values = [authorization] if isinstance(authorization, str) else list(authorization or ())
    values = [v for v in values if v.strip()]
    if not values:
        return None
    if len(values) > 1:
        raise BadRequestError("more than one Authorization header")
    scheme, _, credentials = values[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        joined = values[0].split(",")[1:]
        if any(part.strip().lower().partition(" ")[0] == "bearer" for part in joined):
            raise BadRequestError("more than one Authorization header")
        return None
    credentials = credentials.strip()
    if not _B64TOKEN.fullmatch(credentials):
        raise BadRequestError("malformed Authorization: Bearer header")
    return credentials


def choose_delivery(
    headers: Mapping[str, str], settings: Settings, requested: TokenDelivery | None = None
) -> TokenDelivery:
    """Where a login hands out the refresh token: the cookie or the JSON body.

    ``settings`` are the client's (``manager.clients.settings_for``), whose
    ``delivery`` may restrict the modes. ``requested`` (from the
    application) wins; otherwise the only enabled mode; with both enabled,
    the cookie, unless the client sends ``X-Token-Delivery: body``. Raises
    :class:`ConfigurationError` when the requested mode is disabled.
    """
    if requested is None:
        if not settings.cookie_mode:
            requested = "body"
        elif not settings.body_mode:
            requested = "cookie"
        else:
            asked = _header(headers, DELIVERY_HEADER).strip().lower()
            requested = "body" if asked == "body" else "cookie"
    enabled = settings.cookie_mode if requested == "cookie" else settings.body_mode
    if not enabled:
        raise ConfigurationError(f"{requested} delivery of refresh tokens is disabled")
    return requested


# ------------------------------------------------------- client authentication


def client_credentials(
    authorization: str | Sequence[str] | None, fields: Mapping[str, str]
) -> ClientCredentials | None:
    """What the request presented to authenticate its client (RFC 6749 §2.3.1), or None.

    ``Authorization: Basic`` is ``client_secret_basic``; ``client_id`` and
    ``client_secret`` body parameters are ``client_secret_post``; a
    ``client_id`` alone identifies a public client (method ``none``). Other
    ``Authorization`` schemes are not client credentials and are ignored.
    A body ``client_id`` beside Basic is allowed when it names the same
    client. Raises :class:`BadRequestError` for two methods at once or a
    ``client_secret`` without ``client_id``, and
    :class:`~refreshkit.errors.InvalidClientError` for malformed Basic
    credentials.
    """
    basic = _basic_credentials(authorization)
    client_id = fields.get("client_id") or None
    secret = fields.get("client_secret") or None
    if basic is not None:
        if secret is not None or (client_id is not None and client_id != basic.client_id):
            raise BadRequestError("use one client authentication method, not two")
        return basic
    if secret is not None:
        if client_id is None:
            raise BadRequestError("client_secret without client_id")
        return ClientCredentials(client_id, secret, "client_secret_post")
    return ClientCredentials(client_id) if client_id is not None else None


def _basic_credentials(authorization: str | Sequence[str] | None) -> ClientCredentials | None:
    """``Authorization: Basic`` client credentials, or None for no header or another scheme."""
    values = [authorization] if isinstance(authorization, str) else list(authorization or ())
    values = [v.strip() for v in values if v.strip()]
    basics = [v for v in values if v.partition(" ")[0].lower() == "basic"]
    if not basics:
        return None
    if len(values) > 1:
        raise BadRequestError("more than one Authorization header")
    encoded = basics[0].partition(" ")[2].strip()
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise InvalidClientError("malformed Authorization: Basic credentials") from None
    raw_id, colon, raw_secret = decoded.partition(":")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
    if not colon or not client_id or not secret:
        raise InvalidClientError("malformed Authorization: Basic credentials")
    return ClientCredentials(client_id, secret, "client_secret_basic")


def check_introspector(client: Client | None) -> None:
    """Only a registered client allowed to introspect may (RFC 7662 §2.1).

    ``client`` is the authenticated one (None: the implicit client, which
    nobody may introspect as). Raises
    :class:`~refreshkit.errors.InvalidClientError`.
    """
    if client is None or not client.introspection:
        raise InvalidClientError("this client may not introspect tokens")


# ------------------------------------------------------------------------ TLS

#: Headers a proxy adds: their presence means the peer is not the real client.
FORWARDING_HEADERS: tuple[str, ...] = ("Forwarded", "X-Forwarded-Proto", "X-Forwarded-For")
_TLS_REQUIRED = (
    "TLS is required here: use https, or set trusted_proxies (behind a TLS-terminating "
    "proxy) or require_tls=false"
)


def request_is_secure(
    scheme: str, peer: str | None, headers: Mapping[str, str], settings: Settings
) -> bool:
    """Whether a token-endpoint request travelled over TLS (RFC 6749 §3.2, RFC 7009 §2).

    ``scheme`` is what the server saw, ``peer`` the direct peer's address and
    ``headers`` the request's (at least :data:`FORWARDING_HEADERS`, repeated
    values joined with commas). Forwarded headers are believed only from a
    peer in ``trusted_proxies``; there the last hop's ``proto`` decides. A
    loopback peer (local development) passes unless it forwards for someone
    else. With ``require_tls`` off everything passes.
    """
    if not settings.require_tls:
        return True
    address = _ip(peer)
    if address is not None and _trusted(address, tuple(settings.trusted_proxies)):
        forwarded = _forwarded_proto(headers)
        if forwarded is not None:
            return forwarded == "https"
    if scheme.lower() == "https":
        return True
    forwarding = any(_header(headers, name).strip() for name in FORWARDING_HEADERS)
    return address is not None and address.is_loopback and not forwarding


def check_tls(
    scheme: str, peer: str | None, headers: Mapping[str, str], settings: Settings
) -> None:
    """Refuse a plain-HTTP request: :class:`BadRequestError` naming the fix."""
    if not request_is_secure(scheme, peer, headers, settings):
        raise BadRequestError(_TLS_REQUIRED)


def client_address(peer: str | None, headers: Mapping[str, str], settings: Settings) -> str | None:
    """The client's IP address, as a session records it at login.

    The direct peer, unless it is in ``trusted_proxies`` (the rule
    :func:`request_is_secure` follows): then the forwarding chain
    (``Forwarded: for=`` of RFC 7239 first, else ``X-Forwarded-For``) is
    read from its nearest hop back, skipping trusted proxies, and the first
    address that is not one is the client. None when there is no address.
    """
    address = _ip(peer)
    if address is None:
        return None
    proxies = tuple(settings.trusted_proxies)
    if not _trusted(address, proxies):
        return str(address)
    for hop in reversed(_forwarded_for(headers)):
        forwarded = _ip(hop)
        if forwarded is None:
            return None  # an obfuscated or unknown hop: the client cannot be named
        if not _trusted(forwarded, proxies):
            return str(forwarded)
        address = forwarded
    return str(address)


def _forwarded_for(headers: Mapping[str, str]) -> list[str]:
    """The addresses a forwarding chain names, the client first."""
    forwarded = _header(headers, "Forwarded").strip()
    if forwarded:
        hops: list[str] = []
        for hop in forwarded.split(","):
            for pair in hop.split(";"):
                name, _, value = pair.partition("=")
                if name.strip().lower() == "for":
                    node = value.strip().strip('"')
                    if node.startswith("["):  # [v6]:port
                        node = node[1:].partition("]")[0]
                    elif node.count(":") == 1:  # v4:port
                        node = node.partition(":")[0]
                    hops.append(node)
        return hops
    return [hop.strip() for hop in _header(headers, "X-Forwarded-For").split(",") if hop.strip()]


IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _ip(peer: str | None) -> IpAddress | None:
    """The peer as an IP address (IPv4-mapped IPv6 unwrapped), or None when it is none."""
    try:
        address = ipaddress.ip_address((peer or "").strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@functools.lru_cache(maxsize=32)
def _networks(
    proxies: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _trusted(address: IpAddress, proxies: tuple[str, ...]) -> bool:
    return any(address in network for network in _networks(proxies))


def _forwarded_proto(headers: Mapping[str, str]) -> str | None:
    """The protocol the nearest proxy received: ``Forwarded`` (RFC 7239) first, else XFP."""
    forwarded = _header(headers, "Forwarded").strip()
    if forwarded:
        last_hop = forwarded.split(",")[-1]
        for pair in last_hop.split(";"):
            name, _, value = pair.partition("=")
            if name.strip().lower() == "proto":
                return value.strip().strip('"').lower()
        return None
    last = _header(headers, "X-Forwarded-Proto").split(",")[-1].strip().lower()
    return last or None


# ---------------------------------------------------------------------- CSRF


def csrf_token_for(refresh_token: str) -> str:
    """The double-submit CSRF token bound to one refresh token.

    Derived (one-way, domain-separated) from the refresh token, so a cookie
    planted by a sibling subdomain cannot match it, and it rotates with it.
    """
    digest = hashlib.sha256(_CSRF_CONTEXT + refresh_token.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode("ascii")


def check_csrf(
    refresh_token: str,
    cookies: Mapping[str, str],
    headers: Mapping[str, str],
    settings: Settings,
) -> None:
    """Require the CSRF proof that must accompany a refresh cookie.

    ``header`` mode: the custom header is present (a cross-site page cannot
    send it without a CORS preflight the server never grants).
    ``double_submit``: the header equals the CSRF cookie and both match the
    refresh token. Raises :class:`BadRequestError` (``invalid_request``).
    """
    presented = _header(headers, settings.csrf_header_name)
    if not presented:
        raise BadRequestError(f"missing CSRF header {settings.csrf_header_name}")
    if settings.csrf_protection == "header":
        return
    expected = csrf_token_for(refresh_token).encode("ascii")
    cookie_value = cookies.get(csrf_cookie_name(settings), "").encode("utf-8", "replace")
    header_ok = hmac.compare_digest(presented.encode("utf-8", "replace"), expected)
    cookie_ok = hmac.compare_digest(cookie_value, expected)
    if not (header_ok and cookie_ok):
        raise BadRequestError("CSRF token does not match")


# ------------------------------------------------------------------- cookies


def refresh_cookie_path(settings: Settings) -> str:
    """The refresh cookie's ``Path``: the refresh endpoint and nothing else."""
    return f"{settings.url_prefix}/token/refresh"


_DEFAULT_NAMES = {
    "cookie_name": Settings.__dataclass_fields__["cookie_name"].default,
    "csrf_cookie_name": Settings.__dataclass_fields__["csrf_cookie_name"].default,
}


def _cookie_name(setting: str, path: str, settings: Settings) -> str:
    """A cookie's name as sent: a default name gets the strongest prefix its attributes allow.

    ``__Host-`` needs ``Secure``, no ``Domain`` and ``Path=/``; ``__Secure-``
    needs ``Secure``. Without ``Secure`` (plain-HTTP development) browsers
    drop prefixed cookies, so the default name goes bare. A name the
    application chose is sent exactly as given.
    """
    name: str = getattr(settings, setting)
    if name != _DEFAULT_NAMES[setting] or not settings.cookie_secure:
        return name
    if not settings.cookie_domain and path == "/":
        return _HOST_PREFIX + name
    return _SECURE_PREFIX + name


def refresh_cookie_name(settings: Settings) -> str:
    """The refresh cookie's name: ``__Secure-refresh_token`` by default over HTTPS.

    Never ``__Host-``: that prefix requires ``Path=/``, which would send the
    refresh token with every request to the site.
    """
    return _cookie_name("cookie_name", refresh_cookie_path(settings), settings)


def csrf_cookie_name(settings: Settings) -> str:
    """The double-submit CSRF cookie's name: ``__Host-refresh_csrf`` by default over HTTPS."""
    return _cookie_name("csrf_cookie_name", "/", settings)


def check_cookie_names(settings: Settings) -> None:
    """Refuse cookie names that browsers would silently drop (RFC 6265bis §4.1.3).

    A name the application gave a ``__Host-`` or ``__Secure-`` prefix must
    have the attributes that prefix demands. Adapters call this when they
    are built. Raises :class:`~refreshkit.errors.ConfigurationError`.
    """
    if not settings.cookie_mode:
        return
    cookies = [(refresh_cookie_name(settings), refresh_cookie_path(settings), "cookie_name")]
    if settings.csrf_protection == "double_submit":
        cookies.append((csrf_cookie_name(settings), "/", "csrf_cookie_name"))
    for name, path, setting in cookies:
        lowered = name.lower()
        host = lowered.startswith(_HOST_PREFIX.lower())
        if (host or lowered.startswith(_SECURE_PREFIX.lower())) and not settings.cookie_secure:
            raise ConfigurationError(f"{setting}: a prefixed cookie name requires cookie_secure")
        if host and (settings.cookie_domain or path != "/"):
            raise ConfigurationError(
                f"{setting}: a __Host- cookie must have Path=/ and no cookie_domain"
            )


def _cookies_for(
    refresh_token: str | None, expires_at: datetime | None, now: datetime, settings: Settings
) -> tuple[Cookie, ...]:
    """Set (with a token) or clear (without) the refresh cookie and its CSRF cookie."""
    max_age, value, csrf_value = 0, "", ""
    if refresh_token is not None and expires_at is not None:
        max_age = max(0, int((expires_at - now).total_seconds()))
        value, csrf_value = refresh_token, csrf_token_for(refresh_token)
    refresh = Cookie(
        name=refresh_cookie_name(settings),
        value=value,
        path=refresh_cookie_path(settings),
        max_age=max_age,
        http_only=True,
        secure=settings.cookie_secure,
        samesite=settings.cookie_samesite,
        domain=settings.cookie_domain,
    )
    if settings.csrf_protection != "double_submit":
        return (refresh,)
    csrf = Cookie(
        name=csrf_cookie_name(settings),
        value=csrf_value,
        path="/",
        max_age=max_age,
        http_only=False,  # the page's script reads it and echoes it in the header
        secure=settings.cookie_secure,
        samesite=settings.cookie_samesite,
        domain=settings.cookie_domain,
    )
    return (refresh, csrf)


# ----------------------------------------------------------------- responses


def token_response(
    pair: TokenPair, delivery: TokenDelivery, now: datetime, settings: Settings
) -> HttpResponse:
    """RFC 6749 §5.1: the new pair as JSON, ``no-store``.

    With cookie delivery the refresh token goes only into the HttpOnly
    cookie (the body omits it, as §5.1 allows) so page scripts never see it.
    """
    body = pair.to_response()
    cookies: tuple[Cookie, ...] = ()
    if delivery == "cookie":
        body.pop("refresh_token")
        cookies = _cookies_for(pair.refresh_token, pair.refresh_expires_at, now, settings)
    return HttpResponse(200, body, NO_STORE_HEADERS, cookies)


def logout_response(settings: Settings) -> HttpResponse:
    """204, clearing the refresh and CSRF cookies when cookie mode is on."""
    cookies = _cookies_for(None, None, datetime.min, settings) if settings.cookie_mode else ()
    return HttpResponse(204, None, NO_STORE_HEADERS, cookies)


def no_content_response() -> HttpResponse:
    """204 for a state change that returns nothing (ending a session)."""
    return HttpResponse(204, None, NO_STORE_HEADERS)


def not_found_response(description: str) -> HttpResponse:
    """404 in the same error shape as everything else."""
    return _oauth_error(404, "not_found", description)


def owns_session(sessions: Iterable[Session], sid: str) -> bool:
    """Whether ``sid`` is among the signed-in user's own live sessions.

    Another user's session must be indistinguishable from one that does not
    exist, so callers answer 404 for both.
    """
    return any(s.sid == sid for s in sessions)


def introspection_response(answer: Mapping[str, Any]) -> HttpResponse:
    """RFC 7662 §2.2: the manager's answer as JSON, never cached."""
    return HttpResponse(200, dict(answer), NO_STORE_HEADERS)


def revocation_response() -> HttpResponse:
    """RFC 7009 §2.2: 200 with an empty body, whether or not the token was known."""
    return HttpResponse(200, None, NO_STORE_HEADERS)


def jwks_response(jwks: Mapping[str, Any]) -> HttpResponse:
    """The JWKS document; cacheable briefly so verifiers pick up rotated keys soon."""
    return HttpResponse(200, dict(jwks), (("Cache-Control", "public, max-age=300"),))


@functools.cache
def _script() -> tuple[bytes, str]:
    """The browser script shipped in the package, and its strong ETag."""
    source = (resources.files("refreshkit") / "static" / "refreshkit.js").read_bytes()
    return source, '"' + hashlib.sha256(source).hexdigest()[:32] + '"'


#: The script is public and changes only with the package: cached a day, then revalidated.
SCRIPT_CACHE_CONTROL = "public, max-age=86400"


def script_response(if_none_match: Sequence[str] = ()) -> HttpResponse:
    """``GET <prefix>/refreshkit.js``: the browser script, with an ETag (304 when it matches).

    ``Access-Control-Allow-Origin: *`` lets a page on another origin load it
    as a module (it is the same public file for everyone; no credentials).
    """
    source, etag = _script()
    headers = (
        ("Cache-Control", SCRIPT_CACHE_CONTROL),
        ("ETag", etag),
        ("X-Content-Type-Options", "nosniff"),
        ("Access-Control-Allow-Origin", "*"),
    )
    presented = {tag.strip() for value in if_none_match for tag in value.split(",")}
    if etag in presented or "*" in presented:
        return HttpResponse(304, None, headers)
    return HttpResponse(200, source, headers, media_type="application/javascript; charset=utf-8")


def session_view(session: SessionInfo) -> dict[str, Any]:
    """What a user may see of one of their sessions (no hashes, no claims), as JSON."""
    return {
        "sid": session.sid,
        "created_at": session.created_at.isoformat(),
        "last_used_at": session.last_used_at.isoformat(),
        "expires_at": session.expires_at.isoformat(),
        "scope": session.scope,
        "current": session.current,
        "user_agent": session.user_agent,
        "ip": session.client_ip,
        "device_label": session.device_label,
        "client_id": session.client_id,
    }


def sessions_response(sessions: Iterable[SessionInfo]) -> HttpResponse:
    """The signed-in user's live sessions (a device list), the current one flagged."""
    body = {"sessions": [session_view(s) for s in sessions]}
    return HttpResponse(200, body, NO_STORE_HEADERS)


def ended_sessions_response(count: int) -> HttpResponse:
    """200 with how many sessions "sign out other devices" ended."""
    return HttpResponse(200, {"ended": count}, NO_STORE_HEADERS)


def _oauth_error(
    status: int, error: str, description: str, headers: tuple[tuple[str, str], ...] = ()
) -> HttpResponse:
    # RFC 6749 §5.2 limits error_description to %x20-21 / %x23-5B / %x5D-7E.
    body = {"error": error, "error_description": _quotable(description)}
    return HttpResponse(status, body, NO_STORE_HEADERS + headers)


def _unavailable(exc: StoreError) -> HttpResponse:
    # Never 401: a store outage must not look like a bad token and log users out.
    retry = (("Retry-After", str(max(1, exc.retry_after))),)
    return _oauth_error(503, "temporarily_unavailable", "token store unavailable", retry)


def token_error_response(exc: Exception, *, realm: str = "refreshkit") -> HttpResponse:
    """The RFC 6749 §5.2 answer of the token, revocation and introspection endpoints.

    Refused refresh tokens (another client's too) are ``400 invalid_grant``;
    malformed requests ``400 invalid_request`` / ``unsupported_grant_type``;
    a scope beyond the grant ``400 invalid_scope``; failed client
    authentication ``401 invalid_client`` with a ``Basic`` challenge; a
    store outage ``503`` with ``Retry-After``; anything else ``500``.
    """
    if isinstance(exc, BadRequestError):
        return _oauth_error(400, exc.error_code, exc.message)
    if isinstance(exc, InvalidClientError):
        challenge = (("WWW-Authenticate", f'Basic realm="{_quotable(realm)}"'),)
        return _oauth_error(401, "invalid_client", exc.message, challenge)
    if isinstance(exc, InvalidScopeError):
        return _oauth_error(400, "invalid_scope", exc.message)
    if isinstance(exc, StoreError):
        return _unavailable(exc)
    if isinstance(exc, TokenError):
        return _oauth_error(400, "invalid_grant", exc.message)
    return _oauth_error(500, "server_error", "the server could not process the request")


def revocation_error_response(exc: Exception, *, realm: str = "refreshkit") -> HttpResponse:
    """The revocation endpoint's errors: as :func:`token_error_response`, and one more.

    A token issued to another client is refused (RFC 7009 §2.1) with
    ``400 unauthorized_client``; the token stays valid for its own client.
    """
    if isinstance(exc, ClientMismatchError):
        return _oauth_error(400, "unauthorized_client", "the token was issued to another client")
    return token_error_response(exc, realm=realm)


def access_error_response(exc: Exception | None, *, realm: str = "refreshkit") -> HttpResponse:
    """The RFC 6750 §3 answer of a protected resource; ``exc`` None means no credentials.

    No credentials: 401 with a bare ``Bearer`` challenge (§3.1 says no error
    code then). Refused token: 401 ``invalid_token``. Missing scope: 403
    ``insufficient_scope`` naming the scope needed. An authentication too
    long ago for the route: 401 ``insufficient_user_authentication`` with
    ``max_age`` (RFC 9470 §3). Malformed header: 400 ``invalid_request``.
    Store outage: 503 with ``Retry-After``, never 401.
    """
    if isinstance(exc, StoreError):
        return _unavailable(exc)
    if exc is None:
        # RFC 6750 §3.1: no error code when the request carried no credentials,
        # in the challenge or in the body.
        bare = (("WWW-Authenticate", f'Bearer realm="{realm}"'),)
        body = {"error_description": "an access token is required"}
        return HttpResponse(401, body, NO_STORE_HEADERS + bare)
    if isinstance(exc, BadRequestError):
        error, status = "invalid_request", 400
    elif isinstance(exc, InsufficientScopeError):
        error, status = "insufficient_scope", 403
    elif isinstance(exc, InsufficientUserAuthenticationError):
        error, status = "insufficient_user_authentication", 401
    elif isinstance(exc, TokenError):
        error, status = "invalid_token", 401
    else:
        return _oauth_error(500, "server_error", "the server could not process the request")
    description = _quotable(exc.message if isinstance(exc, RefreshKitError) else str(exc))
    challenge = f'Bearer realm="{realm}", error="{error}", error_description="{description}"'
    if isinstance(exc, InsufficientScopeError) and exc.required:
        challenge += f', scope="{" ".join(sorted(exc.required))}"'
    if isinstance(exc, InsufficientUserAuthenticationError) and exc.max_age is not None:
        # RFC 9470 §3 writes the auth-param quoted, as its example does.
        challenge += f', max_age="{int(exc.max_age)}"'
    return _oauth_error(status, error, description, (("WWW-Authenticate", challenge),))


def _quotable(text: str) -> str:
    """Text in the RFC 6749 §5.2 / RFC 6750 §3 character set: printable ASCII, no quote/backslash.

    Also safe inside the challenge's quoted-string.
    """
    return "".join(c for c in text if 0x20 <= ord(c) < 0x7F and c not in '"\\')


def _header(headers: Mapping[str, str], name: str) -> str:
    """A header's value by case-insensitive name ('' when absent), for any mapping."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), "")
    return value
