"""What the operator commands print and write, shared by ``refreshkit`` and Django's ``manage.py``.

Free of any command-line framework, so :mod:`refreshkit.cli` (click) and the
Django management commands give the same keys, tables and JSON.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .keys import SigningKey
from .models import Session

__all__ = ["GeneratedKey", "generate_key", "session_rows", "table_lines", "write_private_key"]

#: The forms a generated private key is written in.
KEY_FORMATS = ("pem", "jwk")


@dataclass(frozen=True, slots=True)
class GeneratedKey:
    """A new signing key's private text (PEM or one JWK line) and its public JWKS (None: HS*)."""

    private: str = field(repr=False)
    jwks: str | None


def generate_key(algorithm: str, key_format: str, kid: str | None) -> GeneratedKey:
    """A new signing key in ``key_format``; ValueError for an HS* key asked for as PEM."""
    key = SigningKey.generate(algorithm, kid=kid)
    if key.symmetric and key_format == "pem":
        raise ValueError(f"{algorithm} keys have no PEM form; use --format jwk")
    private = key.private_pem() if key_format == "pem" else json.dumps(key.private_jwk()) + "\n"
    jwks = None if key.symmetric else json.dumps({"keys": [key.public_jwk()]}, indent=2)
    return GeneratedKey(private, jwks)


def write_private_key(path: Path, text: str) -> None:
    """Write ``text`` to a new file only its owner reads (mode 600).

    Raises :class:`FileExistsError` rather than overwrite a key.
    """
    if path.exists():
        raise FileExistsError(f"{path} exists; refusing to overwrite a key")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def session_rows(sessions: Iterable[Session]) -> list[dict[str, str]]:
    """One row per session for an operator: ids, times to the second, scope."""
    return [
        {
            "sid": s.sid,
            "created_at": s.created_at.isoformat(timespec="seconds"),
            "last_used_at": s.last_used_at.isoformat(timespec="seconds"),
            "expires_at": s.expires_at.isoformat(timespec="seconds"),
            "scope": s.scope or "",
        }
        for s in sessions
    ]


def table_lines(rows: list[dict[str, str]]) -> list[str]:
    """``rows`` as a header line and one aligned line each (no lines for no rows)."""
    if not rows:
        return []
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns).rstrip()]
    lines += ["  ".join(str(row[c]).ljust(widths[c]) for c in columns).rstrip() for row in rows]
    return lines
