"""The Django adapter: the shared HTTP spec through Django's test client (sync and
async views, with ``CsrfViewMiddleware`` enforcing) and through uvicorn on
Django's ASGI application.

Django is configured when the first test runs (after every conftest was
collected), unless another test package configured it already; either way
every test pins what it relies on (URLconf, middleware, ``REFRESHKIT``) with
``override_settings``. Nothing here reads Django's settings at import.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from refreshkit import (
    AsyncTokenManager,
    FrozenClock,
    KeySet,
    RefreshContext,
    RefreshGrant,
    Settings,
    TokenManager,
)
from refreshkit.backends.memory._state import MemoryState

from .spec import AdapterSpec, MakeApi, bearer
from .spec_checks import CheckSpec
from .spec_clients import ClientSpec
from .spec_sessions import SessionSpec
from .support import (
    Api,
    FailingAsyncStore,
    FailingStore,
    Gate,
    Headers,
    HttpxApi,
    Outage,
    Reply,
    login_options,
    uvicorn_server,
)

pytest.importorskip("django")
import django
from django import conf as django_conf
from django.core.asgi import get_asgi_application
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import Client, override_settings
from django.urls import include, path

from refreshkit.adapters.django import conf
from refreshkit.adapters.django.decorators import require, require_access
from refreshkit.adapters.django.views import alogin, login

pytestmark = pytest.mark.django

MIDDLEWARE = [
    "django.middleware.csrf.CsrfViewMiddleware",
    "refreshkit.adapters.django.middleware.AccessTokenMiddleware",
]


def device_of(request: HttpRequest) -> str | None:
    return request.headers.get("X-Device")


def describe(request: Any) -> JsonResponse:
    claims = request.auth_claims
    return JsonResponse(
        {"subject": claims.subject, "sid": claims.sid, "scopes": sorted(claims.scopes)}
    )


# ------------------------------------------------------------ the test apps


def sign_in(request: HttpRequest) -> HttpResponse:
    payload = json.loads(request.body)
    return login(
        request,
        payload["username"],
        scope=payload.get("scope"),
        client_id=payload.get("client_id"),
        **login_options(payload),
    )


async def async_sign_in(request: HttpRequest) -> HttpResponse:
    payload = json.loads(request.body)
    return await alogin(
        request,
        payload["username"],
        scope=payload.get("scope"),
        client_id=payload.get("client_id"),
        **login_options(payload),
    )


sign_in.csrf_exempt = True  # type: ignore[attr-defined]
async_sign_in.csrf_exempt = True  # type: ignore[attr-defined]


@require_access
def me(request: HttpRequest) -> JsonResponse:
    return describe(request)


@require(scopes=["admin"])
def admin(request: HttpRequest) -> JsonResponse:
    return describe(request)


@require_access(online=True)
def online_me(request: HttpRequest) -> JsonResponse:
    return describe(request)


@require_access
async def async_me(request: HttpRequest) -> JsonResponse:
    return describe(request)


@require_access(scopes=["admin"])
async def async_admin(request: HttpRequest) -> JsonResponse:
    return describe(request)


@require_access(online=True)
async def async_online_me(request: HttpRequest) -> JsonResponse:
    return describe(request)


@require_access(max_age=300)
def fresh(request: HttpRequest) -> JsonResponse:
    return describe(request)


@require_access(max_age=300)
async def async_fresh(request: HttpRequest) -> JsonResponse:
    return describe(request)


@require_access
def reauth(request: Any) -> JsonResponse:
    # The application checked the password again here.
    sid = request.auth_claims.sid
    return JsonResponse({"access_token": conf.get_manager().reauthenticate(sid)})


@require_access
async def async_reauth(request: Any) -> JsonResponse:
    sid = request.auth_claims.sid
    return JsonResponse({"access_token": await conf.get_async_manager().reauthenticate(sid)})


reauth.csrf_exempt = True  # type: ignore[attr-defined]
async_reauth.csrf_exempt = True  # type: ignore[attr-defined]


@require_access(online=True)
def change_password(request: Any) -> JsonResponse:
    manager = conf.get_manager()
    now = manager.clock.now()
    return JsonResponse({"ended": manager.revoke_subject(request.auth_claims.subject, before=now)})


@require_access(online=True)
async def async_change_password(request: Any) -> JsonResponse:
    manager = conf.get_async_manager()
    now = manager.clock.now()
    return JsonResponse(
        {"ended": await manager.revoke_subject(request.auth_claims.subject, before=now)}
    )


change_password.csrf_exempt = True  # type: ignore[attr-defined]
async_change_password.csrf_exempt = True  # type: ignore[attr-defined]


def guarded(request: HttpRequest) -> JsonResponse:
    """A POST view of the application's own, under Django's CSRF protection."""
    return JsonResponse({})


def whoami(request: Any) -> JsonResponse:
    """What the middleware alone found: never a refusal."""
    claims = request.auth_claims
    return JsonResponse({"subject": claims.subject if claims else None})


class TestUrls:
    """A URLconf object: refreshkit's endpoints at the root and the spec's test app."""

    __test__ = False  # not a test class

    def __init__(self, asynchronous: bool) -> None:
        from refreshkit.adapters.django import urls

        endpoints = urls.endpoint_patterns(asynchronous=asynchronous)
        app = (
            (
                async_sign_in,
                async_me,
                async_admin,
                async_online_me,
                async_fresh,
                async_reauth,
                async_change_password,
            )
            if asynchronous
            else (sign_in, me, admin, online_me, fresh, reauth, change_password)
        )
        self.urlpatterns = (
            path("", include((endpoints, "refreshkit"))),
            *(path(route, view) for route, view in zip(ROUTES, app, strict=True)),
            path("whoami", whoami),
            path("guarded", guarded),
        )


ROUTES = ("login", "me", "admin", "online-me", "fresh", "reauth", "change-password")
_urlconfs: dict[bool, TestUrls] = {}


def urlconf(asynchronous: bool) -> TestUrls:
    """One URLconf object per kind, so Django's resolver cache keeps working."""
    if asynchronous not in _urlconfs:
        _urlconfs[asynchronous] = TestUrls(asynchronous)
    return _urlconfs[asynchronous]


