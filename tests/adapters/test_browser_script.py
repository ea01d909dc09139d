"""refreshkit.js in headless Chromium: one refresh per expiry across tabs, on real servers.

Each adapter's app (FastAPI and Django on uvicorn, Flask on werkzeug; in this process,
so the test holds the manager's FrozenClock and counts its ``refreshed``
events) serves the script at ``/refreshkit.js`` and a test page that
imports it. The browser's clock is Playwright's (``context.clock``): the
test moves both clocks together, or only the server's (the browser then
learns of the expiry from a 401 ``invalid_token``).
"""

# No ``from __future__ import annotations``: FastAPI must evaluate the local route hints.
import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from refreshkit import AsyncTokenManager, EventHooks, FrozenClock, KeySet, Settings, TokenManager
from refreshkit.adapters import _http
from refreshkit.backends.memory._state import MemoryState

from .support import (
    OUTAGE_RETRY_AFTER,
    FailingAsyncStore,
    FailingStore,
    Outage,
    uvicorn_server,
    werkzeug_server,
)
from .test_browser import (
    CSRF_COOKIE,
    REFRESH_COOKIE,
    browser,  # noqa: F401  (the module's Chromium)
)

pytestmark = pytest.mark.browser

TABS, REQUESTS = 5, 20
ACCESS_TTL = timedelta(minutes=5)
START = datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)

#: The test page: the script as a module, a few helpers on ``window`` for the test to call.
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>refreshkit.js test page</title></head>
<body>
<script type="module">
import { createRefreshKit } from "/refreshkit.js";

// ?locks=off: as in a browser without the Web Locks API
const locks = new URLSearchParams(location.search).get("locks") === "off" ? null : undefined;
const kit = createRefreshKit({ refreshUrl: "/token/refresh", logoutUrl: "/logout", locks });
window.kit = kit;
window.signedOut = [];
window.outages = [];
kit.addEventListener("signedout", (event) => window.signedOut.push(event.detail.reason));
kit.addEventListener("outage", (event) => window.outages.push(event.detail));
window.signIn = async (username) => {
  const response = await fetch("/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username }),
  });
  kit.setTokens(await response.json());
};
// n parallel calls of a protected route: each one's status, or the error's name
window.burst = (n) => Promise.all(Array.from({ length: n }, async () => {
  try {
    return (await kit.fetch("/me")).status;
  } catch (error) {
    return error.name;
  }
}));
// For bursts in every tab at once: arm each tab, then go() in one starts them all.
const start = new BroadcastChannel("test-start");
window.arm = (n) => {
  window.results = null;
  const run = () => window.burst(n).then((statuses) => { window.results = statuses; });
  start.onmessage = run;
  window.go = () => { start.postMessage("go"); run(); };
};
window.ready = true;
</script>
</body></html>
"""


@dataclass
class Server:
    """One adapter's app on a real server, its clock, its outage switch and its events."""

    clock: FrozenClock = field(default_factory=lambda: FrozenClock(START))
    outage: Outage = field(default_factory=Outage)
    events: list[str] = field(default_factory=list)

    def hooks(self) -> EventHooks:
        hooks = EventHooks()
        hooks.on(None, lambda event: self.events.append(event.name))
        return hooks

    def settings(self) -> Settings:
        return Settings(cookie_mode=True, access_ttl=ACCESS_TTL)

    def count(self, name: str) -> int:
        return Counter(self.events)[name]


def fastapi_app(server: Server, keys: KeySet) -> AbstractContextManager[str]:
    pytest.importorskip("fastapi")
    from fastapi import FastAPI, Request, Response
    from fastapi.responses import HTMLResponse

    from refreshkit.adapters.fastapi import RefreshKit

    store = FailingAsyncStore(MemoryState(), server.outage)
    manager = AsyncTokenManager(
        server.settings(), keys=keys, store=store, clock=server.clock, hooks=server.hooks()
    )
    kit = RefreshKit(manager)
    app = FastAPI()
    kit.install(app)
    require = kit.require()

    @app.post("/login")
    async def login(request: Request, response: Response) -> Any:
        return await kit.login(request, response, (await request.json())["username"])

    @app.get("/me")
    async def me(request: Request) -> Any:
        claims = await require(request, None)
        return {"subject": claims.subject}

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return PAGE

    return uvicorn_server(app)


def flask_app(server: Server, keys: KeySet) -> AbstractContextManager[str]:
    pytest.importorskip("flask")
    from flask import Flask, request

    from refreshkit.adapters.flask import RefreshKit, current_claims, require_access

    store = FailingStore(MemoryState(), server.outage)
    manager = TokenManager(
        server.settings(), keys=keys, store=store, clock=server.clock, hooks=server.hooks()
    )
    kit = RefreshKit(manager=manager)
    app = Flask(__name__)
    kit.init_app(app)

    @app.post("/login")
    def login() -> Any:
        return kit.login(request.get_json()["username"])

    @app.get("/me")
    @require_access
    def me() -> Any:
        return {"subject": current_claims.subject}

    @app.get("/")
    def page() -> str:
        return PAGE

    return werkzeug_server(app)


