"""The DRF, Ninja and signal tests: Django runs on the shared test settings
(``tests/django/environment.py``); every test pins what it relies on (the
URLconf, ``REFRESHKIT``) with ``override_settings``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("django", reason="the [django] extra is not installed")
pytest.importorskip("rest_framework", reason="djangorestframework is not installed")


@pytest.fixture(autouse=True)
def django_settings() -> Iterator[None]:
    """This package's URLconf and base ``REFRESHKIT``, and fresh managers for each test."""
    from django.test import override_settings

    from refreshkit.adapters.django import conf

    from . import settings as test_settings

    with override_settings(
        ROOT_URLCONF="tests.django_api.urls", REFRESHKIT=test_settings.REFRESHKIT
    ):
        conf.reset()
        yield
    conf.reset()


@pytest.fixture
def refreshkit_settings() -> Iterator[Any]:
    """Call it with ``REFRESHKIT`` keys to change for the rest of the test."""
    from django.test import override_settings

    from . import settings as test_settings

    overrides: list[Any] = []

    def change(**values: Any) -> None:
        override = override_settings(REFRESHKIT={**test_settings.REFRESHKIT, **values})
        override.enable()
        overrides.append(override)

    yield change
    for override in reversed(overrides):
        override.disable()
