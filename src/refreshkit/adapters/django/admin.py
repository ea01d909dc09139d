"""The Django admin's view of refresh sessions: read-only, and revocable through the manager.

Sessions are listed with their subject, client, times (as datetimes) and
whether they are revoked; nothing secret (hashes, the sealed successor, the
device binding) is shown. "Revoke selected sessions" calls
:meth:`~refreshkit.TokenManager.revoke_session`, so the revocation is the
policy's (monotonic, with its event) and never an edit of the row.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages

from . import conf
from .models import Session
from .store import DjangoStore

# Registered with the admin site, imported by nobody: no public names.
__all__: list[str] = []

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Session]
else:
    _ModelAdmin = admin.ModelAdmin

#: The fields an operator sees: everything but the secrets and token identifiers.
_SHOWN = (
    "sid",
    "subject",
    "client_id",
    "scope",
    "created",
    "last_used",
    "expires",
    "absolute_expiry",
    "generation",
    "use_count",
    "revoked_at_time",
    "revoked_reason",
    "claims",
)


def _store_alias() -> str:
    """The database the configured store keeps its sessions in (``default`` otherwise)."""
    store = conf.get_manager().store
    return store.alias if isinstance(store, DjangoStore) else "default"


@admin.register(Session)
class _SessionAdmin(_ModelAdmin):
    """Sessions listed and viewed, never added, changed or deleted by hand."""

    list_display = ("sid", "subject", "client_id", "created", "last_used", "expires", "revoked")
    list_filter = ("client_id",)
    search_fields = ("=subject", "=sid")
    ordering = ("-last_used_at",)
    fields = _SHOWN
    readonly_fields = _SHOWN
    actions = ("revoke_selected",)

    def get_queryset(self, request: Any) -> Any:
        """The sessions of the database the store writes to."""
        return super().get_queryset(request).using(_store_alias())

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    @admin.display(description="created", ordering="created_at")
    def created(self, session: Session) -> datetime:
        """When the session started."""
        at: datetime = session.created_at
        return at

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, session: Session) -> datetime:
        """The last refresh (or the login)."""
        at: datetime = session.last_used_at
        return at

    @admin.display(description="expires", ordering="expires_at")
    def expires(self, session: Session) -> datetime:
        """The earlier of the idle and the absolute expiry."""
        at: datetime = session.expires_at
        return at

    @admin.display(description="absolute expiry")
    def absolute_expiry(self, session: Session) -> datetime:
        """When the session ends however often it is refreshed."""
        at: datetime = session.absolute_expires_at
        return at

    @admin.display(description="revoked at")
    def revoked_at_time(self, session: Session) -> datetime | None:
        """When it was revoked, if it was."""
        at: datetime | None = session.revoked_at
        return at

    @admin.display(description="revoked", boolean=True)
    def revoked(self, session: Session) -> bool:
        """Whether the session was revoked."""
        return session.revoked_at is not None

    @admin.action(description="Revoke selected sessions")
    def revoke_selected(self, request: Any, queryset: Any) -> None:
        """Revoke each selected session through the manager (its events fire)."""
        manager = conf.get_manager()
        sids = list(queryset.values_list("sid", flat=True))
        revoked = sum(manager.revoke_session(sid, reason="admin") for sid in sids)
        self.message_user(
            request, f"revoked {revoked} of {len(sids)} selected session(s)", messages.SUCCESS
        )
