"""``@require_access``: a Django view (sync or async) that needs a valid access token.

::

    from refreshkit.adapters.django.decorators import require_access

    @require_access(scopes=["orders"])
    def orders(request):
        return JsonResponse({"user": request.auth_claims.subject})

For class-based views wrap it in ``method_decorator``; for DRF views use
:mod:`refreshkit.adapters.django.drf` instead.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, TypeVar, cast, overload

from django.http import HttpRequest

from .. import _flows, _http
from . import _bridge, conf

__all__ = ["require", "require_access"]

View = TypeVar("View", bound=Callable[..., Any])


def _access(
    request: HttpRequest,
    manager: Any,
    scopes: tuple[str, ...],
    online: bool | None,
    max_age: timedelta | int | None = None,
) -> _flows.Flow[Any]:
    return _flows.access(
        _bridge.neutral(request),
        _bridge.context(manager),
        scopes=scopes,
        online=_bridge.online(online),
        device=_bridge.device(request),
        max_age=max_age,
    )


@overload
def require_access(view: View, /) -> View: ...
@overload
def require_access(
    *,
    scopes: Iterable[str] = (),
    online: bool | None = None,
    max_age: timedelta | int | None = None,
) -> Callable[[View], View]: ...
def require_access(
    view: View | None = None,
    /,
    *,
    scopes: Iterable[str] = (),
    online: bool | None = None,
    max_age: timedelta | int | None = None,
) -> View | Callable[[View], View]:
    """Require a valid access token (and every scope in ``scopes``) for a view.

    Bare (``@require_access``) or called (``@require_access(scopes=[...])``),
    on sync views (the sync manager) and ``async def`` views (the async one).
    The view then finds the verified :class:`~refreshkit.AccessClaims` in
    ``request.auth_claims``. ``online`` (default: the ``django_online``
    option) also checks revocation in the store. Refuses with 401, 403, 400
    or 503 (store outage, online checks only) as RFC 6750 responses.
    ``max_age`` (seconds or a timedelta) requires that the user
    authenticated at most that long ago: 401
    ``insufficient_user_authentication`` with ``max_age`` (RFC 9470).
    """
    required = tuple(scopes)

    def decorate(fn: View) -> View:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
                manager = conf.get_async_manager()
                claims = await _flows.run_async(
                    _access(request, manager, required, online, max_age), manager
                )
                if isinstance(claims, _http.HttpResponse):
                    return _bridge.render(claims)
                request.auth_claims = claims  # type: ignore[attr-defined]
                return await fn(request, *args, **kwargs)

            return cast(View, async_view)

        @functools.wraps(fn)
        def sync_view(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            manager = conf.get_manager()
            claims = _flows.run_sync(_access(request, manager, required, online, max_age), manager)
            if isinstance(claims, _http.HttpResponse):
                return _bridge.render(claims)
            request.auth_claims = claims  # type: ignore[attr-defined]
            return fn(request, *args, **kwargs)

        return cast(View, sync_view)

    return decorate(view) if view is not None else decorate


#: :func:`require_access` under the FastAPI adapter's name.
require = require_access
