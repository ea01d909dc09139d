"""``manage.py check`` names a broken REFRESHKIT dict and a url_prefix that misses the include."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.checks import Error, Warning
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from refreshkit.adapters.django import checks, conf

pytestmark = pytest.mark.django

PREFIXED = "tests.django.urls_prefixed"


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    conf.reset()
    yield
    conf.reset()


def refreshkit(**changes: Any) -> dict[str, Any]:
    from django.conf import settings

    return {**settings.REFRESHKIT, **changes}


def test_a_project_that_does_not_serve_the_endpoints_has_nothing_to_match() -> None:
    assert checks.check_url_prefix() == []
    assert checks.check_settings() == []


def test_cookie_mode_with_a_prefix_that_misses_the_include_is_an_error_naming_the_fix() -> None:
    with override_settings(ROOT_URLCONF=PREFIXED, REFRESHKIT=refreshkit(cookie_mode=True)):
        found = checks.check_url_prefix()
    assert [(type(m), m.id) for m in found] == [(Error, "refreshkit.E002")]
    assert '"/auth"' in found[0].msg
    assert found[0].hint == 'Set REFRESHKIT["url_prefix"] = "/auth" (the prefix of the include).'


def test_without_cookie_mode_the_mismatch_is_a_warning() -> None:
    with override_settings(ROOT_URLCONF=PREFIXED, REFRESHKIT=refreshkit(cookie_mode=False)):
        found = checks.check_url_prefix()
    assert [(type(m), m.id) for m in found] == [(Warning, "refreshkit.W002")]


def test_a_matching_prefix_passes() -> None:
    settings = refreshkit(cookie_mode=True, url_prefix="/auth")
    with override_settings(ROOT_URLCONF=PREFIXED, REFRESHKIT=settings):
        assert checks.check_url_prefix() == []
        assert checks.check_settings() == []


def test_invalid_settings_are_an_error_with_the_reason() -> None:
    with override_settings(REFRESHKIT=refreshkit(url_prefix="auth/")):
        found = checks.check_settings()
        assert checks.check_url_prefix() == []  # reported once, by check_settings
    assert [m.id for m in found] == ["refreshkit.E001"]
    assert "url_prefix must start with '/'" in found[0].msg


def test_manage_py_check_runs_them() -> None:
    with (
        override_settings(ROOT_URLCONF=PREFIXED, REFRESHKIT=refreshkit(cookie_mode=True)),
        pytest.raises(SystemCheckError, match=r"refreshkit\.E002"),
    ):
        call_command("check")
