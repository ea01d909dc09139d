"""Every endpoint flow, written once: sans-I/O generators that any adapter drives.

A flow reads a framework-neutral :class:`HttpRequest`, decides everything
with :mod:`._http`, and *yields* each manager call it needs as a
:class:`Call`; a driver performs the call on a manager and sends the result
back (or throws its exception in, so the flow itself maps errors to RFC
responses). The flow *returns* an :class:`~._http.HttpResponse` (the
protected-route check returns the claims, or its refusal)::

    response = run_sync(refresh(request, context, device=None), manager)
    response = await run_async(refresh(request, context, device=None), async_manager)

So sync and async adapters share one flow, and an adapter is only a
translation: its framework's request into :class:`HttpRequest`, the
result into its framework's response.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import re
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from ..clients import ClientRegistry
from ..clock import Clock
from ..config import Settings
from ..errors import RefreshKitError
from ..keys import KeySet
from ..models import AccessClaims, TokenPair
from . import _http

__all__ = [
    "ENDPOINTS",
    "Call",
    "Endpoint",
    "EndpointFlow",
    "Flow",
    "FlowContext",
    "HttpRequest",
    "access",
    "end_other_sessions",
    "end_session",
    "introspect",
    "jwks",
    "list_sessions",
    "login",
    "logout",
    "refresh",
    "revoke",
    "run_async",
    "browser_script",
    "run_sync",
]

T = TypeVar("T")
#: A flow: yields :class:`Call` effects, is sent their results, returns ``T``.
Flow = Generator["Call", Any, T]


class EndpointFlow(Protocol):
    """The shape every endpoint's flow shares, so one table drives them all.

    ``online`` and ``device`` say how a signed-in user's access token is
    checked (the token endpoints take the device only, for refresh binding;
    the rest ignore what they do not need).
    """

    def __call__(
        self,
        request: HttpRequest,
        context: FlowContext,
        *,
        online: bool = False,
        device: str | None = None,
    ) -> Flow[_http.HttpResponse]: ...


# --------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """What a flow may know of a request, whatever framework received it.

    ``headers`` keeps repeated headers apart, in order. ``body`` is what
    the adapter read under :class:`~._http.CappedBody`'s cap; when that
    read was refused, ``body_refusal`` holds the refusal, raised only once
    the flow asks for the parameters (after the TLS check).
    """

    method: str
    scheme: str
    peer: str | None
    headers: tuple[tuple[str, str], ...] = ()
    cookies: Mapping[str, str] = field(default_factory=dict)
    body: bytes = field(default=b"", repr=False)
    content_type: str | None = None
    body_refusal: _http.BadRequestError | None = None
    #: The route's parameters (``sid`` of ``DELETE <prefix>/sessions/<sid>``).
    path_params: Mapping[str, str] = field(default_factory=dict)

    def header_values(self, name: str) -> list[str]:
        """Every value of one header (case-insensitive), in the order received."""
        lowered = name.lower()
        return [value for key, value in self.headers if key.lower() == lowered]

    def header_map(self) -> dict[str, str]:
        """Lower-cased name -> value, repeated values joined with commas (RFC 9110 §5.3)."""
        joined: dict[str, list[str]] = {}
        for key, value in self.headers:
            joined.setdefault(key.lower(), []).append(value)
        return {key: ", ".join(values) for key, values in joined.items()}

    def fields(self) -> dict[str, str]:
        """The body's parameters. Raises :class:`~._http.BadRequestError`."""
        if self.body_refusal is not None:
            raise self.body_refusal
        return _http.parse_fields(self.content_type, self.body)


class _Manager(Protocol):
    settings: Settings
    clients: ClientRegistry
    keys: KeySet
    clock: Clock


@dataclass(frozen=True, slots=True)
class FlowContext:
    """The manager's parts a flow reads without I/O, and the challenge's realm.

    Flows never call the manager; they read its settings, registered
    clients, keys and clock from here and yield every other call.
    """

    settings: Settings
    clients: ClientRegistry
    keys: KeySet
    clock: Clock
    realm: str = "refreshkit"

    @classmethod
    def of(cls, manager: _Manager, realm: str = "refreshkit") -> FlowContext:
        """The context of a :class:`~refreshkit.TokenManager` or an async one."""
        return cls(manager.settings, manager.clients, manager.keys, manager.clock, realm)


