"""The example's API: a login that issues tokens, and views protected by refreshkit."""

from typing import Any

from django.contrib.auth import authenticate
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from refreshkit.adapters.django import conf
from refreshkit.adapters.django.drf import HasScope


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
