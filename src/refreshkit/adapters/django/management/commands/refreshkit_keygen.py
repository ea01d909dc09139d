"""``manage.py refreshkit_keygen``: a new signing key, as ``refreshkit keygen`` makes it.

Prints the private key (PEM, or a JWK with ``--format jwk``) for
``REFRESHKIT["PRIVATE_KEY"]`` (keep it secret), then its public JWKS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from refreshkit._jwt import SUPPORTED_ALGORITHMS
from refreshkit._operators import KEY_FORMATS, generate_key, write_private_key

from ._errors import reported

__all__ = ["Command"]


class Command(BaseCommand):
    """Needs no database: the key is printed, never stored."""

    help = "Generate a signing key: the private key (PEM or JWK), then its public JWKS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--alg", default="EdDSA", choices=SUPPORTED_ALGORITHMS)
        parser.add_argument("--format", dest="key_format", default="pem", choices=KEY_FORMATS)
        parser.add_argument(
            "--kid", default=None, help="Key id (default: the RFC 7638 thumbprint)."
        )
        parser.add_argument("--out", default=None, help="Write the private key here (mode 600).")

    def handle(self, *args: Any, **options: Any) -> None:
        with reported():
            key = generate_key(options["alg"], options["key_format"], options["kid"])
            if options["out"] is not None:
                write_private_key(Path(options["out"]), key.private)
                self.stderr.write(f"private key written to {options['out']}")
            else:
                self.stdout.write(key.private, ending="")
        if key.jwks is not None:
            self.stdout.write(key.jwks)
