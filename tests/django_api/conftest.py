"""Django for the DRF, Ninja and signal tests: this package's settings, unless already set.

Another test package may have configured Django first in the same run, so
every test also pins what it relies on (the URLconf, ``REFRESHKIT``) with
``override_settings``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

try:
    import django
    from django.conf import settings
except ImportError:  # the [django] extra is not installed: nothing here can run
    collect_ignore_glob = ["test_*.py"]
else:
    if not settings.configured:
        from . import settings as test_settings

        settings.configure(**{k: v for k, v in vars(test_settings).items() if k.isupper()})
    django.setup()


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
