"""An in-process authorization server and API for the client's unit tests (httpx.MockTransport).

``/token`` is an RFC 6749 §6 refresh endpoint issuing ``at-N``/``rt-N`` and
rotating the refresh token; ``/api`` answers 200 to the current access
token and ``401 invalid_token`` to any other. A :attr:`gate` lets a test hold
the refresh until every caller has piled up behind it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from refreshkit._client.holder import Claim
from refreshkit.client import TokenHolder, Tokens

INVALID_TOKEN = 'Bearer realm="api", error="invalid_token", error_description="expired"'


@dataclass
class FakeServer:
    """Counts refreshes; ``refusal``/``outages`` script failures of the token endpoint."""

    expires_in: int = 900
    refreshes: int = 0
    generation: int = 0
    refusal: httpx.Response | None = None
    outages: list[int] = field(default_factory=list)
    gate: Callable[[], None] | None = None
    async_gate: Callable[[], Awaitable[None]] | None = None
    #: The Authorization header of each API request, in arrival order.
    api_calls: list[str] = field(default_factory=list)
    token_requests: list[httpx.Request] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def access_token(self) -> str:
        return f"at-{self.generation}"

    @property
    def refresh_token(self) -> str:
        return f"rt-{self.generation}"

    def tokens(self, *, expires_at: float | None = None) -> Tokens:
        """The pair the server currently accepts, as a client would hold it."""
        return Tokens(self.access_token, self.refresh_token, expires_at=expires_at)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            return self._refresh(request)
        with self._lock:
            self.api_calls.append(request.headers.get("authorization", ""))
            current = f"Bearer {self.access_token}"
        if request.headers.get("authorization") != current:
            return httpx.Response(401, headers={"WWW-Authenticate": INVALID_TOKEN})
        return httpx.Response(200, json={"ok": True, "body": request.content.decode()})

    async def ahandle(self, request: httpx.Request) -> httpx.Response:
        """The async transport's handler: like :meth:`handle`, awaiting ``async_gate``."""
        if request.url.path != "/token":
            return self.handle(request)
        self._count(request)
        if self.async_gate is not None:
            await self.async_gate()
        return self._answer(request)

    def _refresh(self, request: httpx.Request) -> httpx.Response:
        self._count(request)
        if self.gate is not None:
            self.gate()
        return self._answer(request)

    def _count(self, request: httpx.Request) -> None:
        with self._lock:
            self.refreshes += 1
            self.token_requests.append(request)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            if self.outages:
                return httpx.Response(self.outages.pop(0))
            if self.refusal is not None:
                return self.refusal
            form = dict(httpx.QueryParams(request.content.decode()))
            if form.get("refresh_token") != self.refresh_token:
                return httpx.Response(400, json={"error": "invalid_grant"})
            self.generation += 1
            return httpx.Response(
                200,
                json={
                    "access_token": self.access_token,
                    "token_type": "Bearer",
                    "expires_in": self.expires_in,
                    "refresh_token": self.refresh_token,
                },
            )


class CountingHolder(TokenHolder):
    """A TokenHolder that counts the callers asking for a refresh and can tell when N have."""

    def __init__(self, tokens: Tokens | None = None) -> None:
        super().__init__(tokens)
        self.claims = 0
        self._claimed = threading.Condition()

    def _claim_refresh(self, seen: Tokens) -> Claim:
        with self._claimed:
            self.claims += 1
            self._claimed.notify_all()
        return super()._claim_refresh(seen)

    def wait_for_claims(self, count: int, timeout: float = 10.0) -> None:
        with self._claimed:
            assert self._claimed.wait_for(lambda: self.claims >= count, timeout), self.claims

    async def claims_reached(self, count: int) -> None:
        """Yield to the event loop until ``count`` callers have claimed (bounded)."""
        for _ in range(100_000):
            if self.claims >= count:
                return
            await asyncio.sleep(0)
        raise AssertionError(f"only {self.claims} of {count} callers asked for a refresh")
