"""Store options ride in the URL, so ``REFRESHKIT_STORE_URL`` alone configures a Redis store.

refreshkit takes ``prefix`` (and the deprecated, ignored ``history``) out of
the query; redis-py reads the rest of a standalone URL.
"""

from __future__ import annotations

import pytest
import redis
from redis.cluster import RedisCluster

from refreshkit import ConfigurationError, Settings, TokenManager, create_async_store, create_store
from refreshkit.backends.redis import AsyncRedisStore, RedisStore

from .servers import Cluster

pytestmark = [pytest.mark.redis]


def _keys(client: redis.Redis | RedisCluster, prefix: str) -> list[bytes]:
    return list(client.scan_iter(match=f"{prefix}:*", count=1000))


def test_the_url_chooses_the_key_prefix(
    standalone_url: str, standalone_client: redis.Redis, key_prefix: str
) -> None:
    store = create_store(f"{standalone_url}?prefix={key_prefix}")
    assert isinstance(store, RedisStore)
    manager = TokenManager(Settings(secret_key="s" * 32), store=store)
    try:
        pair = manager.issue("alice")
        manager.refresh(pair.refresh_token)
        assert _keys(standalone_client, key_prefix), "the session lives under the URL's prefix"
        assert all(
            key.startswith(f"{key_prefix}:".encode())
            for key in _keys(standalone_client, key_prefix)
        )
    finally:
        manager.close()
        store.close()


async def test_async_urls_take_the_same_options_and_redis_py_reads_the_rest(
    standalone_url: str, standalone_client: redis.Redis, key_prefix: str
) -> None:
    store = create_async_store(f"{standalone_url}?socket_timeout=1.5&prefix={key_prefix}")
    assert isinstance(store, AsyncRedisStore)
    try:
        assert store.keys.prefix == key_prefix
        assert store.client.connection_pool.connection_kwargs["socket_timeout"] == 1.5
        assert "prefix" not in store.client.connection_pool.connection_kwargs
        await store.client.ping()
    finally:
        await store.aclose()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("history=", "history= in the store URL needs a value"),
        ("prefx=app", "unknown Redis store URL option 'prefx'.*history, prefix"),
        ("create_tables=true", "unknown Redis store URL option 'create_tables'"),
        ("key_prefix=app", "unknown Redis store URL option 'key_prefix'"),
        ("prefix=a%7Bb", "prefix"),
    ],
)
def test_a_bad_url_option_is_a_configuration_error_naming_the_valid_ones(
    query: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        create_store(f"redis://127.0.0.1:6379/0?{query}")
    with pytest.raises(ConfigurationError, match=message):
        create_async_store(f"redis+cluster://127.0.0.1:7000?{query}")


def test_an_option_given_in_the_url_and_as_a_keyword_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="prefix given both"):
        create_store("redis://127.0.0.1:6379/0?prefix=a", prefix="b")


@pytest.mark.parametrize("value", ["0", "16", "lots"])
def test_history_in_the_url_is_accepted_with_a_deprecation_warning_and_ignored(
    standalone_url: str, standalone_client: redis.Redis, key_prefix: str, value: str
) -> None:
    with pytest.warns(DeprecationWarning, match="history option is deprecated and ignored"):
        store = create_store(f"{standalone_url}?prefix={key_prefix}&history={value}")
    manager = TokenManager(Settings(secret_key="s" * 32), store=store)
    try:
        pair = manager.issue("alice")
        assert manager.refresh(pair.refresh_token).sid == pair.sid
    finally:
        manager.close()


def test_the_constructors_refuse_url_options_they_would_hand_to_redis_py() -> None:
    with pytest.raises(ConfigurationError, match="create_store"):
        RedisStore("redis://127.0.0.1:6379/0?prefix=app")


def test_a_cluster_url_refuses_client_options_it_cannot_pass_on() -> None:
    with pytest.raises(ConfigurationError, match="as keywords"):
        create_store("redis+cluster://127.0.0.1:7000/?socket_timeout=3")


@pytest.mark.cluster
def test_a_cluster_url_chooses_the_key_prefix(
    redis_cluster: Cluster, cluster_client: RedisCluster, key_prefix: str
) -> None:
    store = create_store(f"{redis_cluster.url}?prefix={key_prefix}")
    manager = TokenManager(Settings(secret_key="s" * 32), store=store)
    try:
        manager.refresh(manager.issue("alice").refresh_token)
        assert _keys(cluster_client, key_prefix)
    finally:
        manager.close()
        store.close()
