"""Django settings of the Django tests, importable by spawned processes too.

Two databases: ``default``, an SQLite file, and ``postgres``, the test
PostgreSQL server's ``test`` database with this run's tables in a schema
of their own (``search_path``), so parallel runs never share rows. The
conftest names the file and the schema in environment variables before
Django starts; a spawned racer inherits them.
"""

from __future__ import annotations

import os
import tempfile
from urllib.parse import urlsplit

from tests.services import POSTGRES_SYNC_URL

_POSTGRES = urlsplit(POSTGRES_SYNC_URL.replace("+psycopg", "", 1))
#: The SQLite file and the PostgreSQL schema of this run (see tests/django/conftest.py).
SQLITE_PATH = os.environ.get(
    "REFRESHKIT_DJANGO_SQLITE", os.path.join(tempfile.gettempdir(), "refreshkit-django.sqlite3")
)
POSTGRES_SCHEMA = os.environ.get("REFRESHKIT_DJANGO_PG_SCHEMA", "public")

SECRET_KEY = "refreshkit-tests-only"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
ROOT_URLCONF = "tests.django.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "rest_framework",
    "refreshkit.adapters.django",
]
REST_FRAMEWORK = {"UNAUTHENTICATED_USER": None}
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": SQLITE_PATH},
    "postgres": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _POSTGRES.path.lstrip("/") or "test",
        "USER": _POSTGRES.username or "postgres",
        "PASSWORD": _POSTGRES.password or "",
        "HOST": _POSTGRES.hostname or "127.0.0.1",
        "PORT": str(_POSTGRES.port or 5432),
        "OPTIONS": {"options": f"-c search_path={POSTGRES_SCHEMA}"},
    },
    # A server that is not there, and a database never migrated: the store's failures.
    "unreachable": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "test",
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": "9",
        "OPTIONS": {"connect_timeout": 2},
    },
    "unmigrated": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
}

REFRESHKIT = {
    "STORE_URL": "django://default",
    "SECRET_KEY": "refreshkit-django-tests-" + "k" * 40,
    "ALGORITHM": "HS256",
}
