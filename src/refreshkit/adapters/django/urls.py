"""refreshkit's endpoints as a URLconf, for ``include()``.

``path("auth/", include("refreshkit.adapters.django.urls"))`` serves them.

Routes (names in the ``refreshkit`` namespace): ``token/refresh``
(``refresh_token``), ``token/revoke``, ``token/introspect``, ``logout``,
``sessions``, ``sessions/end-others`` (``end_other_sessions``),
``sessions/<sid>`` (``end_session``) and
``.well-known/jwks.json`` (``jwks``). Set ``REFRESHKIT["url_prefix"]`` to
the include's prefix (``"/auth"`` above): the refresh cookie's ``Path`` is
built from it. The FastAPI and Flask adapters serve the JWKS at the site's
root; to do the same, also include :data:`jwks_urlpatterns` there::

    urlpatterns = [
        path("auth/", include("refreshkit.adapters.django.urls")),
        path("", include(jwks_urlpatterns)),
    ]
"""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, path

from .. import _flows
from . import conf, views

__all__ = ["app_name", "endpoint_patterns", "jwks_urlpatterns", "urlpatterns"]

app_name = "refreshkit"


def endpoint_patterns(*, asynchronous: bool | None = None) -> list[URLPattern]:
    """One pattern per endpoint: async views when ``asynchronous`` (default: the
    ``django_async_views`` option), sync views otherwise."""
    if asynchronous is None:
        asynchronous = bool(conf.get_option("django_async_views"))
    make: Any = views._async_view if asynchronous else views._sync_view
    return [
        path(endpoint.route("<str:{}>").lstrip("/"), make(endpoint), name=endpoint.name)
        for endpoint in _flows.ENDPOINTS
    ]


urlpatterns: list[URLPattern] = endpoint_patterns()
#: Just the JWKS route, to include at the site's root (``/.well-known/jwks.json``).
jwks_urlpatterns: list[URLPattern] = [p for p in urlpatterns if p.name == "jwks"]