@dataclass(frozen=True, slots=True)
class Call:
    """One manager call a flow needs: ``manager.<name>(*args, **kwargs)``.

    ``name`` may be dotted (``"clients.authenticate"``). ``blocking`` marks
    CPU-heavy work (a secret's scrypt hash) the async driver runs in a
    thread so the event loop keeps serving.
    """

    name: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    blocking: bool = False

    def bound_to(self, manager: object) -> functools.partial[Any]:
        """The call, ready to run on ``manager``."""
        target: Any = manager
        for part in self.name.split("."):
            target = getattr(target, part)
        return functools.partial(target, *self.args, **self.kwargs)


def _call(name: str, *args: Any, **kwargs: Any) -> Call:
    return Call(name, args, kwargs)


# -------------------------------------------------------------------- drivers


def run_sync(flow: Flow[T], manager: object) -> T:
    """Drive ``flow`` with a sync :class:`~refreshkit.TokenManager`; return its result.

    A call's exception is thrown into the flow; whatever the flow does not
    catch propagates.
    """
    try:
        step = flow.send
        value: Any = None
        while True:
            try:
                call = step(value)
            except StopIteration as done:
                result: T = done.value
                return result
            try:
                value, step = call.bound_to(manager)(), flow.send
            except Exception as exc:  # handed to the flow, which decides
                value, step = exc, flow.throw
    finally:
        flow.close()


async def run_async(flow: Flow[T], manager: object) -> T:
    """Drive ``flow`` with an :class:`~refreshkit.AsyncTokenManager`; return its result.

    Coroutine results are awaited; ``blocking`` calls run in a worker
    thread. A call's exception is thrown into the flow.
    """
    try:
        step = flow.send
        value: Any = None
        while True:
            try:
                call = step(value)
            except StopIteration as done:
                result: T = done.value
                return result
            try:
                bound = call.bound_to(manager)
                value = await asyncio.to_thread(bound) if call.blocking else bound()
                if inspect.isawaitable(value):
                    value = await value
                step = flow.send
            except Exception as exc:  # handed to the flow, which decides
                value, step = exc, flow.throw
    finally:
        flow.close()


# ---------------------------------------------------------------- the checks


def access(
    request: HttpRequest,
    context: FlowContext,
    *,
    scopes: Iterable[str] = (),
    online: bool = False,
    device: str | None = None,
    max_age: timedelta | int | None = None,
) -> Flow[AccessClaims | _http.HttpResponse]:
    """A protected route's check (RFC 6750): the verified claims, or the refusal to send.

    ``online`` also asks the store whether the token was revoked; ``max_age``
    requires an authentication that recent (RFC 9470: a 401 challenge with
    ``insufficient_user_authentication`` otherwise).
    """
    try:
        token = _http.bearer_token(request.header_values("authorization"))
        if token is None:
            return _http.access_error_response(None, realm=context.realm)
        verify = "verify_access_online" if online else "verify_access"
        claims: AccessClaims = yield _call(
            verify, token, device=device, scopes=tuple(scopes), max_age=max_age
        )
    except RefreshKitError as exc:
        return _http.access_error_response(exc, realm=context.realm)
    return claims


def _token_request(
    request: HttpRequest, context: FlowContext
) -> Flow[tuple[dict[str, str], str | None]]:
    """TLS, the body's parameters and the authenticated client, at a token endpoint.

    Raises :class:`~._http.BadRequestError` or
    :class:`~refreshkit.errors.InvalidClientError`.
    """
    _http.check_tls(request.scheme, request.peer, request.header_map(), context.settings)
    fields = request.fields()
    credentials = _http.client_credentials(request.header_values("authorization"), fields)
    # A first secret check costs an scrypt hash: the async driver keeps it off the loop.
    secret = credentials is not None and credentials.secret is not None
    client_id: str | None = yield Call("clients.authenticate", (credentials,), blocking=secret)
    return fields, client_id


# ------------------------------------------------------------ token endpoints


def refresh(
    request: HttpRequest, context: FlowContext, *, online: bool = False, device: str | None = None
) -> Flow[_http.HttpResponse]:
    """``POST <prefix>/token/refresh`` (RFC 6749 §6): a rotated pair, or a §5.2 error."""
    try:
        fields, client_id = yield from _token_request(request, context)
        settings = context.clients.settings_for(client_id)
        parsed = _http.read_refresh_request(fields, request.cookies, request.header_map(), settings)
        pair: TokenPair = yield _call(
            "refresh", parsed.refresh_token, device=device, client_id=client_id, scope=parsed.scope
        )
    except RefreshKitError as exc:
        return _http.token_error_response(exc, realm=context.realm)
    return _http.token_response(pair, parsed.delivery, context.clock.now(), settings)


