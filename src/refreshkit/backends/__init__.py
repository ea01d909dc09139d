"""Choose a token store by URL.

* ``memory://``: in-process dicts (core).
* ``sqlite:///app.db``, ``sqlite+aiosqlite:///app.db``: SQLAlchemy Core (``[sql]``).
* ``postgresql+psycopg://...``, ``postgresql+asyncpg://...``: SQLAlchemy Core
  (``[postgres]``).
* ``mysql+pymysql://...``, ``mysql+aiomysql://...``: SQLAlchemy Core (``[mysql]``).
* ``redis://``, ``rediss://``, ``redis+cluster://host:port,host:port``: redis-py
  (``[redis]``).
* ``django://<alias>``: a database of the Django project, through its ORM
  (``[django]``; the app ``refreshkit.adapters.django`` migrated).

Third-party backends register a module (or any object) with
``create_store(url, **options)`` and ``create_async_store(url, **options)``
under the entry-point group ``refreshkit.backends``, named by URL scheme.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any, Protocol

from ..errors import ConfigurationError, MissingExtraError
from .base import AsyncTokenStore, TokenStore

__all__ = [
    "AsyncTokenStore",
    "BackendFactory",
    "TokenStore",
    "create_async_store",
    "create_store",
    "register_backend",
]

ENTRY_POINT_GROUP = "refreshkit.backends"


class BackendFactory(Protocol):
    """What a backend module offers the registry."""

    def create_store(self, url: str, **options: Any) -> TokenStore:
        """A sync store for ``url``; ConfigurationError if ``url`` is async-only."""
        ...

    def create_async_store(self, url: str, **options: Any) -> AsyncTokenStore:
        """An async store for ``url``; ConfigurationError if ``url`` is sync-only."""
        ...


#: scheme (the part before any ``+driver``) -> (module, extra that installs it)
_BUILTIN: dict[str, tuple[str, str | None]] = {
    "memory": ("refreshkit.backends.memory.factory", None),
    "sqlite": ("refreshkit.backends.sql", "sql"),
    "postgresql": ("refreshkit.backends.sql", "postgres"),
    "mysql": ("refreshkit.backends.sql", "mysql"),
    "mariadb": ("refreshkit.backends.sql", "mysql"),
    "redis": ("refreshkit.backends.redis", "redis"),
    "rediss": ("refreshkit.backends.redis", "redis"),
    "django": ("refreshkit.adapters.django.store", "django"),
}
_registered: dict[str, BackendFactory] = {}


def register_backend(scheme: str, factory: BackendFactory) -> None:
    """Register ``factory`` for URLs starting ``<scheme>://`` (or ``<scheme>+driver://``)."""
    _registered[scheme.lower()] = factory


def _scheme_of(url: str) -> str:
    if not isinstance(url, str) or "://" not in url:
        raise ConfigurationError("a store URL looks like 'memory://' or 'redis://host:6379/0'")
    return url.split("://", 1)[0].split("+", 1)[0].lower()


def _missing_module(error: ImportError, fallback: str) -> str:
    """The module whose import failed: the backend's own MissingExtraError names none
    itself, so look down its cause chain for the driver's ModuleNotFoundError."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ImportError) and cause.name:
            return cause.name
        cause = cause.__cause__
    return fallback


def _factory_for(url: str) -> BackendFactory:
    scheme = _scheme_of(url)
    if scheme in _registered:
        return _registered[scheme]
    if scheme in _BUILTIN:
        module_name, extra = _BUILTIN[scheme]
        try:
            module: Any = importlib.import_module(module_name)
        except ImportError as exc:
            hint = f"pip install 'refreshkit[{extra}]'" if extra else "reinstall refreshkit"
            raise MissingExtraError(
                f"the {scheme}:// store needs {_missing_module(exc, module_name)}, "
                f"which is not installed: {hint}"
            ) from exc
        factory: BackendFactory = module
        return factory
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name.lower() == scheme:
            loaded: BackendFactory = entry.load()
            register_backend(scheme, loaded)
            return loaded
    raise ConfigurationError(f"no token store for {scheme}:// URLs (see refreshkit.backends)")


def create_store(url: str, **options: Any) -> TokenStore:
    """A sync :class:`TokenStore` for ``url``; options go to the backend's constructor.

    Raises :class:`ConfigurationError` for an unknown scheme, a missing extra,
    or an async-only URL.
    """
    return _factory_for(url).create_store(url, **options)


def create_async_store(url: str, **options: Any) -> AsyncTokenStore:
    """An async :class:`AsyncTokenStore` for ``url``; see :func:`create_store`."""
    return _factory_for(url).create_async_store(url, **options)
