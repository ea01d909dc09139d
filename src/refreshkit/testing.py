"""Tools for testing code that uses refreshkit, and for testing new backends.

* :class:`FrozenClock`: time that moves only when a test says so.
* :class:`StoreConformance` / :class:`AsyncStoreConformance`: the store
  contract as a pytest suite. Subclass one and provide a ``store`` fixture::

      class TestMyStore(AsyncStoreConformance):
          @pytest.fixture
          async def store(self):
              store = MyStore(...)
              yield store
              await store.aclose()

This module imports pytest; import it from tests only.
"""

from __future__ import annotations

from ._async.conformance import AsyncStoreConformance
from ._sync.conformance import StoreConformance
from .clock import FrozenClock

__all__ = ["AsyncStoreConformance", "FrozenClock", "StoreConformance"]