def revoke(
    request: HttpRequest, context: FlowContext, *, online: bool = False, device: str | None = None
) -> Flow[_http.HttpResponse]:
    """``POST <prefix>/token/revoke`` (RFC 7009): 200, also for unknown tokens."""
    try:
        fields, client_id = yield from _token_request(request, context)
        parsed = _http.read_revocation_request(fields)
        if _http.revocation_target(parsed) == "refresh_token":
            yield _call("revoke", parsed.token, client_id=client_id)
        else:
            yield _call("revoke_access_token", parsed.token, client_id=client_id)
    except RefreshKitError as exc:
        return _http.revocation_error_response(exc, realm=context.realm)
    return _http.revocation_response()


def introspect(
    request: HttpRequest, context: FlowContext, *, online: bool = False, device: str | None = None
) -> Flow[_http.HttpResponse]:
    """``POST <prefix>/token/introspect`` (RFC 7662), for clients allowed to introspect."""
    try:
        fields, client_id = yield from _token_request(request, context)
        _http.check_introspector(context.clients.get(client_id))
        parsed = _http.read_introspection_request(fields)
        answer: Mapping[str, Any] = yield _call("introspect", parsed.token)
    except RefreshKitError as exc:
        return _http.token_error_response(exc, realm=context.realm)
    return _http.introspection_response(answer)


# ----------------------------------------------------- the signed-in user's


def logout(
    request: HttpRequest, context: FlowContext, *, online: bool = False, device: str | None = None
) -> Flow[_http.HttpResponse]:
    """``POST <prefix>/logout``: end the current session and clear the cookies."""
    claims = yield from access(request, context, online=online, device=device)
    if isinstance(claims, _http.HttpResponse):
        return claims
    try:
        yield _call("revoke_session", claims.sid, reason="logout")
        yield _call("revoke_access", claims.jti, claims.expires)
    except RefreshKitError as exc:
        return _http.access_error_response(exc, realm=context.realm)
    return _http.logout_response(context.settings)


def list_sessions(
    request: HttpRequest, context: FlowContext, *, online: bool = False, device: str | None = None
) -> Flow[_http.HttpResponse]:
    """``GET <prefix>/sessions``: the signed-in user's live sessions, the current one marked."""
    claims = yield from access(request, context, online=online, device=device)
    if isinstance(claims, _http.HttpResponse):
        return claims
    try:
        devices = yield _call("devices", claims.subject, current=claims.sid)
    except RefreshKitError as exc:
        return _http.access_error_response(exc, realm=context.realm)
    return _http.sessions_response(devices)


def end_session(
    request: HttpRequest, context: FlowContext, *, online: bool = False, device: str | None = None
) -> Flow[_http.HttpResponse]:
    """``DELETE <prefix>/sessions/<sid>``: end one of the user's own sessions (404 otherwise).

    The session is the request's ``sid`` path parameter. Another user's
    session, an unknown one and an ended one all answer 404, and nothing
    is revoked.
    """
    sid = request.path_params["sid"]
    claims = yield from access(request, context, online=online, device=device)
    if isinstance(claims, _http.HttpResponse):
        return claims
    try:
        if not (yield _call("end_session", claims.subject, sid, reason="ended_by_user")):
            return _http.not_found_response("no such session")
    except RefreshKitError as exc:
        return _http.access_error_response(exc, realm=context.realm)
    return _http.no_content_response()


def end_other_sessions(
    request: HttpRequest, context: FlowContext, *, online: bool = False, device: str | None = None
) -> Flow[_http.HttpResponse]:
    """``POST <prefix>/sessions/end-others``: "sign out other devices", keeping this one.

    Answers 200 with ``{"ended": <count>}``.
    """
    claims = yield from access(request, context, online=online, device=device)
    if isinstance(claims, _http.HttpResponse):
        return claims
    try:
        count: int = yield _call(
            "end_other_sessions", claims.subject, keep=claims.sid, reason="ended_by_user"
        )
    except RefreshKitError as exc:
        return _http.access_error_response(exc, realm=context.realm)
    return _http.ended_sessions_response(count)


