"""``manage.py refreshkit_sessions SUBJECT [--json]``: a subject's live sessions (devices)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from refreshkit._operators import session_rows, table_lines

from ... import conf
from ._errors import reported

__all__ = ["Command"]


class Command(BaseCommand):
    """The same table (or JSON) as ``refreshkit sessions``."""

    help = "List the live refresh sessions of SUBJECT, most recently used first."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("subject")
        parser.add_argument("--json", action="store_true", help="Print JSON instead of a table.")

    def handle(self, *args: Any, **options: Any) -> None:
        subject: str = options["subject"]
        with reported():
            rows = session_rows(conf.get_manager().sessions(subject))
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
        elif not rows:
            self.stdout.write(f"no live sessions for {subject}")
        else:
            for line in table_lines(rows):
                self.stdout.write(line)
