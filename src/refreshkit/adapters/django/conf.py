"""The ``REFRESHKIT`` dict of ``settings.py``, read once into refreshkit's settings and managers.

One sync :class:`~refreshkit.TokenManager` and one
:class:`~refreshkit.AsyncTokenManager` per process, built lazily from the
same :class:`~refreshkit.Settings` (and the same keys), so sync and async
views share one policy. The store defaults to the project's own database
(``django://default``) so ``manage.py migrate`` is all a project runs.
Tests call :func:`reset` after changing ``REFRESHKIT`` (the
``setting_changed`` signal does it for ``override_settings``).
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from ... import AsyncTokenManager, KeySet, Settings, TokenManager

__all__ = [
    "DEFAULT_STORE_URL",
    "get_async_manager",
    "get_keys",
    "get_manager",
    "get_settings",
    "reset",
]

#: The store a project gets when ``REFRESHKIT`` names none: its default database.
DEFAULT_STORE_URL = "django://default"

_lock = threading.Lock()
_state: dict[str, Any] = {}


def get_settings() -> Settings:
    """``settings.REFRESHKIT`` (keys are the setting names, any case) as :class:`Settings`."""
    with _lock:
        if "settings" not in _state:
            raw = dict(getattr(django_settings, "REFRESHKIT", {}) or {})
            lowered = {key.lower(): value for key, value in raw.items()}
            lowered.setdefault("store_url", DEFAULT_STORE_URL)
            _state["settings"] = Settings.from_mapping(lowered)
        settings: Settings = _state["settings"]
        return settings


def get_keys() -> KeySet:
    """The signing keys from the settings, shared by the sync and the async manager."""
    settings = get_settings()
    with _lock:
        if "keys" not in _state:
            _state["keys"] = KeySet.from_settings(settings)
        keys: KeySet = _state["keys"]
        return keys


def get_manager() -> TokenManager:
    """The process's sync manager (management commands, sync views, DRF)."""
    settings, keys = get_settings(), get_keys()
    with _lock:
        if "manager" not in _state:
            _state["manager"] = TokenManager(settings, keys=keys)
        manager: TokenManager = _state["manager"]
        return manager


def get_async_manager() -> AsyncTokenManager:
    """The process's async manager (async views, Django Ninja's async routes)."""
    settings, keys = get_settings(), get_keys()
    with _lock:
        if "async_manager" not in _state:
            _state["async_manager"] = AsyncTokenManager(settings, keys=keys)
        manager: AsyncTokenManager = _state["async_manager"]
        return manager


def reset() -> None:
    """Forget the settings and managers, so the next call reads ``REFRESHKIT`` again."""
    with _lock:
        _state.clear()


@receiver(setting_changed)
def _on_setting_changed(setting: str, **_: Any) -> None:
    if setting == "REFRESHKIT":
        reset()