@pytest.fixture(scope="module", autouse=True)
def django_configured() -> None:
    """Configure Django for these tests, unless another package already did."""
    configure_django()


def configure_django() -> None:
    """A minimal Django configuration (in-memory SQLite), unless one exists already."""
    # django.conf.settings is a lazy object that doctest collection probes
    # (hasattr __wrapped__): reached through its module, never held here.
    if not django_conf.settings.configured:
        django_conf.settings.configure(
            SECRET_KEY="tests-only-django-secret",
            ALLOWED_HOSTS=["*"],
            USE_TZ=True,
            INSTALLED_APPS=["django.contrib.contenttypes", "refreshkit.adapters.django"],
            DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        )
    if not django.apps.apps.ready:
        django.setup()


def _asgi_with_lifespan(app: Any) -> Any:
    """Django's ASGI app refuses lifespan events; uvicorn is told to send them."""

    async def serve(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    return serve


# ------------------------------------------------------------------ drivers


class DjangoClientApi:
    """Django's test client, CSRF checks enforced, its cookie jar emptied each time."""

    def __init__(self, label: str) -> None:
        self.client = Client(enforce_csrf_checks=True)
        self.label = label

    def request(
        self,
        method: str,
        path: str,
        *,
        form: Mapping[str, str] | None = None,
        json_body: Any = None,
        content: bytes | None = None,
        headers: Headers | None = None,
        cookies: Mapping[str, str] | None = None,
        plain: bool = False,
    ) -> Reply:
        pairs = list(headers.items() if isinstance(headers, Mapping) else headers or ())
        if cookies:
            pairs.append(("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items())))
        joined: dict[str, str] = {}
        for name, value in pairs:  # a WSGI server joins a repeated header with commas
            key = next((k for k in joined if k.lower() == name.lower()), name)
            joined[key] = f"{joined[key]}, {value}" if key in joined else value
        data: bytes | str = b""
        content_type = "application/octet-stream"
        if form is not None:
            data, content_type = urlencode(form), "application/x-www-form-urlencoded"
        elif json_body is not None:
            data, content_type = json.dumps(json_body), "application/json"
        elif content is not None:
            data = content
        self.client.cookies = SimpleCookie()
        response = self.client.generic(
            method, path, data, content_type=content_type, secure=not plain, headers=joined
        )
        self.client.cookies = SimpleCookie()
        items = list(response.items())
        items += [("Set-Cookie", morsel.OutputString()) for morsel in response.cookies.values()]
        return Reply(response.status_code, items, response.content.decode("utf-8"))


def install(
    settings: Settings,
    keys: KeySet,
    state: MemoryState,
    outage: Outage,
    clock: FrozenClock,
    gate: Gate | None = None,
) -> None:
    """Make both of the process's managers this test's, over one failing memory store."""
    conf.reset()
    sync = TokenManager(
        settings, keys=keys, store=FailingStore(state, outage), clock=clock, refresh_check=gate
    )
    store = FailingAsyncStore(state, outage)
    async_manager = AsyncTokenManager(
        settings, keys=keys, store=store, clock=clock, refresh_check=gate
    )
    # conf builds its managers from REFRESHKIT; these tests need a clock and a store
    # they control, so they seed its per-process state directly.
    conf._state.update(settings=settings, keys=keys, manager=sync, async_manager=async_manager)


@pytest.fixture(params=["test-client-sync", "test-client-async", "uvicorn-asgi"])
def make_api(
    request: pytest.FixtureRequest,
    clock: FrozenClock,
    outage: Outage,
    state: MemoryState,
    keys: KeySet,
    gate: Gate,
) -> Iterator[MakeApi]:
    asynchronous = request.param != "test-client-sync"
    with ExitStack() as stack:
        stack.callback(conf.reset)
        stack.enter_context(
            override_settings(
                ROOT_URLCONF=urlconf(asynchronous),
                MIDDLEWARE=MIDDLEWARE,
                ALLOWED_HOSTS=["*"],
                REFRESHKIT={"django_device": device_of, "store_url": "memory://"},
            )
        )

        def make(**overrides: Any) -> Api:
            settings = Settings(cookie_mode=True).replace(**overrides)
            install(settings, keys, state, outage, clock, gate)
            if request.param.startswith("test-client"):
                return DjangoClientApi(request.param)  # type: ignore[return-value]
            url = stack.enter_context(uvicorn_server(_asgi_with_lifespan(get_asgi_application())))
            return HttpxApi(stack.enter_context(httpx.Client(base_url=url)), request.param)

        yield make


class TestDjangoAdapter(AdapterSpec):
    """The shared HTTP specification, on Django."""


class TestDjangoChecks(CheckSpec):
    """The refresh check over HTTP, on Django."""


class TestDjangoClients(ClientSpec):
    """OAuth clients, introspection and TLS, on Django."""


class TestDjangoSessions(SessionSpec):
    """Device lists, ending sessions and remember-me lifetimes, on Django."""


# ----------------------------------------------------------------- Django only


@pytest.fixture
def sync_api(
    clock: FrozenClock, outage: Outage, state: MemoryState, keys: KeySet
) -> Iterator[DjangoClientApi]:
    with override_settings(
        ROOT_URLCONF=urlconf(False),
        MIDDLEWARE=MIDDLEWARE,
        REFRESHKIT={"store_url": "memory://"},
    ):
        install(Settings(cookie_mode=True), keys, state, outage, clock)
        yield DjangoClientApi("test-client-sync")
    conf.reset()


def test_the_middleware_sets_claims_for_a_valid_token_and_none_otherwise(
    sync_api: DjangoClientApi,
) -> None:
    reply = sync_api.request("POST", "/login", json_body={"username": "alice"})
    access = reply.json()["access_token"]
    assert sync_api.request("GET", "/whoami", headers=bearer(access)).json() == {"subject": "alice"}
    assert sync_api.request("GET", "/whoami").json() == {"subject": None}
    forged = sync_api.request("GET", "/whoami", headers=bearer("not.a.jwt"))
    assert (forged.status, forged.json()) == (200, {"subject": None})


def test_the_url_patterns_are_named_in_the_refreshkit_namespace(
    sync_api: DjangoClientApi,
) -> None:
    from django.urls import reverse

    assert reverse("refreshkit:refresh_token") == "/token/refresh"
    assert reverse("refreshkit:end_session", kwargs={"sid": "s1"}) == "/sessions/s1"
    assert reverse("refreshkit:jwks") == "/.well-known/jwks.json"
    from refreshkit.adapters.django import urls

    assert [p.name for p in urls.jwks_urlpatterns] == ["jwks"]


def test_django_csrf_guards_the_apps_views_while_the_token_endpoints_do_their_own(
    sync_api: DjangoClientApi,
) -> None:
    assert sync_api.request("POST", "/guarded").status == 403
    cookies = sync_api.request("POST", "/login", json_body={"username": "alice"}).cookie_values()
    csrf = cookies["__Host-refresh_csrf"]
    reply = sync_api.request(
        "POST", "/token/refresh", cookies=cookies, headers={"X-CSRF-Token": csrf}
    )
    assert reply.status == 200, reply.text


def test_a_wrong_method_answers_405(sync_api: DjangoClientApi) -> None:
    reply = sync_api.request("GET", "/token/refresh")
    assert reply.status == 405
    assert reply.header("Allow") == "POST"


def test_the_async_views_option_picks_async_views() -> None:
    from refreshkit.adapters.django import urls

    with override_settings(REFRESHKIT={"django_async_views": True, "store_url": "memory://"}):
        patterns = urls.endpoint_patterns()
    assert all(inspect.iscoroutinefunction(p.callback) for p in patterns)
    sync_patterns = urls.endpoint_patterns(asynchronous=False)
    assert not any(inspect.iscoroutinefunction(p.callback) for p in sync_patterns)


def test_the_endpoints_never_run_inside_a_request_transaction() -> None:
    from django.db import connections

    from refreshkit.adapters.django import urls

    for pattern in urls.endpoint_patterns(asynchronous=False):
        assert set(connections) <= pattern.callback._non_atomic_requests, pattern.name


def allow_everyone(context: RefreshContext) -> RefreshGrant:
    """The refresh check ``django_refresh_check`` names by dotted path in the test below."""
    return RefreshGrant(claims={"checked_by": "django"})


def test_django_refresh_check_names_the_check_both_managers_run(keys: KeySet) -> None:
    option = {"django_refresh_check": f"{__name__}.allow_everyone", "store_url": "memory://"}
    with override_settings(REFRESHKIT={**option, "secret_key": "k" * 32}):
        try:
            assert conf.get_manager().refresh_check is allow_everyone
            assert conf.get_async_manager().refresh_check is allow_everyone
            manager = conf.get_manager()
            pair = manager.refresh(manager.issue("alice").refresh_token)
            assert manager.verify_access(pair.access_token).extra["checked_by"] == "django"
        finally:
            conf.reset()
