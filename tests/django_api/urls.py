"""The protected routes the DRF and Ninja tests call."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import path
from ninja import NinjaAPI
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from refreshkit import AccessClaims
from refreshkit.adapters.django.drf import (
    HasScope,
    RecentAuthentication,
    RefreshKitAuthentication,
)
from refreshkit.adapters.django.ninja import AsyncRefreshKitBearer, RefreshKitBearer, install


class OnlineAuthentication(RefreshKitAuthentication):
    online = True


def _describe(request: Request) -> dict[str, Any]:
    claims = request.auth
    assert isinstance(claims, AccessClaims)
    return {
        "subject": claims.subject,
        "scopes": sorted(claims.scopes),
        "auth_claims": request.auth_claims.subject,
        "django_request_claims": request._request.auth_claims.subject,
        "user": str(request.user),
        "user_type": type(request.user).__name__,
    }


class Me(APIView):
    authentication_classes = (RefreshKitAuthentication,)
    permission_classes = (IsAuthenticated,)

    def get(self, request: Request) -> Response:
        return Response(_describe(request))


class Orders(APIView):
    authentication_classes = (RefreshKitAuthentication,)
    permission_classes = (
        IsAuthenticated,
        HasScope.with_scopes("orders:read"),
    )

    def get(self, request: Request) -> Response:
        return Response(_describe(request))


class Admin(APIView):
    authentication_classes = (RefreshKitAuthentication,)
    permission_classes = (HasScope,)
    required_scopes = ("admin",)

    def get(self, request: Request) -> Response:
        return Response(_describe(request))


class Online(APIView):
    authentication_classes = (OnlineAuthentication,)
    permission_classes = (IsAuthenticated,)

    def get(self, request: Request) -> Response:
        return Response(_describe(request))


class Fresh(APIView):
    authentication_classes = (RefreshKitAuthentication,)
    permission_classes = (IsAuthenticated, RecentAuthentication.with_max_age(300))

    def get(self, request: Request) -> Response:
        return Response(_describe(request))


class FreshByViewAttribute(APIView):
    authentication_classes = (RefreshKitAuthentication,)
    permission_classes = (IsAuthenticated, RecentAuthentication)
    max_age = 300

    def get(self, request: Request) -> Response:
        return Response(_describe(request))


class FreshAuthentication(RefreshKitAuthentication):
    max_age = 300


class FreshByAuthentication(APIView):
    authentication_classes = (FreshAuthentication,)
    permission_classes = (IsAuthenticated,)

    def get(self, request: Request) -> Response:
        return Response(_describe(request))


api = NinjaAPI(urls_namespace="refreshkit_tests")
install(api)


def _claims(request: HttpRequest) -> dict[str, Any]:
    claims = request.auth  # type: ignore[attr-defined]
    assert isinstance(claims, AccessClaims)
    return {
        "subject": claims.subject,
        "scopes": sorted(claims.scopes),
        "auth_claims": request.auth_claims.subject,  # type: ignore[attr-defined]
    }


@api.get("/me", auth=RefreshKitBearer())
def ninja_me(request: HttpRequest) -> dict[str, Any]:
    return _claims(request)


@api.get("/orders", auth=RefreshKitBearer(scopes=["orders:read"]))
def ninja_orders(request: HttpRequest) -> dict[str, Any]:
    return _claims(request)


@api.get("/online", auth=RefreshKitBearer(online=True))
def ninja_online(request: HttpRequest) -> dict[str, Any]:
    return _claims(request)


@api.get("/fresh", auth=RefreshKitBearer(max_age=300))
def ninja_fresh(request: HttpRequest) -> dict[str, Any]:
    return _claims(request)


@api.get("/async/fresh", auth=AsyncRefreshKitBearer(max_age=300))
async def ninja_async_fresh(request: HttpRequest) -> dict[str, Any]:
    return _claims(request)


@api.get("/async/me", auth=AsyncRefreshKitBearer())
async def ninja_async_me(request: HttpRequest) -> dict[str, Any]:
    return _claims(request)


@api.get("/async/orders", auth=AsyncRefreshKitBearer(scopes=["orders:read"]))
async def ninja_async_orders(request: HttpRequest) -> dict[str, Any]:
    return _claims(request)


@api.get("/async/online", auth=AsyncRefreshKitBearer(online=True))
async def ninja_async_online(request: HttpRequest) -> dict[str, Any]:
    return _claims(request)


urlpatterns = [
    path("drf/me", Me.as_view()),
    path("drf/orders", Orders.as_view()),
    path("drf/admin", Admin.as_view()),
    path("drf/online", Online.as_view()),
    path("drf/fresh", Fresh.as_view()),
    path("drf/fresh-view", FreshByViewAttribute.as_view()),
    path("drf/fresh-auth", FreshByAuthentication.as_view()),
    path("ninja/", api.urls),
]
