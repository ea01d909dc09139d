"""The example's URLs, in simplejwt's shapes where refreshkit has the same endpoint."""

from django.contrib import admin
from django.urls import include, path

from . import views
from .ninja_api import api

urlpatterns = [
    path("", views.page, name="page"),  # the browser page, in cookie mode
    path("admin/", admin.site.urls),
    path("api/login/", views.sign_in, name="sign_in"),
    path("api/token/", views.ObtainTokens.as_view(), name="token_obtain_pair"),
    # was: api/token/refresh/ (TokenRefreshView) and api/token/blacklist/
    # (TokenBlacklistView); now api/token/refresh and api/token/revoke (RFC 7009),
    # with api/token/introspect, api/logout, api/sessions and the JWKS beside them.
    path("api/", include("refreshkit.adapters.django.urls")),
    path("api/me/", views.Me.as_view(), name="me"),
    path("api/orders/", views.Orders.as_view(), name="orders"),
    path("ninja/", api.urls),
]
