"""Cookie mode in a real browser: headless Chromium on the FastAPI and the Django example pages.

Needs the Debian package ``chromium`` and Playwright for Python (which drives
the system browser through ``executable_path``; no browser is downloaded).
The examples serve http://127.0.0.1, which Chromium treats as a secure
context, so the ``Secure`` refresh cookie is set and sent there. The two
pages have the same buttons; the Django one signs in through a Django form
guarded by ``CsrfViewMiddleware`` and refreshes under ``api/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.services import unavailable

from .support import load_example, uvicorn_server

pytestmark = pytest.mark.browser

#: Chromium counts http://127.0.0.1 as secure, so the prefixed default names hold there.
REFRESH_COOKIE = "__Secure-refresh_token"
CSRF_COOKIE = "__Host-refresh_csrf"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    unavailable("headless Chromium (Debian package 'chromium')")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright for Python (pip install playwright) to drive chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


DEMO_USER, DEMO_PASSWORD = "demo", "correct horse battery staple"  # the pages' defaults


@dataclass(frozen=True)
class ExamplePage:
    """Where one example serves its page, and what its protected route answers."""

    refresh_path: str
    signed_in_text: str

    def serve(self, tmp_path: Path) -> AbstractContextManager[str]:
        if self.refresh_path == "/token/refresh":
            pytest.importorskip("fastapi")
            database = f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"
            return uvicorn_server(load_example("fastapi_app").create_app(database))
        pytest.importorskip("rest_framework")
        from tests.django_api.example_project import serve

        return serve(tmp_path, DEMO_USER, DEMO_PASSWORD)


EXAMPLES = [
    pytest.param(
        ExamplePage("/token/refresh", '"user": "demo"'), marks=pytest.mark.fastapi, id="fastapi"
    ),
    pytest.param(
        ExamplePage("/api/token/refresh", '"username": "demo"'),
        marks=pytest.mark.django,
        id="django",
    ),
]


@pytest.fixture(params=EXAMPLES)
def example(request: pytest.FixtureRequest) -> ExamplePage:
    example: ExamplePage = request.param
    return example


@pytest.fixture
def page(browser: Any, example: ExamplePage, tmp_path: Path) -> Iterator[Any]:
    with example.serve(tmp_path) as url:
        context = browser.new_context(base_url=url)
        page = context.new_page()
        page.goto(url + "/")
        yield page
        context.close()


def click_and_read(page: Any, button: str) -> tuple[int, str]:
    """Click a button on the example page and return the status and text it shows."""
    page.eval_on_selector("#out", "el => { el.dataset.status = ''; }")
    page.click(f"#{button}")
    page.wait_for_function("document.querySelector('#out').dataset.status !== ''")
    status = int(page.get_attribute("#out", "data-status"))
    return status, page.inner_text("#out")


def signed_in(page: Any) -> Any:
    status, text = click_and_read(page, "login")
    assert status == 200, text
    return page


def test_the_refresh_cookie_is_set_but_invisible_to_scripts(
    page: Any, example: ExamplePage
) -> None:
    signed_in(page)
    cookies = {c["name"]: c for c in page.context.cookies()}
    refresh = cookies[REFRESH_COOKIE]
    assert refresh["httpOnly"] is True
    assert refresh["secure"] is True
    assert refresh["sameSite"] == "Strict"
    assert refresh["path"] == example.refresh_path
    visible = page.evaluate("document.cookie")
    assert f"{CSRF_COOKIE}=" in visible
    assert "refresh_token" not in visible
    assert "rk_" not in visible
    assert "rk_" not in page.inner_text("#out")  # nor in the login response body


def test_fetch_with_credentials_refreshes_through_the_cookie(
    page: Any, example: ExamplePage
) -> None:
    signed_in(page)
    before = {c["name"]: c["value"] for c in page.context.cookies()}
    status, text = click_and_read(page, "refresh")
    assert status == 200, text
    assert "access_token" in text
    after = {c["name"]: c["value"] for c in page.context.cookies()}
    assert after[REFRESH_COOKIE] != before[REFRESH_COOKIE]  # rotated in the cookie
    status, text = click_and_read(page, "me")
    assert status == 200, text
    assert example.signed_in_text in text


def test_a_refresh_without_the_csrf_proof_is_refused(page: Any) -> None:
    signed_in(page)
    status, text = click_and_read(page, "refresh-no-csrf")
    assert status == 400
    assert "invalid_request" in text
    assert "CSRF" in text
    status, _ = click_and_read(page, "refresh")  # the session was left intact
    assert status == 200


def test_signing_out_clears_the_refresh_cookie(page: Any) -> None:
    signed_in(page)
    status, _ = click_and_read(page, "logout")
    assert status == 204
    names = {c["name"] for c in page.context.cookies()}
    assert REFRESH_COOKIE not in names
    status, text = click_and_read(page, "refresh")
    assert status == 400, text
