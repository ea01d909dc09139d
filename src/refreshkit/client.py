"""An ``httpx`` auth that refreshes the access token only when needed, and only once at a time.

::

    auth = RefreshingAuth("https://auth.example.com/token/refresh", tokens=login.json())
    with httpx.Client(base_url="https://api.example.com", auth=auth) as api:
        while True:
            api.get("/me").raise_for_status()  # expiry is never the caller's problem

Each request carries the access token. Shortly before it expires (``skew``
seconds, read from ``expires_in`` or the token's ``exp`` claim) the auth
refreshes it first; a ``401`` with ``error="invalid_token"`` makes it
refresh once and retry once. A successful call never causes a refresh.

However many threads (:class:`RefreshingAuth`) or tasks
(:class:`AsyncRefreshingAuth`) need a new token at once, and however many
clients share one :class:`TokenHolder`, exactly one refresh request is sent;
the others wait for it and use its result.

A ``401`` with ``error="insufficient_user_authentication"`` (RFC 9470: the
route wants a more recent login) is returned as it is, since a refresh keeps
``auth_time``; :func:`step_up_required` reads its challenge into a typed
error with ``max_age``, for the application to re-authenticate the user.

Errors: :class:`~refreshkit.errors.SessionExpiredError` when the server
refuses the refresh token (log in again);
:class:`~refreshkit.errors.RefreshUnavailableError` when the token endpoint
stays down through the bounded retries (the refresh token is kept);
:class:`~refreshkit.errors.ConfigurationError` at once for tokens that
have no refresh token (a cookie-mode login read as a body-mode one).

Needs the ``client`` extra: ``pip install 'refreshkit[client]'``.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from datetime import timedelta
from typing import Any, Literal

from .errors import (
    ConfigurationError,
    InsufficientUserAuthenticationError,
    MissingExtraError,
    RefreshUnavailableError,
    SessionExpiredError,
)

try:
    import httpx
except ImportError as _missing:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError(
        "refreshkit.client needs httpx: pip install 'refreshkit[client]'"
    ) from _missing

from ._client.grant import Backoff, CookieRefresh, Outcome, RefreshGrant, Sleep, Step
from ._client.holder import Flight, RefreshAbandonedError, TokenHolder, TokensCallback
from ._client.tokens import Tokens

__all__ = [
    "AsyncRefreshingAuth",
    "CookieRefresh",
    "RefreshUnavailableError",
    "RefreshingAuth",
    "SessionExpiredError",
    "TokenHolder",
    "Tokens",
    "step_up_required",
]

_INVALID_TOKEN = re.compile(r'\berror\s*=\s*"?invalid_token\b', re.IGNORECASE)


#: One ``name=value`` auth-param of a challenge (RFC 9110 §11.2): a token or a quoted-string.
_AUTH_PARAM = re.compile(r'([A-Za-z0-9_\-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def step_up_required(response: httpx.Response) -> InsufficientUserAuthenticationError | None:
    """The RFC 9470 step-up challenge of ``response`` as a typed error, or None.

    A protected resource that wants a more recent authentication answers
    401 with ``WWW-Authenticate: Bearer error="insufficient_user_authentication"``
    and, usually, ``max_age``. The error returned carries the challenge's
    ``error_description`` as its message and ``max_age`` (seconds, or None
    when absent or malformed); raise it, or send the user through a
    re-authentication (``TokenManager.reauthenticate`` on the server) and
    retry with the new access token. None for any other response.
    """
    if response.status_code != 401:
        return None
    for challenge in response.headers.get_list("www-authenticate"):
        scheme, _, rest = challenge.strip().partition(" ")
        if scheme.lower() != "bearer":
            continue
        params = {
            name.lower(): quoted if quoted is not None and bare is None else (bare or "")
            for name, quoted, bare in (m.groups() for m in _AUTH_PARAM.finditer(rest))
        }
        if params.get("error") != "insufficient_user_authentication":
            continue
        max_age = params.get("max_age", "")
        return InsufficientUserAuthenticationError(
            params.get("error_description") or "a more recent authentication is required",
            max_age=int(max_age) if max_age.isdigit() else None,
        )
    return None


def _rejects_access_token(response: httpx.Response) -> bool:
    """Whether ``response`` is RFC 6750's "this access token is no good": 401 ``invalid_token``.

    Other 401s (no ``error``, or another one) are returned to the caller as
    they are: a refresh would not change them.
    """
    return response.status_code == 401 and any(
        _INVALID_TOKEN.search(challenge)
        for challenge in response.headers.get_list("www-authenticate")
    )


def _require_refresh_token(tokens: Tokens, cookie: CookieRefresh | None) -> None:
    """Refuse, at once, tokens that could never be refreshed.

    Without this the auth works until the access token expires, then fails
    with "no refresh token" minutes later, far from the login that caused it.
    Raises :class:`~refreshkit.errors.ConfigurationError` naming the fix.
    """
    if tokens.refresh_token:
        return
    if cookie is not None:
        raise ConfigurationError(
            "cookie mode needs the refresh cookie's value: pass Tokens(access_token, "
            f"refresh_token=<the {cookie.cookie_name} cookie>, csrf_token=<the "
            f"{cookie.csrf_cookie_name or 'CSRF'} cookie>) from the login response"
        )
    raise ConfigurationError(
        "the tokens have no refresh_token, so they could never be refreshed (a server "
        "in cookie mode sets it as a cookie instead). Ask the login for it in the body "
        "(refreshkit servers: send the header 'X-Token-Delivery: body'), or pass "
        "cookie=CookieRefresh() with refresh_token set to the refresh cookie's value"
    )


class _RefreshingAuthBase(httpx.Auth):
    """What the sync and async flows share: configuration and the proactive rule."""

    # The request is replayed after a 401, so its body must be in memory.
    requires_request_body = True

    def __init__(
        self,
        token_url: str,
        *,
        tokens: Tokens | Mapping[str, Any] | None = None,
        holder: TokenHolder | None = None,
        on_tokens: TokensCallback | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        client_auth: Literal["basic", "body"] = "basic",
        scope: str | None = None,
        cookie: CookieRefresh | None = None,
        skew: float | timedelta = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if holder is not None and (tokens is not None or on_tokens is not None):
            raise ConfigurationError("pass tokens and on_tokens to the TokenHolder, not beside it")
        self.clock = clock
        if holder is None:
            if tokens is not None and not isinstance(tokens, Tokens):
                tokens = Tokens.from_token_response(tokens, now=clock())
            if tokens is not None:
                _require_refresh_token(tokens, cookie)
            holder = TokenHolder(tokens, on_tokens=on_tokens)
        self.holder = holder
        self.cookie = cookie
        self.skew: float = skew.total_seconds() if isinstance(skew, timedelta) else float(skew)
        if self.skew < 0:
            raise ConfigurationError("skew cannot be negative")
        self.grant: RefreshGrant = RefreshGrant(
            token_url,
            client_id=client_id,
            client_secret=client_secret,
            client_auth=client_auth,
            scope=scope,
            cookie=cookie,
            backoff=Backoff(retries, backoff, max_backoff),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.grant.token_url!r}, holder={self.holder!r})"

    def _current(self) -> Tokens:
        tokens = self.holder.tokens
        if tokens is None:
            raise SessionExpiredError("no tokens: log in first and pass the tokens")
        _require_refresh_token(tokens, self.cookie)
        return tokens

    def _due(self, tokens: Tokens) -> bool:
        return tokens.expiring(self.clock(), self.skew)


class RefreshingAuth(_RefreshingAuthBase):
    """``httpx.Auth`` for :class:`httpx.Client` that refreshes only when needed, once at a time.

    ``tokens`` (a :class:`Tokens` or a login's JSON token response) and
    ``on_tokens`` build an in-memory :class:`TokenHolder`; pass ``holder``
    instead to share tokens between clients or persist them.
    ``refresh_client`` sends the refresh requests (pass the API client itself
    to share its transport; default: a private :class:`httpx.Client`, closed
    by :meth:`close`). ``sleep`` waits between retries; ``clock`` returns
    epoch seconds (both injectable for tests). Request bodies are read into
    memory first, so a request refused with ``invalid_token`` can be replayed.
    Requests raise :class:`~refreshkit.errors.SessionExpiredError` and
    :class:`~refreshkit.errors.RefreshUnavailableError` as described in the
    module docs, and :class:`~refreshkit.errors.ConfigurationError` when the
    token endpoint refuses the request itself (wrong URL or credentials).
    Tokens without a refresh token (in cookie mode: without the refresh
    cookie's value) raise :class:`~refreshkit.errors.ConfigurationError` at
    once: here, or at the first request for tokens a holder loads.
    """

    def __init__(
        self,
        token_url: str,
        *,
        tokens: Tokens | Mapping[str, Any] | None = None,
        holder: TokenHolder | None = None,
        on_tokens: TokensCallback | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        client_auth: Literal["basic", "body"] = "basic",
        scope: str | None = None,
        cookie: CookieRefresh | None = None,
        skew: float | timedelta = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        clock: Callable[[], float] = time.time,
        refresh_client: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(
            token_url,
            tokens=tokens,
            holder=holder,
            on_tokens=on_tokens,
            client_id=client_id,
            client_secret=client_secret,
            client_auth=client_auth,
            scope=scope,
            cookie=cookie,
            skew=skew,
            retries=retries,
            backoff=backoff,
            max_backoff=max_backoff,
            clock=clock,
        )
        self._refresh_client = refresh_client
        self._owns_client = refresh_client is None
        self._client_lock = threading.Lock()
        self._sleep = sleep

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Send ``request`` with a fresh access token; on ``invalid_token`` refresh, retry once."""
        request.read()
        tokens = self._current()
        if self._due(tokens):
            tokens = self._refresh(tokens, request.url)
        request.headers["Authorization"] = tokens.authorization
        response = yield request
        if not _rejects_access_token(response):
            return
        response.read()  # releases its connection before the refresh needs one
        tokens = self._refresh(tokens, request.url)
        request.headers["Authorization"] = tokens.authorization
        yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Refused: a sync auth would block the event loop. Use :class:`AsyncRefreshingAuth`."""
        raise ConfigurationError("RefreshingAuth is for httpx.Client; use AsyncRefreshingAuth")
        yield request  # pragma: no cover - makes this an async generator

    def close(self) -> None:
        """Close the private refresh client, if this auth created one."""
        with self._client_lock:
            client, self._refresh_client = self._refresh_client, None
        if client is not None and self._owns_client:
            client.close()

    def __enter__(self) -> RefreshingAuth:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _refresh(self, seen: Tokens, origin: httpx.URL) -> Tokens:
        """Newer tokens than ``seen``: someone else's, or from the one refresh this thread leads."""
        while True:
            claim = self.holder._claim_refresh(seen)
            if claim.tokens is not None:
                return claim.tokens
            assert claim.flight is not None
            if claim.leader:
                return self._lead(claim.flight, origin)
            try:
                return claim.flight.outcome.result()
            except RefreshAbandonedError:
                continue  # the leader was interrupted: claim again

    def _lead(self, flight: Flight, origin: httpx.URL) -> Tokens:
        try:
            tokens = self._drive(self.grant.steps(flight.tokens, origin, self.clock))
        except BaseException as exc:
            self.holder._abandon_refresh(flight, exc)
            raise
        self.holder._finish_refresh(flight, tokens)
        return tokens

    def _drive(self, steps: Generator[Step, Outcome, Tokens]) -> Tokens:
        outcome: Outcome = None
        while True:
            try:
                step = steps.send(outcome)
            except StopIteration as done:
                tokens: Tokens = done.value
                return tokens
            if isinstance(step, Sleep):
                self._sleep(step.seconds)
                outcome = None
                continue
            try:
                outcome = self._client().send(step.request, auth=None, follow_redirects=False)
            except httpx.TransportError as exc:
                outcome = exc

    def _client(self) -> httpx.Client:
        with self._client_lock:
            if self._refresh_client is None:
                self._refresh_client = httpx.Client()
                self._owns_client = True
            return self._refresh_client


class AsyncRefreshingAuth(_RefreshingAuthBase):
    """The :class:`RefreshingAuth` twin for :class:`httpx.AsyncClient`.

    Same options; ``refresh_client`` is an :class:`httpx.AsyncClient`
    (default: a private one, closed by :meth:`aclose`) and ``sleep`` a
    coroutine function. The one refresh runs in its own task, so cancelling
    the request that started it does not cancel it for the others (nor lose
    a token the server has already rotated). Raises as :class:`RefreshingAuth`.
    """

    def __init__(
        self,
        token_url: str,
        *,
        tokens: Tokens | Mapping[str, Any] | None = None,
        holder: TokenHolder | None = None,
        on_tokens: TokensCallback | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        client_auth: Literal["basic", "body"] = "basic",
        scope: str | None = None,
        cookie: CookieRefresh | None = None,
        skew: float | timedelta = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        clock: Callable[[], float] = time.time,
        refresh_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(
            token_url,
            tokens=tokens,
            holder=holder,
            on_tokens=on_tokens,
            client_id=client_id,
            client_secret=client_secret,
            client_auth=client_auth,
            scope=scope,
            cookie=cookie,
            skew=skew,
            retries=retries,
            backoff=backoff,
            max_backoff=max_backoff,
            clock=clock,
        )
        self._refresh_client = refresh_client
        self._owns_client = refresh_client is None
        self._sleep = sleep
        self._leaders: set[asyncio.Task[Tokens]] = set()

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Refused: an async auth cannot run in a sync client. Use :class:`RefreshingAuth`."""
        raise ConfigurationError("AsyncRefreshingAuth is for httpx.AsyncClient; use RefreshingAuth")
        yield request  # pragma: no cover - makes this a generator

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Send ``request`` with a fresh access token; on ``invalid_token`` refresh, retry once."""
        await request.aread()
        tokens = self._current()
        if self._due(tokens):
            tokens = await self._refresh(tokens, request.url)
        request.headers["Authorization"] = tokens.authorization
        response = yield request
        if not _rejects_access_token(response):
            return
        await response.aread()
        tokens = await self._refresh(tokens, request.url)
        request.headers["Authorization"] = tokens.authorization
        yield request

    async def aclose(self) -> None:
        """Close the private refresh client, if this auth created one."""
        client, self._refresh_client = self._refresh_client, None
        if client is not None and self._owns_client:
            await client.aclose()

    async def __aenter__(self) -> AsyncRefreshingAuth:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _refresh(self, seen: Tokens, origin: httpx.URL) -> Tokens:
        """Newer tokens than ``seen``: someone else's, or from the one refresh this task leads."""
        while True:
            claim = self.holder._claim_refresh(seen)
            if claim.tokens is not None:
                return claim.tokens
            assert claim.flight is not None
            if claim.leader:
                leader = asyncio.get_running_loop().create_task(self._lead(claim.flight, origin))
                self._leaders.add(leader)
                leader.add_done_callback(self._forget_leader)
                return await asyncio.shield(leader)
            try:
                return await asyncio.wrap_future(claim.flight.outcome)
            except RefreshAbandonedError:
                continue

    def _forget_leader(self, task: asyncio.Task[Tokens]) -> None:
        self._leaders.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a cancelled caller must not leave it "never retrieved"

    async def _lead(self, flight: Flight, origin: httpx.URL) -> Tokens:
        try:
            tokens = await self._drive(self.grant.steps(flight.tokens, origin, self.clock))
        except BaseException as exc:
            self.holder._abandon_refresh(flight, exc)
            raise
        self.holder._finish_refresh(flight, tokens)
        return tokens

    async def _drive(self, steps: Generator[Step, Outcome, Tokens]) -> Tokens:
        outcome: Outcome = None
        while True:
            try:
                step = steps.send(outcome)
            except StopIteration as done:
                tokens: Tokens = done.value
                return tokens
            if isinstance(step, Sleep):
                await self._sleep(step.seconds)
                outcome = None
                continue
            try:
                outcome = await self._client().send(step.request, auth=None, follow_redirects=False)
            except httpx.TransportError as exc:
                outcome = exc

    def _client(self) -> httpx.AsyncClient:
        if self._refresh_client is None:
            self._refresh_client = httpx.AsyncClient()
            self._owns_client = True
        return self._refresh_client
