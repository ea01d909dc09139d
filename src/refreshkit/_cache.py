"""A bounded memo of verified access tokens, keyed by the full token string.

Verifying the same token again (a client calling several APIs) costs a dict
lookup instead of a signature check. The manager re-checks ``exp``/``nbf`` on
every hit and drops an expired entry, so a cached token never outlives its
``exp``; the cache is off when online revocation checks are on,
because a revoked token must be refused at once.
"""

from __future__ import annotations

import threading

from .models import AccessClaims

__all__ = ["VerifiedTokenCache"]


class VerifiedTokenCache:
    """At most ``size`` verified tokens; the oldest insertion is evicted first."""

    __slots__ = ("_entries", "_lock", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: dict[str, AccessClaims] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> AccessClaims | None:
        """The claims verified earlier for ``token``; the caller still checks the times."""
        return self._entries.get(token)

    def discard(self, token: str) -> None:
        """Forget ``token`` (it expired)."""
        self._entries.pop(token, None)

    def put(self, token: str, claims: AccessClaims) -> None:
        """Remember verified ``claims`` for ``token``."""
        if self._size <= 0:
            return
        with self._lock:
            if len(self._entries) >= self._size:
                self._entries.pop(next(iter(self._entries)), None)
            self._entries[token] = claims

    def clear(self) -> None:
        """Forget everything (e.g. after a key is retired)."""
        with self._lock:
            self._entries.clear()
