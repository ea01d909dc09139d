"""The same protected resources served by Django Ninja.

``AsyncRefreshKitBearer`` protects ``async def`` operations the same way.
"""

from typing import Any

from django.http import HttpRequest
from ninja import NinjaAPI

from refreshkit.adapters.django.ninja import RefreshKitBearer, install

api = NinjaAPI(urls_namespace="ninja")
install(api)  # refusals carry their WWW-Authenticate challenge


@api.get("/me", auth=RefreshKitBearer())
def me(request: HttpRequest) -> dict[str, Any]:
    return {"subject": request.auth.subject}


@api.get("/orders", auth=RefreshKitBearer(scopes=["orders:read"]))
def orders(request: HttpRequest) -> dict[str, Any]:
    return {"orders": [], "scopes": sorted(request.auth.scopes)}
