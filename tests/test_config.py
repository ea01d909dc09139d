"""Settings: one validated path from code, environment or a mapping."""

from __future__ import annotations

import warnings
from datetime import timedelta
from typing import Any

import pytest

from refreshkit import ConfigurationError, KeySet, Settings, SigningKey, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15m", timedelta(minutes=15)),
        ("14d", timedelta(days=14)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("500ms", timedelta(milliseconds=500)),
        ("2w", timedelta(weeks=2)),
        ("90", timedelta(seconds=90)),
        (30, timedelta(seconds=30)),
        (timedelta(hours=2), timedelta(hours=2)),
    ],
)
def test_durations_parse_from_strings_numbers_and_timedeltas(
    text: object, expected: timedelta
) -> None:
    assert parse_duration(text) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["fifteen minutes", "10x", "", "m5", "1h 30", "-1s"])
def test_a_typo_in_a_duration_is_an_error_not_zero(bad: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_settings_from_env_coerces_every_type() -> None:
    settings = Settings.from_env(
        {
            "REFRESHKIT_ACCESS_TTL": "5m",
            "REFRESHKIT_REFRESH_IDLE_TTL": "7d",
            "REFRESHKIT_ROTATION": "yes",
            "REFRESHKIT_RETRY_WINDOW": "10s",
            "REFRESHKIT_MAX_SESSIONS": "3",
            "REFRESHKIT_MAX_USES": "none",
            "REFRESHKIT_AUDIENCE": "api, web",
            "REFRESHKIT_COOKIE_SAMESITE": "lax",
            "PATH": "/usr/bin",
        }
    )
    assert settings.access_ttl == timedelta(minutes=5)
    assert settings.retry_window == timedelta(seconds=10)
    assert settings.max_sessions == 3 and settings.max_uses is None
    assert settings.audience == ("api", "web")
    assert settings.cookie_samesite == "lax"


def test_strings_are_accepted_in_code_too() -> None:
    assert Settings(access_ttl="1m").access_ttl == timedelta(minutes=1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"access_ttl": "30d"}, "access_ttl is longer than refresh_idle_ttl"),
        ({"refresh_idle_ttl": "60d"}, "refresh_idle_ttl must not exceed"),
        ({"access_ttl": "0s"}, "access_ttl must be positive"),
        ({"max_sessions": 0}, "max_sessions"),
        ({"retry_window": timedelta(seconds=-1)}, "negative"),
        ({"retry_window": "14d"}, "retry_window must be shorter than refresh_idle_ttl"),
        ({"rotation": "maybe"}, "boolean"),
        ({"cookie_samesite": "sometimes"}, "cookie_samesite"),
        ({"cookie_samesite": "none", "cookie_secure": False}, "cookie_secure"),
        ({"url_prefix": "auth/"}, "url_prefix"),
        ({"cookie_mode": False, "body_mode": False}, "cookie_mode"),
    ],
)
def test_invalid_settings_are_refused_with_a_clear_error(changes: dict, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_mapping(changes)


def test_unknown_prefixed_keys_are_typos_and_other_keys_are_ignored() -> None:
    with pytest.raises(ConfigurationError, match="REFRESHKIT_ACESS_TTL"):
        Settings.from_mapping({"REFRESHKIT_ACESS_TTL": "5m"}, prefix="REFRESHKIT_")
    assert Settings.from_mapping({"SECRET_KEY": "x"}, prefix="REFRESHKIT_") == Settings()


def test_secrets_are_hidden_from_repr() -> None:
    settings = Settings(secret_key="s" * 40)
    assert "s" * 40 not in repr(settings)


def test_replace_validates_like_any_input() -> None:
    base = Settings()
    assert base.replace(access_ttl="2m").access_ttl == timedelta(minutes=2)
    with pytest.raises(ConfigurationError):
        base.replace(access_ttl="90d")


def test_keys_come_from_settings_or_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="REFRESHKIT_SECRET_KEY"):
        KeySet.from_settings(Settings())
    hs = KeySet.from_settings(Settings(secret_key="k" * 32, key_id="main"))
    assert hs.active.kid == "main" and hs.active.algorithm == "HS256"
    pem = SigningKey.generate("ES256").private_pem()
    es = KeySet.from_settings(Settings(private_key=pem, algorithm="ES256"))
    assert es.active.algorithm == "ES256"


def test_an_unknown_env_variable_is_a_warning_that_names_the_likely_setting() -> None:
    """from_env warns (the prefix is shared with other tools); from_mapping refuses."""
    environ = {"REFRESHKIT_ACESS_TTL": "5m", "REFRESHKIT_SECRET_KEY": "s" * 32}
    with pytest.warns(
        UserWarning, match="REFRESHKIT_ACESS_TTL .*did you mean REFRESHKIT_ACCESS_TTL"
    ):
        settings = Settings.from_env(environ)
    assert settings.access_ttl == Settings().access_ttl and settings.secret_key == "s" * 32
    with pytest.raises(ConfigurationError, match="did you mean REFRESHKIT_ACCESS_TTL"):
        Settings.from_mapping(environ, prefix="REFRESHKIT_")


