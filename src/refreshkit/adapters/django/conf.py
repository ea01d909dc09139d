"""The ``REFRESHKIT`` dict of ``settings.py``, read once into refreshkit's settings and managers.

One sync :class:`~refreshkit.TokenManager` and one
:class:`~refreshkit.AsyncTokenManager` per process, built lazily from the
same :class:`~refreshkit.Settings` (and the same keys), so sync and async
views share one policy. The store defaults to the project's own database
(``django://default``) so ``manage.py migrate`` is all a project runs.
Tests call :func:`reset` after changing ``REFRESHKIT`` (the
``setting_changed`` signal does it for ``override_settings``).

A few keys configure the Django adapter itself rather than the token policy
(:data:`DJANGO_OPTIONS`, all prefixed ``django_``); :func:`get_option` reads
them and :func:`get_settings` leaves them out.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

from ... import AsyncTokenManager, EventHooks, KeySet, Settings, TokenManager

__all__ = [
    "DEFAULT_STORE_URL",
    "DJANGO_OPTIONS",
    "get_async_manager",
    "get_hooks",
    "get_keys",
    "get_manager",
    "get_option",
    "get_settings",
    "reset",
]

#: The store a project gets when ``REFRESHKIT`` names none: its default database.
DEFAULT_STORE_URL = "django://default"

#: The adapter's own ``REFRESHKIT`` keys and their defaults: ``django_online``
#: (authentication also checks revocation in the store), ``django_realm`` (the
#: RFC 6750 challenge's realm), ``django_user_lookup`` (None: a token-only
#: user; ``"pk"``, ``"username"`` or a field name: the user model's row whose
#: field equals the token's subject), ``django_async_views`` (the endpoints of
#: :mod:`.urls` are async views on the async manager: for ASGI deployments),
#: ``django_device`` (a callable, or its dotted path, giving a request's device
#: identifier for device-bound sessions; None: no device binding),
#: ``django_refresh_check`` (a callable, or its dotted path: the refresh check
#: of both managers, see :doc:`/refresh-checks`; a coroutine function works on
#: the async manager only, so give a plain function to serve both).
DJANGO_OPTIONS: Mapping[str, Any] = MappingProxyType(
    {
        "django_online": False,
        "django_realm": "refreshkit",
        "django_user_lookup": None,
        "django_async_views": False,
        "django_device": None,
        "django_refresh_check": None,
    }
)

_lock = threading.Lock()
# Hooks are code, not settings: one registry for both managers, kept across reset().
_hooks = EventHooks()
_state: dict[str, Any] = {}


def get_settings() -> Settings:
    """``settings.REFRESHKIT`` (keys are the setting names, any case) as :class:`Settings`."""
    with _lock:
        if "settings" not in _state:
            raw = dict(getattr(django_settings, "REFRESHKIT", {}) or {})
            lowered = {key.lower(): value for key, value in raw.items()}
            lowered = {key: value for key, value in lowered.items() if key not in DJANGO_OPTIONS}
            lowered.setdefault("store_url", DEFAULT_STORE_URL)
            _state["settings"] = Settings.from_mapping(lowered)
        settings: Settings = _state["settings"]
        return settings


def get_option(name: str) -> Any:
    """An adapter option of :data:`DJANGO_OPTIONS` from ``REFRESHKIT`` (any case), or its default.

    Raises :class:`KeyError` for a name that is not one of them.
    """
    default = DJANGO_OPTIONS[name]
    raw = getattr(django_settings, "REFRESHKIT", {}) or {}
    return next((value for key, value in raw.items() if key.lower() == name), default)


def get_keys() -> KeySet:
    """The signing keys from the settings, shared by the sync and the async manager."""
    settings = get_settings()
    with _lock:
        if "keys" not in _state:
            _state["keys"] = KeySet.from_settings(settings)
        keys: KeySet = _state["keys"]
        return keys


def get_hooks() -> EventHooks:
    """The event hooks both managers emit to (the signals of :mod:`.signals` listen here)."""
    return _hooks


def get_manager() -> TokenManager:
    """The process's sync manager (management commands, sync views, DRF)."""
    manager: TokenManager = _built_once("manager", TokenManager)
    return manager


def get_async_manager() -> AsyncTokenManager:
    """The process's async manager (async views, Django Ninja's async routes)."""
    manager: AsyncTokenManager = _built_once("async_manager", AsyncTokenManager)
    return manager


def _built_once(name: str, kind: type[Any]) -> Any:
    """``_state[name]``, built from the shared settings, keys and hooks on first use."""
    settings, keys = get_settings(), get_keys()
    with _lock:
        if name not in _state:
            check = get_option("django_refresh_check")
            check = import_string(check) if isinstance(check, str) else check
            _state[name] = kind(settings, keys=keys, hooks=_hooks, refresh_check=check)
        return _state[name]


def reset() -> None:
    """Forget the settings and managers, so the next call reads ``REFRESHKIT`` again."""
    with _lock:
        _state.clear()


@receiver(setting_changed)
def _on_setting_changed(setting: str, **_: Any) -> None:
    if setting == "REFRESHKIT":
        reset()
