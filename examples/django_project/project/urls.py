"""The example's URLs, in simplejwt's shapes where refreshkit has the same endpoint."""

from django.contrib import admin
from django.urls import path

from . import views
from .ninja_api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/token/", views.ObtainTokens.as_view(), name="token_obtain_pair"),
    path("api/me/", views.Me.as_view(), name="me"),
    path("api/orders/", views.Orders.as_view(), name="orders"),
    path("ninja/", api.urls),
]
