"""``manage.py refreshkit_revoke (SUBJECT | --session SID)``: log out everywhere, or one device."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import conf
from ._errors import reported

__all__ = ["Command"]


class Command(BaseCommand):
    """Revocations through the manager (reason ``operator``), as ``refreshkit revoke``."""

    help = "Revoke every session of SUBJECT, or one session with --session SID."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("subject", nargs="?")
        parser.add_argument("--session", dest="sid", help="Revoke this one session instead.")

    def handle(self, *args: Any, **options: Any) -> None:
        subject: str | None = options["subject"]
        sid: str | None = options["sid"]
        if (subject is None) == (sid is None):
            raise CommandError("give either SUBJECT or --session SID")
        with reported():
            manager = conf.get_manager()
            if sid is not None:
                revoked = manager.revoke_session(sid, reason="operator")
                self.stdout.write(f"session {sid} {'revoked' if revoked else 'was not live'}")
                return
            count = manager.revoke_subject(str(subject), reason="operator")
        self.stdout.write(f"revoked {count} session(s) of {subject}")
