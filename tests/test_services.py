"""A missing test server or tool skips with the fix in its message, or fails where required."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import services

pytestmark = pytest.mark.fastapi  # imports the browser test's support module


@pytest.fixture
def no_chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no chromium on PATH


def test_a_missing_chromium_skips_the_browser_test_naming_the_fix(
    no_chromium: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("fastapi")
    from tests.adapters.test_browser import chromium_path

    monkeypatch.delenv("REFRESHKIT_REQUIRE_SERVICES", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        chromium_path()
    assert "apt-get install chromium" in str(skipped.value)


def test_a_missing_chromium_fails_the_run_when_services_are_required(
    no_chromium: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("fastapi")
    from tests.adapters.test_browser import chromium_path

    monkeypatch.setenv("REFRESHKIT_REQUIRE_SERVICES", "1")
    with pytest.raises(pytest.fail.Exception) as failed:
        chromium_path()
    assert "apt-get install chromium" in str(failed.value)
    assert "REFRESHKIT_REQUIRE_SERVICES=1" in str(failed.value)


@pytest.mark.parametrize(
    ("what", "fix"),
    [
        ("Playwright for Python (pip install playwright) to drive chromium", "pip install"),
        ("the redis-server executable", "apt-get install redis-server"),
        ("PostgreSQL on 127.0.0.1:5432", "127.0.0.1:5432"),
        ("Redis on 127.0.0.1:6379", "127.0.0.1:6379"),
    ],
)
def test_every_known_missing_service_names_its_fix(what: str, fix: str) -> None:
    assert fix in (services.how_to_fix(what) or "")
