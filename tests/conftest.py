"""Process-wide test setup: Django's settings, before any test package is imported."""

from __future__ import annotations

from tests.django.environment import configure_django

configure_django()
