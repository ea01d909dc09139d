"""Tools for testing code that uses refreshkit, and for testing new backends.

* :class:`FrozenClock`: time that moves only when a test says so.
* :class:`StoreConformance` / :class:`AsyncStoreConformance`: the store
  contract as a pytest suite. Subclass one and provide a ``store`` fixture::

      class TestMyStore(AsyncStoreConformance):
          @pytest.fixture
          def store(self):
              return MyAsyncStore(...)  # connects lazily; the suite closes it

* :class:`ProcessRaceConformance`: processes racing on one shared store;
  mix it in beside :class:`StoreConformance` and provide a ``store_url``
  fixture naming a store every process can open.
* :class:`LostReplyStore` / :class:`AsyncLostReplyStore`: wrap any store so
  that its next compare-and-set replies are lost after the write was applied, to
  prove a retry of the same refresh token is not taken for theft::

      lossy = LostReplyStore(store, lose=1)
      manager = TokenManager(settings, store=lossy)
      # manager.refresh(token) raises StoreError, yet the rotation happened;
      # manager.refresh(token) again returns the same successor token.

This module imports pytest; import it from tests only.
"""

from __future__ import annotations

from ._async.conformance import AsyncLostReplyStore, AsyncStoreConformance
from ._processes import ProcessRaceConformance
from ._sync.conformance import LostReplyStore, StoreConformance
from .clock import FrozenClock

__all__ = [
    "AsyncLostReplyStore",
    "AsyncStoreConformance",
    "FrozenClock",
    "LostReplyStore",
    "ProcessRaceConformance",
    "StoreConformance",
]
