"""Settings of the example project: Django's defaults, DRF, and one ``REFRESHKIT`` dict.

What changed from the simplejwt version is marked ``# was:``. The example
keeps its SQLite files in ``EXAMPLE_DATA_DIR`` (default: next to
``manage.py``); a real project reads its secrets from the environment.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("EXAMPLE_DATA_DIR", BASE_DIR))

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret")
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "refreshkit.adapters.django",  # was: "rest_framework_simplejwt.token_blacklist"
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "project.urls"
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
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": DATA_DIR / "db.sqlite3"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "static/"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # was: "rest_framework_simplejwt.authentication.JWTAuthentication"
        "refreshkit.adapters.django.drf.RefreshKitAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
}

# was: SIMPLE_JWT = {"ACCESS_TOKEN_LIFETIME": timedelta(minutes=5), ...}
REFRESHKIT = {
    "secret_key": os.environ.get("REFRESHKIT_SECRET_KEY", "example-only-signing-key-0123456789"),
    "access_ttl": "5m",  # ACCESS_TOKEN_LIFETIME
    "refresh_idle_ttl": "1d",  # REFRESH_TOKEN_LIFETIME (a refresh resets it)
    "refresh_absolute_ttl": "30d",  # no simplejwt equivalent: the session's hard end
    # no store_url: sessions live in the project's own database ("django://default"),
    # created by `manage.py migrate`
    "url_prefix": "/api",  # where urls.py includes refreshkit's endpoints
    "django_user_lookup": "pk",  # USER_ID_FIELD = "id": request.user is the real user
    "require_tls": not DEBUG,  # the token endpoints refuse plain HTTP outside development
}
