"""The Redis key layout: one hash per session, one sorted set per subject.

Every key that belongs to one session carries the session id as its hash tag,
so each per-session operation touches a single slot and runs as one Lua
script, unchanged, on Redis Cluster::

    key                          type    holds                              expires
    ---------------------------  ------  ---------------------------------  -------------------
    <prefix>:{<sid>}:s           hash    the session, all of it             PEXPIREAT session end
    <prefix>:{u.<digest>}:i      zset    sid -> absolute expiry (µs)        PEXPIREAT last member
    <prefix>:{u.<digest>}:c      hash    the subject's cutoff (b r a)       never (one a subject)
    <prefix>:j:<jti>             string  access denial: until (µs)          PEXPIREAT until

A token id starts with its session id (:func:`refreshkit._tokens.session_id_of`),
so a refresh computes its key without a lookup. The subject index is
tagged with a digest of the subject, never the subject itself: a subject
may contain braces, which would move the hash tag.
"""

from __future__ import annotations

import hashlib
import re

from ...errors import ConfigurationError

__all__ = ["KeyLayout"]

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


class KeyLayout:
    """Builds every key refreshkit writes under one ``prefix``."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str = "rk") -> None:
        if not prefix or any(c in prefix for c in "{}") or any(c.isspace() for c in prefix):
            raise ConfigurationError(
                "a Redis key prefix must be non-empty, without braces or whitespace"
            )
        #: The start of every key this layout builds.
        self.prefix: str = prefix

    def session(self, sid: str) -> str:
        """The hash holding session ``sid`` (its token state included)."""
        return f"{self.prefix}:{{{sid}}}:s"

    def subject_index(self, subject: str) -> str:
        """The sorted set of the subject's session ids, in its own slot."""
        digest = hashlib.sha256(subject.encode("utf-8")).hexdigest()[:32]
        return f"{self.prefix}:{{u.{digest}}}:i"

    def subject_cutoff(self, subject: str) -> str:
        """The hash holding the subject's cutoff, in the subject index's slot."""
        return self.subject_index(subject)[:-1] + "c"

    def denial(self, jti: str) -> str:
        """The string marking access token ``jti`` as denied."""
        return f"{self.prefix}:j:{jti}"

    def session_pattern(self) -> str:
        """A SCAN pattern matching every session hash under this prefix."""
        return f"{self._glob_prefix()}:{{*}}:s"

    def subject_index_pattern(self) -> str:
        """A SCAN pattern matching every subject index under this prefix."""
        return f"{self._glob_prefix()}:{{u.*}}:i"

    def denial_pattern(self) -> str:
        """A SCAN pattern matching every access denial under this prefix."""
        return f"{self._glob_prefix()}:j:*"

    def all_pattern(self) -> str:
        """A SCAN pattern matching every key under this prefix (for tests and tools)."""
        return f"{self._glob_prefix()}:*"

    def _glob_prefix(self) -> str:
        return _GLOB_SPECIAL.sub(r"\\\1", self.prefix)
