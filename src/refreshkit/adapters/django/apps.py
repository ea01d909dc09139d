"""The Django app refreshkit installs as: its label, models and checks."""

from __future__ import annotations

try:
    from django.apps import AppConfig
except ImportError as _missing:  # pragma: no cover - exercised only without the extra
    from ...errors import MissingExtraError

    raise MissingExtraError(
        f"refreshkit.adapters.django needs Django ({_missing}): pip install 'refreshkit[django]'"
    ) from _missing


class RefreshKitConfig(AppConfig):
    """``INSTALLED_APPS = [..., "refreshkit.adapters.django"]``."""

    name: str = "refreshkit.adapters.django"
    label: str = "refreshkit"
    verbose_name: str = "refreshkit"
    default_auto_field: str = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Bridge refreshkit's event hooks to the Django signals of :mod:`.signals`, and
        register the system checks of :mod:`.checks`."""
        from . import checks, signals  # noqa: F401
