"""Running the async conformance suite's coroutines with nothing but pytest.

A backend author's test environment may have pytest-asyncio, anyio, or no
async plugin at all, and any of their modes. So the async suite's tests are
plain functions, with no marker: each drives its coroutine in a fresh event
loop of its own and then closes the store in that same loop, the only one the
store's connections ever see.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .backends.base import AsyncTokenStore

__all__ = ["AsyncRacer", "Racer", "run_in_own_loop"]

Suite = TypeVar("Suite", bound=type)


def run_in_own_loop(suite: Suite) -> Suite:
    """Turn every coroutine test defined on ``suite`` into a function pytest runs as it is.

    The sync suite, generated from the async one, has no coroutine tests:
    there this changes nothing.
    """
    for name, member in list(vars(suite).items()):
        if name.startswith("test") and inspect.iscoroutinefunction(member):
            setattr(suite, name, _driven(member))
    return suite


def _driven(
    test: Callable[..., Coroutine[Any, Any, None]],
) -> Callable[..., None]:
    @functools.wraps(test)
    def run(self: object, store: AsyncTokenStore, **fixtures: Any) -> None:
        async def body() -> None:
            try:
                await test(self, store, **fixtures)
            finally:
                await store.aclose()

        with asyncio.Runner() as runner:
            runner.run(body())

    return run


Result = TypeVar("Result")


class AsyncRacer:
    """Runs one coroutine-making callable many times at once, in this event loop."""

    @staticmethod
    async def run(
        count: int, call: Callable[[], Coroutine[Any, Any, Result]]
    ) -> list[Result | BaseException]:
        """Start ``count`` calls together; each one's result or exception, in order."""
        return await asyncio.gather(*(call() for _ in range(count)), return_exceptions=True)


class Racer:
    """Runs one callable in many threads at once, released together by a barrier."""

    @staticmethod
    def run(count: int, call: Callable[[], Result]) -> list[Result | BaseException]:
        """Start ``count`` calls together; each one's result or exception, in order."""
        barrier = threading.Barrier(count)
        results: list[Result | BaseException] = [RuntimeError("not run")] * count

        def one(index: int) -> None:
            barrier.wait()
            try:
                results[index] = call()
            except Exception as error:  # every outcome is reported, none is lost
                results[index] = error

        threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results