def test_from_env_ignores_variables_that_name_no_setting_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="REFRESHKIT_REQUIRE_SERVICES"):
        settings = Settings.from_env(
            {"REFRESHKIT_REQUIRE_SERVICES": "1", "REFRESHKIT_ACCESS_TTL": "2m"}
        )
    assert settings.access_ttl == timedelta(minutes=2)


def test_no_store_url_means_the_in_memory_default() -> None:
    assert Settings().store_url is None
    assert Settings(store_url="redis://127.0.0.1:6379/0").store_url == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://app:Pw-1n-URL@db.internal:5432/tokens",
        "redis://:Pw-1n-URL@cache.internal:6379/0",
        "rediss://default:Pw-1n-URL@cache.internal:6380/0?ssl_cert_reqs=required",
        "redis://cache.internal:6379/0?password=Pw-1n-URL&db=2",
        "mysql+pymysql://app:Pw-1n-URL@db:3306/tokens?charset=utf8mb4",
        "postgresql://app:Pw-1n/URL@db/tokens",  # a '/' the URL should have escaped
        "postgresql://app:Pw%401n-URL@db/tokens",  # an escaped '@'
    ],
)
def test_the_store_urls_password_is_masked_in_repr(url: str) -> None:
    password = url.split("Pw")[1].split("@")[0].split("&")[0]
    shown = repr(Settings(store_url=url))
    assert "Pw" + password not in shown and "***" in shown
    assert Settings(store_url=url).store_url == url  # only the repr is masked


@pytest.mark.parametrize(
    "url", ["memory://", "sqlite:///tokens.db", "redis://cache:6379/0", "redis://user@cache/0"]
)
def test_store_urls_without_a_password_show_as_they_are(url: str) -> None:
    assert f"store_url={url!r}" in repr(Settings(store_url=url))


def test_the_retry_window_defaults_to_thirty_seconds_and_zero_is_strict() -> None:
    assert Settings().retry_window == timedelta(seconds=30)
    assert Settings(retry_window="0s").retry_window == timedelta(0)  # type: ignore[arg-type]
    assert "retry_window=datetime.timedelta(seconds=30)" in repr(Settings())
    assert "reuse_grace" not in repr(Settings()) and "max_grace_reuses" not in repr(Settings())


def test_reuse_grace_in_code_is_a_deprecated_alias_of_retry_window() -> None:
    with pytest.warns(DeprecationWarning, match="reuse_grace is deprecated.*retry_window"):
        settings = Settings(reuse_grace=timedelta(seconds=10))
    assert settings.retry_window == timedelta(seconds=10)
    assert settings.reuse_grace is None
    with pytest.warns(DeprecationWarning, match="reuse_grace"):
        strict = Settings(reuse_grace=timedelta(0))
    assert strict.retry_window == timedelta(0)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Settings.from_env({"REFRESHKIT_REUSE_GRACE": "10s"}),
        lambda: Settings.from_mapping({"REFRESHKIT_REUSE_GRACE": "10s"}, prefix="REFRESHKIT_"),
        lambda: Settings.from_mapping({"reuse_grace": "10s"}),
        lambda: Settings().replace(reuse_grace="10s"),
    ],
    ids=["from_env", "from_mapping_prefixed", "from_mapping", "replace"],
)
def test_reuse_grace_from_env_or_a_mapping_becomes_retry_window_with_a_warning(
    build: Any,
) -> None:
    with pytest.warns(DeprecationWarning, match="reuse_grace"):
        settings = build()
    assert settings.retry_window == timedelta(seconds=10)


@pytest.mark.parametrize(
    "build",
    [
        lambda: Settings(max_grace_reuses=3),
        lambda: Settings.from_env({"REFRESHKIT_MAX_GRACE_REUSES": "3"}),
        lambda: Settings.from_mapping({"REFRESHKIT_MAX_GRACE_REUSES": "3"}, prefix="REFRESHKIT_"),
    ],
    ids=["code", "from_env", "from_mapping"],
)
def test_max_grace_reuses_is_deprecated_and_ignored(build: Any) -> None:
    with pytest.warns(DeprecationWarning, match="max_grace_reuses is deprecated and ignored"):
        settings = build()
    assert settings.max_grace_reuses is None
    assert settings == Settings()


def test_a_deprecated_setting_warns_once_and_is_not_carried_by_replace() -> None:
    with pytest.warns(DeprecationWarning, match="grace"):
        settings = Settings(reuse_grace=timedelta(seconds=5), max_grace_reuses=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        copy = settings.replace(access_ttl="1m")
    assert copy.retry_window == timedelta(seconds=5)


def test_reuse_grace_and_a_different_retry_window_together_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="set retry_window only"):
        Settings(retry_window=timedelta(seconds=5), reuse_grace=timedelta(seconds=10))


def test_a_negative_reuse_grace_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="reuse_grace must not be negative"):
        Settings(reuse_grace=timedelta(seconds=-1))
