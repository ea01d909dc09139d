"""Settings of the example project: Django's defaults, DRF, and one ``REFRESHKIT`` dict.

What changed from the simplejwt version is marked ``# was:``. The example
keeps its SQLite database and its signing key in ``EXAMPLE_DATA_DIR``
(default: next to ``manage.py``); a real project reads its secrets from the
environment.
"""

import os
from pathlib import Path

from refreshkit import SigningKey

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("EXAMPLE_DATA_DIR", BASE_DIR))


def signing_key() -> str:
    """REFRESHKIT_PRIVATE_KEY (PEM), else a development key made once in DATA_DIR.

    In production, make one with ``python manage.py refreshkit_keygen`` and
    set the variable from your secret store.
    """
    pem = os.environ.get("REFRESHKIT_PRIVATE_KEY")
    if pem:
        return pem
    path = DATA_DIR / "signing-key.pem"
    try:  # O_EXCL: two processes starting at once keep the first one's key
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text()
    with os.fdopen(descriptor, "w") as handle:
        handle.write(SigningKey.generate("EdDSA").private_pem())
    return path.read_text()


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
        "DIRS": [BASE_DIR / "project" / "templates"],
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
    # was: "SIGNING_KEY": SECRET_KEY with "ALGORITHM": "HS256". An Ed25519 key lets
    # other services verify access tokens from api/.well-known/jwks.json alone.
    "private_key": signing_key(),
    "access_ttl": "5m",  # ACCESS_TOKEN_LIFETIME
    "refresh_idle_ttl": "1d",  # REFRESH_TOKEN_LIFETIME (a refresh resets it)
    "refresh_absolute_ttl": "30d",  # no simplejwt equivalent: the session's hard end
    # no store_url: sessions live in the project's own database ("django://default"),
    # created by `manage.py migrate`
    "url_prefix": "/api",  # where urls.py includes refreshkit's endpoints
    "django_user_lookup": "pk",  # USER_ID_FIELD = "id": request.user is the real user
    "require_tls": not DEBUG,  # the token endpoints refuse plain HTTP outside development
    # no simplejwt equivalent: the browser page (/) keeps its refresh token in an
    # HttpOnly cookie; API clients still send it in the body
    "cookie_mode": True,
    "body_mode": True,
}
