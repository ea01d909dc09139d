"""``manage.py check`` for refreshkit: the settings load, and ``url_prefix`` matches the URLconf.

The refresh cookie's ``Path`` is built from ``REFRESHKIT["url_prefix"]``;
if the project includes ``refreshkit.adapters.django.urls`` elsewhere, a browser never sends
the cookie to the refresh endpoint and every cookie-mode refresh fails with
a "no refresh token" answer that looks like a client bug. Django runs these
checks before ``runserver``, ``migrate`` and the test runner, so the mistake
is named (with its fix) before the first request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.urls import NoReverseMatch, reverse

from ...errors import ConfigurationError
from .. import _http
from . import conf

__all__ = ["check_settings", "check_url_prefix"]

REFRESH_SUFFIX = "/token/refresh"


@register()
def check_settings(app_configs: Sequence[Any] | None = None, **_: Any) -> list[CheckMessage]:
    """``refreshkit.E001``: ``settings.REFRESHKIT`` does not make valid settings."""
    try:
        conf.get_settings()
    except ConfigurationError as exc:
        return [
            Error(
                f"settings.REFRESHKIT is invalid: {exc}",
                hint="Fix the REFRESHKIT dict in settings.py (see docs/django.rst).",
                id="refreshkit.E001",
            )
        ]
    return []


@register(Tags.urls)
def check_url_prefix(app_configs: Sequence[Any] | None = None, **_: Any) -> list[CheckMessage]:
    """``refreshkit.E002`` (cookie mode) or ``W002``: ``url_prefix`` differs from the include."""
    try:
        settings = conf.get_settings()
    except ConfigurationError:
        return []  # check_settings reports it
    try:
        served = reverse("refreshkit:refresh_token")
    except NoReverseMatch:
        return []  # the endpoints are not served here: nothing to match
    expected = _http.refresh_cookie_path(settings)
    if served == expected:
        return []
    prefix = served.removesuffix(REFRESH_SUFFIX)
    message = (
        f'refreshkit\'s endpoints are served under "{prefix}" but REFRESHKIT["url_prefix"] '
        f'is "{settings.url_prefix}", so the refresh cookie\'s Path ({expected}) '
        "never reaches the refresh endpoint"
    )
    hint = f'Set REFRESHKIT["url_prefix"] = "{prefix}" (the prefix of the include).'
    if settings.cookie_mode:
        return [Error(message, hint=hint, id="refreshkit.E002")]
    message += " (harmless until cookie_mode is on)"
    return [Warning(message, hint=hint, id="refreshkit.W002")]
