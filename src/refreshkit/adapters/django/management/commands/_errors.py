"""refreshkit's errors as Django's ``CommandError``: one line, exit status 1, no traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import CommandError

from refreshkit.errors import RefreshKitError

__all__ = ["reported"]


@contextmanager
def reported() -> Iterator[None]:
    """Re-raise a refreshkit error inside the block (an outage, bad settings) as CommandError."""
    try:
        yield
    except (RefreshKitError, ValueError, OSError) as error:
        raise CommandError(" ".join(str(error).split()) or type(error).__name__) from error