class DjangoUrls:
    """A URLconf object: refreshkit's endpoints at the root, the test page, /login, /me."""

    def __init__(self) -> None:
        from django.http import HttpResponse, JsonResponse
        from django.urls import include, path

        from refreshkit.adapters.django import urls
        from refreshkit.adapters.django.decorators import require_access
        from refreshkit.adapters.django.views import login

        def sign_in(request: Any) -> Any:
            return login(request, json.loads(request.body)["username"])

        sign_in.csrf_exempt = True  # type: ignore[attr-defined]

        @require_access
        def me(request: Any) -> Any:
            return JsonResponse({"subject": request.auth_claims.subject})

        self.urlpatterns = (
            path("", include((urls.endpoint_patterns(asynchronous=False), "refreshkit"))),
            path("login", sign_in),
            path("me", me),
            path("", lambda request: HttpResponse(PAGE)),
        )


@contextmanager
def django_app(server: Server, keys: KeySet) -> Iterator[str]:
    pytest.importorskip("django")
    from django.core.asgi import get_asgi_application
    from django.test import override_settings

    from refreshkit.adapters.django import conf

    from .test_django import _asgi_with_lifespan, configure_django

    configure_django()
    settings, state = server.settings(), MemoryState()
    with override_settings(
        ROOT_URLCONF=DjangoUrls(),
        MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"],
        REFRESHKIT={"store_url": "memory://"},
    ):
        conf.reset()
        hooks = server.hooks()
        sync = TokenManager(
            settings,
            keys=keys,
            store=FailingStore(state, server.outage),
            clock=server.clock,
            hooks=hooks,
        )
        async_manager = AsyncTokenManager(
            settings,
            keys=keys,
            store=FailingAsyncStore(state, server.outage),
            clock=server.clock,
            hooks=hooks,
        )
        conf._state.update(settings=settings, keys=keys, manager=sync, async_manager=async_manager)
        try:
            with uvicorn_server(_asgi_with_lifespan(get_asgi_application())) as url:
                yield url
        finally:
            conf.reset()


Serve = Callable[[Server, KeySet], AbstractContextManager[str]]
APPS = [
    pytest.param(fastapi_app, marks=pytest.mark.fastapi, id="fastapi"),
    pytest.param(flask_app, marks=pytest.mark.flask, id="flask"),
    pytest.param(django_app, marks=pytest.mark.django, id="django"),
]


@dataclass
class Tabs:
    """The pages of one browser context (one profile), the server behind them."""

    server: Server
    context: Any
    pages: list[Any]

    def advance(self, delta: timedelta, *, in_browser: bool = True) -> None:
        """Move the server's clock, and (unless told not to) the browser's as far."""
        self.server.clock.advance(delta)
        if in_browser:
            self.context.clock.fast_forward(int(delta.total_seconds() * 1000))

    def burst_all(self, n: int = REQUESTS) -> list[Any]:
        """``n`` parallel requests in every tab at once; every status, in tab order."""
        for page in self.pages:
            page.evaluate(f"window.arm({n})")
        self.pages[0].evaluate("window.go()")
        statuses = []
        for page in self.pages:
            page.wait_for_function("window.results !== null", polling=20)
            statuses.extend(page.evaluate("window.results"))
        return statuses

    def signed_out(self) -> list[list[str]]:
        return [page.evaluate("window.signedOut") for page in self.pages]

    def assert_no_refresh_token_in_scripts(self) -> None:
        cookies = {c["name"]: c["value"] for c in self.context.cookies()}
        secret = cookies.get(REFRESH_COOKIE)
        for page in self.pages:
            visible = page.evaluate("document.cookie")
            assert REFRESH_COOKIE not in visible
            stored = page.evaluate(
                "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
            )
            assert stored == "[[],[]]"
            if secret:
                assert secret not in visible


@contextmanager
def open_tabs(browser: Any, serve: Serve, keys: KeySet, query: str = "") -> Iterator[Tabs]:  # noqa: F811
    server = Server()
    with serve(server, keys) as url:
        context = browser.new_context(base_url=url)
        context.clock.install()
        pages = []
        for _ in range(TABS):
            page = context.new_page()
            page.goto(url + "/" + query)
            page.wait_for_function("window.ready === true", polling=20)
            pages.append(page)
        pages[0].evaluate("window.signIn('alice')")
        for page in pages:  # the login reached every tab over the BroadcastChannel
            page.wait_for_function("window.kit.signedIn", polling=20)
        try:
            yield Tabs(server, context, pages)
        finally:
            context.close()


