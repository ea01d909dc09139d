"""The Lua scripts, read once from ``scripts/*.lua`` with their SHA1 for EVALSHA."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

__all__ = ["CAS", "CREATE", "CUTOFF", "DENY", "PURGE", "LuaScript"]


@dataclass(frozen=True, slots=True)
class LuaScript:
    """A script's source and the SHA1 Redis caches it under."""

    name: str
    source: str
    sha: str

    @classmethod
    def load(cls, name: str) -> LuaScript:
        """Read ``scripts/<name>.lua`` shipped with this package."""
        source = resources.files(__package__).joinpath("scripts", f"{name}.lua").read_text("utf-8")
        return cls(
            name, source, hashlib.sha1(source.encode("utf-8"), usedforsecurity=False).hexdigest()
        )

    def __repr__(self) -> str:
        return f"LuaScript({self.name!r}, sha={self.sha[:12]})"


CAS = LuaScript.load("cas")
CREATE = LuaScript.load("create")
CUTOFF = LuaScript.load("cutoff")
DENY = LuaScript.load("deny")
PURGE = LuaScript.load("purge")
