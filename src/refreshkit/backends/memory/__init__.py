"""The memory backend (``memory://``): one process, no persistence."""

from __future__ import annotations

from ._async import AsyncMemoryStore
from ._state import MemoryState
from ._sync import MemoryStore

__all__ = ["AsyncMemoryStore", "MemoryState", "MemoryStore"]
