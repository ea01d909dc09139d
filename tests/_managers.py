"""Run one test body against both TokenManager and AsyncTokenManager."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from refreshkit import AsyncTokenManager, EventHooks, FrozenClock, KeySet, Settings, TokenManager
from refreshkit.backends.memory import AsyncMemoryStore, MemoryStore

FLAVOURS = ("sync", "async")


class Blocking:
    """An AsyncTokenManager seen through a blocking interface (each call runs to completion)."""

    def __init__(self, manager: AsyncTokenManager, runner: asyncio.Runner) -> None:
        self._manager = manager
        self._runner = runner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._manager, name)
        if inspect.iscoroutinefunction(attr):
            return lambda *args, **kwargs: self._runner.run(attr(*args, **kwargs))
        return attr

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._manager, name, value)


@contextmanager
def manager_factory(flavour: str) -> Iterator[Callable[..., Any]]:
    """Yield ``make(**settings) -> manager`` building managers of ``flavour`` on memory stores.

    Each manager gets a FrozenClock (``manager.clock``) and its own hooks.
    """
    runner = asyncio.Runner() if flavour == "async" else None

    def make(*, keys: KeySet | None = None, **overrides: Any) -> Any:
        settings = Settings.from_mapping(overrides)
        common = {"keys": keys or KeySet.generate(), "clock": FrozenClock(), "hooks": EventHooks()}
        if runner is None:
            return TokenManager(settings, store=MemoryStore(), **common)
        return Blocking(AsyncTokenManager(settings, store=AsyncMemoryStore(), **common), runner)

    try:
        yield make
    finally:
        if runner is not None:
            runner.close()
