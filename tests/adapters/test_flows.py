"""The shared flows without any framework: fed by hand, and by both drivers."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from refreshkit import AsyncTokenManager, KeySet, Settings, TokenManager
from refreshkit.adapters import _flows, _http
from refreshkit.backends.memory import AsyncMemoryStore, MemoryStore
from refreshkit.errors import StoreError, TokenError

FORM = "application/x-www-form-urlencoded"
REFRESH = b"grant_type=refresh_token&refresh_token=rk_a.b"


def token_request(body: bytes, **fields: Any) -> _flows.HttpRequest:
    return _flows.HttpRequest("POST", "https", "127.0.0.1", body=body, content_type=FORM, **fields)


def context(settings: Settings | None = None) -> _flows.FlowContext:
    manager = TokenManager(settings or Settings(), keys=KeySet.generate(), store=MemoryStore())
    return _flows.FlowContext.of(manager)


def test_a_refresh_flow_asks_for_the_client_then_for_the_rotation() -> None:
    flow = _flows.refresh(token_request(REFRESH), context())
    assert next(flow).name == "clients.authenticate"
    rotation = flow.send(None)
    assert (rotation.name, rotation.args) == ("refresh", ("rk_a.b",))


def test_an_error_thrown_into_a_flow_becomes_its_rfc_response() -> None:
    flow = _flows.refresh(token_request(REFRESH), context())
    next(flow)
    flow.send(None)
    try:
        flow.throw(TokenError("refresh token reused"))
    except StopIteration as done:
        response: _http.HttpResponse = done.value
    assert (response.status, response.body["error"]) == (400, "invalid_grant")


def test_a_body_refused_while_reading_is_answered_after_the_tls_check() -> None:
    refusal = _http.BadRequestError("request body too large")
    plain_remote = _flows.HttpRequest("POST", "http", "203.0.113.7", body_refusal=refusal)
    response = _flows.run_sync(_flows.revoke(plain_remote, context()), object())
    assert "https" in response.body["error_description"]
    secure = _flows.HttpRequest("POST", "https", "127.0.0.1", body_refusal=refusal)
    response = _flows.run_sync(_flows.revoke(secure, context()), object())
    assert response.body["error_description"] == "request body too large"


def test_a_protected_route_check_returns_claims_or_the_refusal() -> None:
    manager = TokenManager(Settings(), keys=KeySet.generate(), store=MemoryStore())
    pair = manager.issue("alice", scope="read")
    ctx = _flows.FlowContext.of(manager)
    signed_in = _flows.HttpRequest(
        "GET", "https", "127.0.0.1", (("Authorization", f"Bearer {pair.access_token}"),)
    )
    claims = _flows.run_sync(_flows.access(signed_in, ctx, scopes=["read"]), manager)
    assert not isinstance(claims, _http.HttpResponse)
    assert claims.subject == "alice"
    refusal = _flows.run_sync(_flows.access(signed_in, ctx, scopes=["admin"]), manager)
    assert isinstance(refusal, _http.HttpResponse)
    assert refusal.status == 403


def test_the_async_driver_awaits_the_manager_and_maps_its_outage() -> None:
    class Down(AsyncMemoryStore):
        async def list_sessions(self, *args: Any, **kwargs: Any) -> Any:
            raise StoreError("down", retry_after=3)

    async def scenario() -> _http.HttpResponse:
        manager = AsyncTokenManager(Settings(), keys=KeySet.generate(), store=Down())
        pair = await manager.issue("alice")
        signed_in = _flows.HttpRequest(
            "GET", "https", "127.0.0.1", (("Authorization", f"Bearer {pair.access_token}"),)
        )
        flow = _flows.list_sessions(signed_in, _flows.FlowContext.of(manager))
        return await _flows.run_async(flow, manager)

    response = asyncio.run(scenario())
    assert (response.status, dict(response.headers)["Retry-After"]) == (503, "3")


def test_the_async_driver_runs_blocking_calls_in_another_thread() -> None:
    class Recorder:
        def where(self) -> int:
            return threading.get_ident()

    def flow() -> _flows.Flow[tuple[int, int]]:
        inline = yield _flows.Call("where")
        threaded = yield _flows.Call("where", blocking=True)
        return inline, threaded

    inline, threaded = asyncio.run(_flows.run_async(flow(), Recorder()))
    assert inline == threading.get_ident() != threaded


def test_every_endpoint_has_one_path_per_framework_syntax() -> None:
    settings = Settings(url_prefix="/auth")
    paths = {e.name: e.full_path(settings, "<{}>") for e in _flows.ENDPOINTS}
    assert paths["end_session"] == "/auth/sessions/<sid>"
    assert paths["jwks"] == "/.well-known/jwks.json"
    assert paths["browser_script"] == "/auth/refreshkit.js"
    assert {e.name for e in _flows.ENDPOINTS if e.reads_body} == {
        "refresh_token",
        "revoke_token",
        "introspect_token",
    }
