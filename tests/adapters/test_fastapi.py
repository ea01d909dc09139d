"""The FastAPI adapter, through Starlette's TestClient and through uvicorn on loopback."""

# No ``from __future__ import annotations``: FastAPI must evaluate the
# ``Annotated[..., Depends(kit.require())]`` hints that name local variables.
import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Annotated, Any

import httpx
import pytest

from refreshkit import AccessClaims, AsyncTokenManager, FrozenClock, KeySet, Settings
from refreshkit.adapters import _http
from refreshkit.backends.memory._state import MemoryState
from refreshkit.errors import ConfigurationError

from .spec import AdapterSpec, MakeApi, bearer
from .spec_checks import CheckSpec
from .spec_clients import ClientSpec
from .spec_sessions import SessionSpec
from .support import (
    Api,
    FailingAsyncStore,
    Gate,
    HttpxApi,
    Outage,
    from_peer,
    login_options,
    uvicorn_server,
)

fastapi = pytest.importorskip("fastapi")
from fastapi import Depends, FastAPI, Request, Response  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from refreshkit.adapters.fastapi import RefreshKit  # noqa: E402

pytestmark = pytest.mark.fastapi
#: The spec's peer is loopback every way (the TestClient's default is "testclient").
LOOPBACK_PEER = ("127.0.0.1", 50000)


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
        return await kit.login(
            request,
            response,
            payload["username"],
            scope=payload.get("scope"),
            client_id=payload.get("client_id"),
            **login_options(payload),
        )

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

    fresh_claims = Annotated[AccessClaims, Depends(kit.require(max_age=300))]
    any_claims = Annotated[AccessClaims, Depends(kit.require())]

    @app.get("/fresh")
    async def fresh(claims: fresh_claims) -> dict[str, Any]:
        return describe(claims)

    @app.post("/reauth")
    async def reauth(claims: any_claims) -> dict[str, Any]:
        # The application checked the password again here.
        return {"access_token": await kit.manager.reauthenticate(claims.sid)}

    @app.post("/change-password")
    async def change_password(claims: online_claims) -> dict[str, Any]:
        now = kit.manager.clock.now()
        return {"ended": await kit.manager.revoke_subject(claims.subject, before=now)}

    return app, kit


@pytest.fixture(params=["test-client", "uvicorn"])
def make_api(
    request: pytest.FixtureRequest,
    clock: FrozenClock,
    outage: Outage,
    state: MemoryState,
    keys: KeySet,
    gate: Gate,
) -> Iterator[MakeApi]:
    with ExitStack() as stack:

        def make(**overrides: Any) -> Api:
            settings = Settings(cookie_mode=True).replace(**overrides)
            store = FailingAsyncStore(state, outage)
            manager = AsyncTokenManager(
                settings, keys=keys, store=store, clock=clock, refresh_check=gate
            )
            app, _ = build_app(manager)
            if request.param == "test-client":
                client = stack.enter_context(
                    TestClient(from_peer(app, LOOPBACK_PEER), base_url="https://testserver")
                )
                return HttpxApi(client, "test-client")
            url = stack.enter_context(uvicorn_server(app))
            return HttpxApi(stack.enter_context(httpx.Client(base_url=url)), "uvicorn")

        yield make


class TestFastAPIAdapter(AdapterSpec):
    """The shared HTTP specification, on FastAPI."""


class TestFastAPIChecks(CheckSpec):
    """The refresh check over HTTP, on FastAPI."""


class TestFastAPIClients(ClientSpec):
    """OAuth clients, introspection and TLS, on FastAPI."""


class TestFastAPISessions(SessionSpec):
    """Device lists, ending sessions and remember-me lifetimes, on FastAPI."""


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


@pytest.mark.parametrize("route", ["/token/refresh", "/token/revoke", "/token/introspect"])
def test_openapi_describes_client_authentication_at_the_token_endpoints(
    openapi: dict[str, Any], route: str
) -> None:
    basic = openapi["components"]["securitySchemes"]["ClientSecretBasic"]
    assert (basic["type"], basic["scheme"]) == ("http", "basic")
    operation = openapi["paths"][route]["post"]
    # Basic, or no header at all: body credentials, a public client's id, or the cookie.
    assert operation["security"] == [{"ClientSecretBasic": []}, {}]
    schema = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert {"client_id", "client_secret"} <= set(schema["properties"])
    assert "401" in operation["responses"]


