"""Django, configured once per test process, before any test package can configure it.

Every Django test package (the ORM store's, the DRF and Ninja ones, the
adapter spec in tests/adapters) runs on these settings, since Django can be
set up only once in a process: ``tests/conftest.py`` calls
:func:`configure_django` first. It names this run's SQLite file and
PostgreSQL schema in environment variables before Django reads
``tests/django/settings.py`` (spawned racers inherit them and open the same
databases).
"""

from __future__ import annotations

import os
import tempfile
import uuid


def configure_django() -> bool:
    """Set Django up on ``tests.django.settings``; False when Django is not installed."""
    try:
        import django
        from django.conf import settings
    except ImportError:
        return False
    # Each pytest-xdist worker gets its own file and schema (a worker inherits the
    # controller's environment); a racer spawned by a worker inherits the worker's.
    owner = os.environ.get("PYTEST_XDIST_WORKER", "main")
    if os.environ.get("REFRESHKIT_DJANGO_OWNER") != owner:
        os.environ["REFRESHKIT_DJANGO_OWNER"] = owner
        directory = tempfile.mkdtemp(prefix="rk-django-")
        os.environ["REFRESHKIT_DJANGO_SQLITE"] = os.path.join(directory, "db.sqlite3")
        os.environ["REFRESHKIT_DJANGO_PG_SCHEMA"] = f"rkdj_{uuid.uuid4().hex[:10]}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.django.settings")
    # Ninja before 1.2 refuses a second TestClient of one API unless told this is a test.
    os.environ.setdefault("NINJA_SKIP_REGISTRY", "yes")
    if not settings.configured or not django.apps.apps.ready:
        django.setup()
    return True
