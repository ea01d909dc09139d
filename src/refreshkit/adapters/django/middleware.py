"""``AccessTokenMiddleware``: ``request.auth_claims`` on every request, never a refusal.

Add ``"refreshkit.adapters.django.middleware.AccessTokenMiddleware"`` to
``MIDDLEWARE``. A request with a valid bearer token gets its
:class:`~refreshkit.AccessClaims` in ``request.auth_claims``; any other
request (no token, a bad one) gets None and goes on: views that must
refuse use :func:`~.decorators.require_access`. The check is offline (the
signature and claims, no store round trip), so a token revoked a moment
ago still shows here until it expires; ``require_access(online=True)``
sees revocations at once.

It also answers refreshkit errors that escape a view (a store outage in
``login``, say) as RFC responses: 503 with ``Retry-After`` for outages.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import markcoroutinefunction
from django.http import HttpRequest, HttpResponse

from ...errors import RefreshKitError
from ...models import AccessClaims
from .. import _flows, _http
from . import _bridge, conf

__all__ = ["AccessTokenMiddleware"]


class AccessTokenMiddleware:
    """Sets ``request.auth_claims`` (None when absent or invalid); sync and async."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self._async = inspect.iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self._async:
            return self._acall(request)
        manager = conf.get_manager()
        request.auth_claims = _claims(_flows.run_sync(_check(request, manager), manager))  # type: ignore[attr-defined]
        return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        manager = conf.get_async_manager()
        checked = await _flows.run_async(_check(request, manager), manager)
        request.auth_claims = _claims(checked)  # type: ignore[attr-defined]
        response: Awaitable[HttpResponse] = self.get_response(request)
        return await response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A refreshkit error escaping a view, as its RFC response (others: Django's)."""
        if not isinstance(exception, RefreshKitError):
            return None
        realm = conf.get_option("django_realm")
        return _bridge.render(_http.access_error_response(exception, realm=realm))


def _check(request: HttpRequest, manager: Any) -> _flows.Flow[AccessClaims | _http.HttpResponse]:
    return _flows.access(
        _bridge.neutral(request), _bridge.context(manager), device=_bridge.device(request)
    )


def _claims(checked: AccessClaims | _http.HttpResponse) -> AccessClaims | None:
    return None if isinstance(checked, _http.HttpResponse) else checked
