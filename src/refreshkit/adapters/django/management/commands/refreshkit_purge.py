"""``manage.py refreshkit_purge``: delete expired sessions and access denials now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from ... import conf
from ._errors import reported

__all__ = ["Command"]


class Command(BaseCommand):
    """Run from cron (or a scheduler) so expired rows do not pile up."""

    help = "Delete expired refresh sessions and access denials; prints how many sessions."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=1000, help="Rows per transaction.")

    def handle(self, *args: Any, **options: Any) -> None:
        with reported():
            deleted = conf.get_manager().purge_expired(batch_size=options["batch_size"])
        self.stdout.write(f"purged {deleted} expired session(s)")