def jwks(
    request: HttpRequest, context: FlowContext, *, online: bool = False, device: str | None = None
) -> Flow[_http.HttpResponse]:
    """``GET /.well-known/jwks.json``: the public verification keys (no manager call)."""
    yield from ()
    return _http.jwks_response(context.keys.jwks())


def browser_script(
    request: HttpRequest, context: FlowContext, *, online: bool = False, device: str | None = None
) -> Flow[_http.HttpResponse]:
    """``GET <prefix>/refreshkit.js``: the browser script (docs/browser.rst), no manager call."""
    yield from ()
    return _http.script_response(request.header_values("if-none-match"))


# ---------------------------------------------------------------------- login


def login(
    request: HttpRequest,
    context: FlowContext,
    subject: str,
    *,
    scope: str | Iterable[str] | None = None,
    claims: Mapping[str, Any] | None = None,
    delivery: _http.TokenDelivery | None = None,
    client_id: str | None = None,
    device: str | None = None,
    device_label: str | None = None,
    idle_ttl: timedelta | None = None,
    absolute_ttl: timedelta | None = None,
) -> Flow[_http.HttpResponse]:
    """The login helper's flow: a new session for ``subject``, its pair delivered.

    The session records the request's ``User-Agent`` and client address
    (:func:`~._http.client_address`: forwarded headers only from
    ``trusted_proxies``), and ``device_label``; ``idle_ttl`` and
    ``absolute_ttl`` shorten its lifetimes (remember me unchecked).
    Errors are the application's: :class:`~refreshkit.errors.StoreError`,
    :class:`~refreshkit.errors.ConfigurationError` (a disabled delivery)
    and :class:`ValueError` (a lifetime longer than the settings') propagate.
    """
    settings = context.clients.settings_for(client_id)
    headers = request.header_map()
    chosen = _http.choose_delivery(headers, settings, delivery)
    pair: TokenPair = yield _call(
        "issue",
        subject,
        device=device,
        claims=claims,
        scope=scope,
        client_id=client_id,
        user_agent=headers.get("user-agent"),
        ip=_http.client_address(request.peer, headers, settings),
        device_label=device_label,
        idle_ttl=idle_ttl,
        absolute_ttl=absolute_ttl,
    )
    return _http.token_response(pair, chosen, context.clock.now(), settings)


# ------------------------------------------------------------------ the routes


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One route every adapter serves, and the flow that answers it.

    ``path`` is under ``settings.url_prefix`` unless it starts with
    ``/.well-known/``; ``{sid}`` marks a path parameter. ``reads_body``
    routes are the token endpoints, whose adapters read the capped body.
    """

    name: str
    method: str
    path: str
    reads_body: bool
    flow: EndpointFlow = field(repr=False)

    def route(self, parameter: str = "{{{}}}") -> str:
        """The path without the prefix, each parameter's name formatted by ``parameter``.

        ``parameter`` is the framework's syntax: ``"<{}>"`` for Flask,
        ``"<str:{}>"`` for Django.
        """
        return re.sub(r"\{(\w+)\}", lambda name: parameter.format(name[1]), self.path)

    def full_path(self, settings: Settings, parameter: str = "{{{}}}") -> str:
        """The path as served: under ``settings.url_prefix``, except ``/.well-known/``."""
        path = self.route(parameter)
        return path if path.startswith("/.well-known/") else settings.url_prefix + path


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("refresh_token", "POST", "/token/refresh", True, refresh),
    Endpoint("revoke_token", "POST", "/token/revoke", True, revoke),
    Endpoint("introspect_token", "POST", "/token/introspect", True, introspect),
    Endpoint("logout", "POST", "/logout", False, logout),
    Endpoint("list_sessions", "GET", "/sessions", False, list_sessions),
    # Before ``/sessions/{sid}``: routers that match in order (Django's) would
    # otherwise take ``end-others`` for a sid.
    Endpoint("end_other_sessions", "POST", "/sessions/end-others", False, end_other_sessions),
    Endpoint("end_session", "DELETE", "/sessions/{sid}", False, end_session),
    Endpoint("jwks", "GET", "/.well-known/jwks.json", False, jwks),
    Endpoint("browser_script", "GET", "/refreshkit.js", False, browser_script),
)
