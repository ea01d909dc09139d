"""The example's API: a login that issues tokens, and views protected by refreshkit.

Two ways in: ``POST api/token/`` answers the tokens in the body (simplejwt's
shape, for API clients), and ``POST api/login/`` is the browser page's
sign-in, which puts the refresh token in an HttpOnly cookie.
"""

from typing import Any

from django.contrib.auth import authenticate
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from refreshkit.adapters.django import conf
from refreshkit.adapters.django.drf import HasScope
from refreshkit.adapters.django.views import login


class ObtainTokens(APIView):
    """``POST api/token/`` with a username and password, like simplejwt's ``TokenObtainPairView``.

    Answers the RFC 6749 §5.1 body (``access_token``, ``refresh_token``, ...)
    where simplejwt answered ``{"access", "refresh"}``.
    """

    authentication_classes = ()
    permission_classes = ()

    def post(self, request: Request) -> Response:
        user = authenticate(
            request, username=request.data.get("username"), password=request.data.get("password")
        )
        if user is None or not user.is_active:
            return Response({"detail": "No active account found with the given credentials"}, 401)
        pair = conf.get_manager().issue(str(user.pk), scope="profile orders:read")
        return Response(pair.to_response(), headers={"Cache-Control": "no-store"})


def page(request: HttpRequest) -> HttpResponse:
    """The browser page (``templates/index.html``): cookie mode seen from a script."""
    return render(request, "index.html")


@require_POST
def sign_in(request: HttpRequest) -> HttpResponse:
    """The page's sign-in form. Django's ``CsrfViewMiddleware`` guards it (no login CSRF);
    refreshkit's :func:`login` sets the refresh cookie and answers the access token."""
    user = authenticate(
        request, username=request.POST.get("username"), password=request.POST.get("password")
    )
    if user is None or not user.is_active:
        return JsonResponse({"error": "wrong username or password"}, status=401)
    return login(request, str(user.pk), scope="profile orders:read", delivery="cookie")


class Me(APIView):
    """Any valid access token (the settings' default permission is ``IsAuthenticated``)."""

    def get(self, request: Request) -> Response:
        return Response({"username": request.user.get_username(), "scopes": _scopes(request)})


class Orders(APIView):
    """Tokens granted the ``orders:read`` scope only."""

    permission_classes = (IsAuthenticated, HasScope.with_scopes("orders:read"))

    def get(self, request: Request) -> Response:
        return Response({"orders": [], "scopes": _scopes(request)})


def _scopes(request: Request) -> list[Any]:
    return sorted(request.auth.scopes)
