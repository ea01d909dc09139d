"""The Django settings of the DRF, Ninja and signal tests (memory store, in-memory database)."""

from __future__ import annotations

SECRET_KEY = "tests-only-django-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
USE_TZ = True
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "refreshkit.adapters.django",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "tests.django_api.urls"
MIDDLEWARE: list[str] = []
REST_FRAMEWORK = {"UNAUTHENTICATED_USER": None}

#: What every test starts from; a test changes it with ``override_settings``.
REFRESHKIT = {
    "store_url": "memory://",
    "secret_key": "tests-only-refreshkit-secret-0123456789",
    "issuer": "https://api.example",
    "audience": "https://api.example",
}