@pytest.fixture(params=APPS)
def tabs(request: pytest.FixtureRequest, browser: Any, keys: KeySet) -> Iterator[Tabs]:  # noqa: F811
    with open_tabs(browser, request.param, keys) as opened:
        yield opened


@pytest.mark.parametrize("serve", APPS)
def test_without_web_locks_the_tabs_still_agree_on_one_session(
    browser: Any,  # noqa: F811
    serve: Serve,
    keys: KeySet,
) -> None:
    """The fallback: a claim over the BroadcastChannel elects one tab to refresh, at most one
    refresh per tab if claims cross, and the retry window makes any racers agree."""
    with open_tabs(browser, serve, keys, "?locks=off") as tabs:
        tabs.advance(ACCESS_TTL + timedelta(seconds=1))
        assert tabs.burst_all() == [200] * (TABS * REQUESTS)
        rotations = tabs.server.count("refreshed")
        replays = tabs.server.count("retry_replayed")
        assert 1 <= rotations + replays <= TABS  # per-tab single flight
        assert tabs.server.count("reuse_detected") == 0
        assert tabs.signed_out() == [[]] * TABS
        # the session is intact: the next lifetime refreshes as well
        tabs.advance(ACCESS_TTL)
        assert tabs.burst_all(2) == [200] * (TABS * 2)
        print(f"without Web Locks: {rotations} rotations + {replays} replays for {TABS} tabs")


def test_five_tabs_of_parallel_requests_after_expiry_refresh_once(tabs: Tabs) -> None:
    tabs.advance(ACCESS_TTL + timedelta(seconds=1))
    statuses = tabs.burst_all()
    assert statuses == [200] * (TABS * REQUESTS)
    assert tabs.server.count("refreshed") == 1
    assert tabs.signed_out() == [[]] * TABS
    tabs.assert_no_refresh_token_in_scripts()


def test_a_401_invalid_token_in_every_tab_still_refreshes_once(tabs: Tabs) -> None:
    # Only the server knows the token expired: each tab hears it from a 401.
    tabs.advance(ACCESS_TTL + timedelta(seconds=1), in_browser=False)
    statuses = tabs.burst_all()
    assert statuses == [200] * (TABS * REQUESTS)
    assert tabs.server.count("refreshed") == 1
    assert tabs.signed_out() == [[]] * TABS


def test_a_simulated_hour_takes_one_refresh_per_access_token_lifetime(tabs: Tabs) -> None:
    lifetimes = int(timedelta(hours=1) / ACCESS_TTL)
    for done in range(1, lifetimes + 1):
        tabs.advance(ACCESS_TTL)
        assert tabs.burst_all(4) == [200] * (TABS * 4)
        assert tabs.server.count("refreshed") == done
    assert tabs.signed_out() == [[]] * TABS
    tabs.assert_no_refresh_token_in_scripts()


def test_a_lost_refresh_reply_signs_nobody_out(tabs: Tabs) -> None:
    """The server rotated, the browser never heard (nor got the new cookie): the retry
    window hands the same successor to the script's immediate second attempt."""
    context = tabs.context
    dropped: list[str] = []

    def drop_first(route: Any) -> None:
        if dropped:
            route.continue_()
            return
        before = context.cookies()
        response = route.fetch()
        dropped.append(str(response.status))
        context.clear_cookies()  # whatever the fetch stored, the browser never saw
        context.add_cookies(before)
        route.abort()

    context.route("**/token/refresh", drop_first)
    tabs.advance(ACCESS_TTL + timedelta(seconds=1))
    statuses = tabs.burst_all()
    assert dropped == ["200"]
    assert tabs.signed_out() == [[]] * TABS, tabs.server.events
    assert statuses == [200] * (TABS * REQUESTS)
    assert tabs.server.count("refreshed") == 1
    assert tabs.server.count("retry_replayed") == 1
    assert tabs.server.count("reuse_detected") == 0
    assert tabs.signed_out() == [[]] * TABS
    # and the session lives on: the next lifetime refreshes normally
    context.unroute("**/token/refresh")
    tabs.advance(ACCESS_TTL)
    assert tabs.burst_all(2) == [200] * (TABS * 2)
    assert tabs.server.count("refreshed") == 2


def test_logout_in_one_tab_signs_every_tab_out(tabs: Tabs) -> None:
    tabs.pages[2].evaluate("window.kit.logout()")
    for page in tabs.pages:
        page.wait_for_function("window.signedOut.length > 0", polling=20)
    assert tabs.signed_out() == [["logout"]] * TABS
    assert REFRESH_COOKIE not in {c["name"] for c in tabs.context.cookies()}
    assert tabs.server.count("revoked") == 1
    # signed out: requests go out without a token, and nothing tries to refresh
    assert tabs.burst_all(2) == [401] * (TABS * 2)
    assert tabs.server.count("refreshed") == 0
    assert tabs.signed_out() == [["logout"]] * TABS


