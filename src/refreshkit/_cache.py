"""A bounded memo of verified access tokens, keyed by the full token string.

Verifying the same token again (a client calling several APIs) costs a dict
lookup instead of a signature check. Each entry remembers the
:class:`~refreshkit.keys.KeySet` that verified it, and a hit counts only
while that very set is still the manager's: assigning a new set (a
rotation, a retired or replaced key) makes every earlier entry a miss, so a
token is never accepted on the word of a key that is gone. The manager
re-checks ``exp``/``nbf`` on every hit and drops an expired entry, so a
cached token never outlives its ``exp``; online checks bypass the cache,
because a revoked token must be refused at once.
"""

from __future__ import annotations

import threading

from .keys import KeySet
from .models import AccessClaims

__all__ = ["VerifiedTokenCache"]


class VerifiedTokenCache:
    """At most ``size`` verified tokens; the oldest insertion is evicted first."""

    __slots__ = ("_entries", "_lock", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: dict[str, tuple[KeySet, AccessClaims]] = {}
        self._lock = threading.Lock()

    def get(self, token: str, keys: KeySet) -> AccessClaims | None:
        """The claims ``keys`` verified earlier for ``token``; the caller still checks the times.

        An entry verified by another key set (KeySets are immutable, so by
        identity) is a miss: the caller verifies again against ``keys``.
        """
        entry = self._entries.get(token)
        if entry is None or entry[0] is not keys:
            return None
        return entry[1]

    def discard(self, token: str) -> None:
        """Forget ``token`` (it expired)."""
        self._entries.pop(token, None)

    def put(self, token: str, keys: KeySet, claims: AccessClaims) -> None:
        """Remember that ``keys`` verified ``claims`` for ``token``."""
        if self._size <= 0:
            return
        with self._lock:
            if token not in self._entries and len(self._entries) >= self._size:
                self._entries.pop(next(iter(self._entries)), None)
            self._entries[token] = (keys, claims)