def test_openapi_describes_scope_and_the_introspection_answer(openapi: dict[str, Any]) -> None:
    refresh = openapi["paths"]["/token/refresh"]["post"]["requestBody"]["content"]
    assert "scope" in refresh["application/json"]["schema"]["properties"]
    answer = openapi["paths"]["/token/introspect"]["post"]["responses"]["200"]
    ref = answer["content"]["application/json"]["schema"]["$ref"]
    introspection = openapi["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert introspection["required"] == ["active"]


@pytest.mark.parametrize("route", ["/token/refresh", "/token/revoke", "/token/introspect"])
def test_plain_http_from_a_remote_peer_is_refused(keys: KeySet, route: str) -> None:
    app, _ = build_app(memory_manager(keys))
    remote = ("203.0.113.7", 40000)
    with TestClient(from_peer(app, remote), base_url="http://testserver") as client:
        refused = client.post(route, data={"token": "t", "refresh_token": "rk_a.b"})
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_request"
    assert "https" in refused.json()["error_description"]
    with TestClient(from_peer(app, remote), base_url="https://testserver") as client:
        tokens = client.post("/login", json={"username": "alice"}).json()
        form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        assert client.post("/token/refresh", data=form).status_code == 200


def test_a_remote_peer_spoofing_x_forwarded_proto_is_refused(keys: KeySet) -> None:
    app, _ = build_app(memory_manager(keys, trusted_proxies=("10.0.0.0/8",)))
    spoofed = {"X-Forwarded-Proto": "https"}
    with TestClient(from_peer(app, ("203.0.113.7", 1)), base_url="http://testserver") as client:
        tokens = client.post("/login", json={"username": "alice"}).json()
        form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        assert client.post("/token/refresh", data=form, headers=spoofed).status_code == 400
    with TestClient(from_peer(app, ("10.1.2.3", 1)), base_url="http://testserver") as proxy:
        assert proxy.post("/token/refresh", data=form, headers=spoofed).status_code == 200


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

    client = TestClient(app, base_url="https://testserver")
    tokens = client.post("/login", headers={"X-Device": "laptop"}).json()
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    stolen = client.post("/token/refresh", data=form, headers={"X-Device": "elsewhere"})
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"


def post_in_chunks(
    app: FastAPI, path: str, headers: list[tuple[bytes, bytes]], chunks: int
) -> tuple[int, int]:
    """POST 1 KiB chunks straight into the ASGI app; (status, chunks the app pulled)."""
    pulled, status = 0, 0

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled == chunks:
            return {"type": "http.request", "body": b"", "more_body": False}
        pulled += 1
        return {"type": "http.request", "body": b"a" * 1024, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/x-www-form-urlencoded"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 443),
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return status, pulled


@pytest.mark.parametrize("route", ["/token/refresh", "/token/revoke"])
def test_a_chunked_body_is_refused_once_past_the_cap_not_read_to_its_end(
    keys: KeySet, route: str
) -> None:
    app, _ = build_app(memory_manager(keys))
    status, pulled = post_in_chunks(app, route, [(b"transfer-encoding", b"chunked")], 1024)
    assert status == 400
    assert pulled <= _http.MAX_BODY_BYTES // 1024 + 1  # 17 of the 1024 chunks


@pytest.mark.parametrize("route", ["/token/refresh", "/token/revoke"])
def test_a_declared_content_length_over_the_cap_is_refused_before_any_read(
    keys: KeySet, route: str
) -> None:
    app, _ = build_app(memory_manager(keys))
    status, pulled = post_in_chunks(app, route, [(b"content-length", b"1048576")], 1024)
    assert status == 400
    assert pulled == 0


def test_openapi_marks_every_required_token_response_field_required(
    openapi: dict[str, Any],
) -> None:
    """RFC 6749 §5.1: access_token, token_type and expires_in are REQUIRED."""
    schema = openapi["components"]["schemas"]["TokenResponseBody"]
    assert {"access_token", "token_type", "expires_in"} <= set(schema["required"])


def test_openapi_describes_a_401_without_a_required_error_code(openapi: dict[str, Any]) -> None:
    ref = openapi["paths"]["/me"]["get"]["responses"]["401"]["content"]["application/json"]
    name = ref["schema"]["$ref"].rsplit("/", 1)[1]
    assert "error" not in openapi["components"]["schemas"][name].get("required", [])


def test_a_prefixed_cookie_name_browsers_would_drop_fails_at_construction(keys: KeySet) -> None:
    manager = memory_manager(keys, cookie_mode=True, cookie_name="__Host-refresh")
    with pytest.raises(ConfigurationError, match="__Host-"):
        RefreshKit(manager)


def test_refreshing_auth_passes_a_step_up_challenge_through_for_the_client_to_read(
    keys: KeySet, clock: FrozenClock
) -> None:
    from refreshkit.client import RefreshingAuth, step_up_required

    manager = memory_manager(keys, clock=clock)
    refreshes: list[object] = []
    manager.hooks.on("refreshed", refreshes.append)
    app, _ = build_app(manager)
    client = TestClient(from_peer(app, LOOPBACK_PEER), base_url="https://testserver")
    tokens = client.post(
        "/login", json={"username": "alice"}, headers={_http.DELIVERY_HEADER: "body"}
    ).json()
    auth = RefreshingAuth("https://testserver/token/refresh", tokens=tokens)
    assert client.get("/fresh", auth=auth).status_code == 200
    clock.advance(301)
    reply = client.get("/fresh", auth=auth)
    assert reply.status_code == 401
    step_up = step_up_required(reply)
    assert step_up is not None and step_up.max_age == 300
    assert step_up.error_code == "insufficient_user_authentication"
    assert refreshes == []  # a refresh keeps auth_time: it would not help, so none is sent
    fresh = client.post("/reauth", auth=auth).json()["access_token"]
    assert client.get("/fresh", headers=bearer(fresh)).status_code == 200
    assert step_up_required(client.get("/me", auth=auth)) is None
