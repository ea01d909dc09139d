"""Django views of refreshkit's endpoints, and the login helpers.

Each shared endpoint has a sync view (on :func:`~.conf.get_manager`) and
an async one (on :func:`~.conf.get_async_manager`); :mod:`.urls` serves
the sync ones
unless ``REFRESHKIT["django_async_views"]`` is true. Pick async views for
an ASGI deployment (a sync view there runs in Django's one
thread-sensitive worker) and sync views under WSGI (an async view there
starts an event loop per request, which an async store's pool cannot
share). No view runs inside an ``ATOMIC_REQUESTS`` transaction. Every
view is ``csrf_exempt``: the token endpoints carry their own
CSRF proof in cookie mode (the double-submit token, or a custom header),
and the others authenticate by bearer token, which a browser never sends
on its own.

In a view of your own, after checking the password::

    from refreshkit.adapters.django.views import login

    def sign_in(request):
        user = authenticate(request, username=..., password=...)
        if user is None:
            return HttpResponse(status=401)
        return login(request, str(user.pk))

(``await alogin(...)`` in an async view.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any, NamedTuple, TypeVar

from django.db import connections
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed

from .. import _flows, _http
from . import _bridge, conf

__all__ = ["alogin", "login"]

SyncView = Callable[..., HttpResponse]
AsyncView = Callable[..., Awaitable[HttpResponse]]


def _sync_view(endpoint: _flows.Endpoint) -> SyncView:
    """The sync Django view of one shared endpoint."""

    def view(request: HttpRequest, **path_params: str) -> HttpResponse:
        if request.method != endpoint.method:
            return HttpResponseNotAllowed([endpoint.method])
        manager = conf.get_manager()
        flow = _endpoint_flow(endpoint, request, path_params, manager)
        return _bridge.render(_flows.run_sync(flow, manager))

    return _named(view, endpoint)


def _async_view(endpoint: _flows.Endpoint) -> AsyncView:
    """The async Django view of one shared endpoint."""

    async def view(request: HttpRequest, **path_params: str) -> HttpResponse:
        if request.method != endpoint.method:
            return HttpResponseNotAllowed([endpoint.method])
        manager = conf.get_async_manager()
        flow = _endpoint_flow(endpoint, request, path_params, manager)
        return _bridge.render(await _flows.run_async(flow, manager))

    return _named(view, endpoint)


def _endpoint_flow(
    endpoint: _flows.Endpoint, request: HttpRequest, path_params: Mapping[str, str], manager: Any
) -> _flows.Flow[_http.HttpResponse]:
    if endpoint.reads_body:
        neutral = _bridge.with_body(request, path_params)
    else:
        neutral = _bridge.neutral(request, path_params=path_params)
    return endpoint.flow(
        neutral, _bridge.context(manager), online=_bridge.online(), device=_bridge.device(request)
    )


ViewT = TypeVar("ViewT", SyncView, AsyncView)


def _named(view: ViewT, endpoint: _flows.Endpoint) -> ViewT:
    named: Any = view
    named.__name__ = named.__qualname__ = endpoint.name
    named.__doc__ = f"``{endpoint.method} {endpoint.path}``"
    # Set directly (not @csrf_exempt), which on Django 4.2 would hide an async view.
    named.csrf_exempt = True
    # Never inside an ATOMIC_REQUESTS transaction, on any database: a rollback
    # after the store rotated a token would undo what the client already holds.
    named._non_atomic_requests = set(connections)
    return view


# ----------------------------------------------------------------------- login


def login(
    request: HttpRequest,
    subject: str,
    *,
    scope: str | Iterable[str] | None = None,
    claims: Mapping[str, Any] | None = None,
    delivery: _http.TokenDelivery | None = None,
    client_id: str | None = None,
    device_label: str | None = None,
    idle_ttl: timedelta | None = None,
    absolute_ttl: timedelta | None = None,
) -> HttpResponse:
    """Start a session for ``subject`` once the view has checked the password.

    Returns the response to send: the RFC 6749 §5.1 body with ``no-store``
    and, in cookie mode, the refresh and CSRF cookies. ``delivery`` forces
    ``"cookie"`` or ``"body"``; by default the client's only mode, or with
    both the cookie unless the request sends ``X-Token-Delivery: body``.
    ``client_id`` binds the session to that client at once. The session
    records the request's user agent and client IP, and ``device_label``;
    ``idle_ttl`` / ``absolute_ttl`` shorten its lifetimes (remember me, see
    :doc:`/sessions`). Raises
    :class:`~refreshkit.errors.StoreError` when the store fails (the
    :class:`~.middleware.AccessTokenMiddleware` answers it with 503).
    """
    manager = conf.get_manager()
    flow = _login_flow(
        request,
        manager,
        subject,
        scope,
        claims,
        delivery,
        client_id,
        _Lifetimes(device_label, idle_ttl, absolute_ttl),
    )
    return _bridge.render(_flows.run_sync(flow, manager))


async def alogin(
    request: HttpRequest,
    subject: str,
    *,
    scope: str | Iterable[str] | None = None,
    claims: Mapping[str, Any] | None = None,
    delivery: _http.TokenDelivery | None = None,
    client_id: str | None = None,
    device_label: str | None = None,
    idle_ttl: timedelta | None = None,
    absolute_ttl: timedelta | None = None,
) -> HttpResponse:
    """:func:`login` for async views, on the async manager."""
    manager = conf.get_async_manager()
    flow = _login_flow(
        request,
        manager,
        subject,
        scope,
        claims,
        delivery,
        client_id,
        _Lifetimes(device_label, idle_ttl, absolute_ttl),
    )
    return _bridge.render(await _flows.run_async(flow, manager))


def _login_flow(
    request: HttpRequest,
    manager: Any,
    subject: str,
    scope: str | Iterable[str] | None,
    claims: Mapping[str, Any] | None,
    delivery: _http.TokenDelivery | None,
    client_id: str | None,
    remember: _Lifetimes,
) -> _flows.Flow[_http.HttpResponse]:
    return _flows.login(
        _bridge.neutral(request),
        _bridge.context(manager),
        subject,
        scope=scope,
        claims=claims,
        delivery=delivery,
        client_id=client_id,
        device=_bridge.device(request),
        device_label=remember.device_label,
        idle_ttl=remember.idle_ttl,
        absolute_ttl=remember.absolute_ttl,
    )


class _Lifetimes(NamedTuple):
    """What a login chose beyond the defaults: its device label and shorter lifetimes."""

    device_label: str | None
    idle_ttl: timedelta | None
    absolute_ttl: timedelta | None
