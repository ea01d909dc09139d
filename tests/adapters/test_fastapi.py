"""The FastAPI adapter, through Starlette's TestClient and through uvicorn on loopback."""

# No ``from __future__ import annotations``: FastAPI must evaluate the
# ``Annotated[..., Depends(kit.require())]`` hints that name local variables.
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Annotated, Any

import httpx
import pytest

from refreshkit import AccessClaims, AsyncTokenManager, FrozenClock, KeySet, Settings
from refreshkit.backends.memory._state import MemoryState

from .spec import AdapterSpec, MakeApi, bearer
from .support import Api, FailingAsyncStore, HttpxApi, Outage, uvicorn_server

fastapi = pytest.importorskip("fastapi")
from fastapi import Depends, FastAPI, Request, Response  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from refreshkit.adapters.fastapi import RefreshKit  # noqa: E402

pytestmark = pytest.mark.fastapi


def memory_manager(
    keys: KeySet, outage: Outage | None = None, clock: FrozenClock | None = None, **settings: Any
) -> AsyncTokenManager:
    store = FailingAsyncStore(MemoryState(), outage or Outage())
    return AsyncTokenManager(Settings(**settings), keys=keys, store=store, clock=clock)


def build_app(manager: AsyncTokenManager) -> tuple[FastAPI, RefreshKit]:
    """The spec's test app: /login, /me, /admin, /online-me; the device is ``X-Device``."""
    app = FastAPI()
    kit = RefreshKit(manager, device=lambda request: request.headers.get("X-Device"))
    kit.install(app)

    @app.post("/login")
    async def do_login(request: Request, response: Response) -> dict[str, Any]:
        payload = await request.json()
        return await kit.login(request, response, payload["username"], scope=payload.get("scope"))

    def describe(claims: AccessClaims) -> dict[str, Any]:
        return {"subject": claims.subject, "sid": claims.sid, "scopes": sorted(claims.scopes)}

    @app.get("/me", responses=kit.error_responses)
    async def me(claims: Annotated[AccessClaims, Depends(kit.require())]) -> dict[str, Any]:
        return describe(claims)

    admin_claims = Annotated[AccessClaims, Depends(kit.require(scopes=["admin"]))]
    online_claims = Annotated[AccessClaims, Depends(kit.require(online=True))]

    @app.get("/admin", responses=kit.error_responses)
    async def admin(claims: admin_claims) -> dict[str, Any]:
        return describe(claims)

    @app.get("/online-me")
    async def online_me(claims: online_claims) -> dict[str, Any]:
        return describe(claims)

    return app, kit


@pytest.fixture(params=["test-client", "uvicorn"])
def make_api(
    request: pytest.FixtureRequest,
    clock: FrozenClock,
    outage: Outage,
    state: MemoryState,
    keys: KeySet,
) -> Iterator[MakeApi]:
    with ExitStack() as stack:

        def make(**overrides: Any) -> Api:
            settings = Settings(cookie_mode=True).replace(**overrides)
            store = FailingAsyncStore(state, outage)
            manager = AsyncTokenManager(settings, keys=keys, store=store, clock=clock)
            app, _ = build_app(manager)
            if request.param == "test-client":
                client = stack.enter_context(TestClient(app, base_url="https://testserver"))
                return HttpxApi(client, "test-client")
            url = stack.enter_context(uvicorn_server(app))
            return HttpxApi(stack.enter_context(httpx.Client(base_url=url)), "uvicorn")

        yield make


class TestFastAPIAdapter(AdapterSpec):
    """The shared HTTP specification, on FastAPI."""


# --------------------------------------------------------------- FastAPI only


@pytest.fixture
def openapi(keys: KeySet) -> dict[str, Any]:
    manager = memory_manager(keys, cookie_mode=True)
    app, _ = build_app(manager)
    schema: dict[str, Any] = app.openapi()
    return schema


def test_openapi_declares_a_bearer_security_scheme(openapi: dict[str, Any]) -> None:
    schemes = openapi["components"]["securitySchemes"]
    assert schemes["BearerAccessToken"]["type"] == "http"
    assert schemes["BearerAccessToken"]["scheme"] == "bearer"
    assert openapi["paths"]["/me"]["get"]["security"] == [{"BearerAccessToken": []}]
    assert openapi["paths"]["/sessions"]["get"]["security"] == [{"BearerAccessToken": []}]


def test_openapi_describes_the_token_request_bodies(openapi: dict[str, Any]) -> None:
    refresh = openapi["paths"]["/token/refresh"]["post"]
    content = refresh["requestBody"]["content"]
    assert set(content) == {"application/x-www-form-urlencoded", "application/json"}
    schema = content["application/x-www-form-urlencoded"]["schema"]
    assert schema["properties"]["grant_type"]["enum"] == ["refresh_token"]
    revoke = openapi["paths"]["/token/revoke"]["post"]
    assert revoke["requestBody"]["content"]["application/json"]["schema"]["required"] == ["token"]


def test_openapi_lists_the_error_responses(openapi: dict[str, Any]) -> None:
    refresh = openapi["paths"]["/token/refresh"]["post"]["responses"]
    assert {"200", "400", "503"} <= set(refresh)
    assert refresh["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "TokenResponseBody"
    )
    assert {"401", "403", "503"} <= set(openapi["paths"]["/me"]["get"]["responses"])
    assert "404" in openapi["paths"]["/sessions/{sid}"]["delete"]["responses"]
    assert "/.well-known/jwks.json" in openapi["paths"]


def test_refusals_keep_status_and_challenge_even_without_install(keys: KeySet) -> None:
    manager = memory_manager(keys)
    kit = RefreshKit(manager)
    app = FastAPI()

    @app.get("/me")
    async def me(claims: Annotated[AccessClaims, Depends(kit.require())]) -> dict[str, str]:
        return {"subject": claims.subject}

    reply = TestClient(app).get("/me", headers=bearer("not.a.jwt"))
    assert reply.status_code == 401
    assert 'error="invalid_token"' in reply.headers["www-authenticate"]


def test_store_errors_raised_in_application_routes_answer_503(keys: KeySet) -> None:
    outage = Outage(active=True)
    manager = memory_manager(keys, outage)
    app, kit = build_app(manager)

    @app.get("/devices")
    async def devices() -> list[str]:
        return [s.sid for s in await kit.manager.sessions("alice")]

    reply = TestClient(app).get("/devices")
    assert reply.status_code == 503
    assert reply.headers["retry-after"] == "7"


def test_a_device_resolver_binds_sessions_to_the_device(keys: KeySet, clock: FrozenClock) -> None:
    manager = memory_manager(keys, clock=clock)
    app = FastAPI()
    kit = RefreshKit(manager, device=lambda request: request.headers.get("X-Device"))
    kit.install(app)

    @app.post("/login")
    async def do_login(request: Request, response: Response) -> dict[str, Any]:
        return await kit.login(request, response, "alice")

    client = TestClient(app)
    tokens = client.post("/login", headers={"X-Device": "laptop"}).json()
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    stolen = client.post("/token/refresh", data=form, headers={"X-Device": "elsewhere"})
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"