def test_a_refused_refresh_tells_each_tab_once(tabs: Tabs) -> None:
    # A refresh cookie the server does not know (with its matching CSRF cookie): invalid_grant.
    bogus = "rk_" + "x" * 40
    planted = {REFRESH_COOKIE: bogus, CSRF_COOKIE: _http.csrf_token_for(bogus)}
    cookies = [{**c, "value": planted[c["name"]]} for c in tabs.context.cookies()]
    tabs.context.add_cookies(cookies)
    assert {c["name"]: c["value"] for c in tabs.context.cookies()} == planted
    tabs.advance(ACCESS_TTL + timedelta(seconds=1))
    statuses = tabs.burst_all()
    assert set(statuses) == {401}  # sent without a token once signed out
    assert tabs.signed_out() == [["invalid_grant"]] * TABS
    assert tabs.server.count("refreshed") == 0
    tabs.assert_no_refresh_token_in_scripts()


def test_an_outage_backs_off_and_loses_nothing(tabs: Tabs) -> None:
    page = tabs.pages[0]
    tabs.advance(ACCESS_TTL + timedelta(seconds=1))
    tabs.server.outage.active = True
    assert page.evaluate("window.burst(3)") == ["RefreshUnavailableError"] * 3
    outages = page.evaluate("window.outages")
    assert len(outages) == 1
    assert outages[0]["status"] == 503
    assert outages[0]["retryAfter"] == OUTAGE_RETRY_AFTER * 1000  # Retry-After honoured
    # within the backoff, nothing is sent: the store still fails, yet no new outage either
    assert page.evaluate("window.burst(2)") == ["RefreshUnavailableError"] * 2
    assert len(page.evaluate("window.outages")) == 1
    tabs.server.outage.active = False
    tabs.advance(timedelta(seconds=OUTAGE_RETRY_AFTER))
    assert tabs.burst_all(2) == [200] * (TABS * 2)
    assert tabs.server.count("refreshed") == 1
    assert tabs.signed_out() == [[]] * TABS


def click(page: Any, selector: str) -> None:
    """Click in a tab brought to the front (a background tab's animation frames are throttled)."""
    page.bring_to_front()
    page.click(selector)


@pytest.mark.fastapi
def test_the_demo_page_refreshes_once_for_two_tabs(browser: Any, tmp_path: Any) -> None:  # noqa: F811
    pytest.importorskip("fastapi")
    from refreshkit._demo import BROWSER_PAGE_PATH, DemoClock, demo_app, running_server

    app, events = demo_app(f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}", DemoClock())
    with running_server(app) as url:
        context = browser.new_context(base_url=url)
        try:
            first, second = context.new_page(), context.new_page()
            for page in (first, second):
                page.goto(url + BROWSER_PAGE_PATH)
                page.wait_for_function("window.kit !== undefined", polling=20)
            click(first, "#login")
            second.wait_for_function("window.kit.signedIn", polling=20)
            click(first, "#expire")
            first.wait_for_function(
                "document.querySelector('#log').textContent.includes('advanced')", polling=20
            )
            for page in (first, second):
                click(page, "#calls")
            for page in (first, second):
                page.wait_for_function("document.querySelector('#log').dataset.calls", polling=20)
                assert page.get_attribute("#log", "data-calls") == " ".join(["200"] * 10)
            assert [e.name for e in events].count("refreshed") == 1
            click(second, "#logout")
            first.wait_for_function(
                "document.querySelector('#log').textContent.includes('signed out')", polling=20
            )
        finally:
            context.close()


def test_a_reloaded_tab_asks_the_others_and_a_lone_one_restores_from_the_cookie(
    tabs: Tabs,
) -> None:
    reloaded = tabs.pages[1]
    reloaded.reload()
    reloaded.wait_for_function("window.ready === true && window.kit.signedIn", polling=20)
    assert reloaded.evaluate("window.burst(3)") == [200] * 3
    assert tabs.server.count("refreshed") == 0  # the token came from another tab
    for page in tabs.pages[1:]:
        page.close()
    lone = tabs.pages[0]
    tabs.pages = [lone]
    lone.reload()
    lone.wait_for_function("window.ready === true", polling=20)
    assert lone.evaluate("window.kit.signedIn") is False
    assert lone.evaluate("window.burst(3)") == [200] * 3
    assert tabs.server.count("refreshed") == 1  # the session survived the reload
    assert tabs.signed_out() == [[]]
    tabs.assert_no_refresh_token_in_scripts()
