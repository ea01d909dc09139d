"""The ``refreshkit`` console script: the CLI, or one clear line when its extra is missing."""

from __future__ import annotations

import sys

from .errors import MissingExtraError


def main() -> None:
    """Run :func:`refreshkit.cli.main`; without the ``[cli]`` extra, say what to install."""
    try:
        from .cli import main as cli_main
    except MissingExtraError as missing:
        sys.stderr.write(f"refreshkit: {missing}\n")
        raise SystemExit(1) from None
    cli_main()
