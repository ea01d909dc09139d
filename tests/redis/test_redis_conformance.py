"""The Redis store holds the store contract: sync and async, standalone and cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from redis.cluster import RedisCluster

from refreshkit.backends.redis import AsyncRedisStore, RedisStore
from refreshkit.testing import AsyncStoreConformance, ProcessRaceConformance, StoreConformance

from .servers import Cluster

pytestmark = [pytest.mark.redis]


class TestAsyncRedisStore(AsyncStoreConformance):
    """Built from a URL: the store owns its client."""

    @pytest.fixture
    def store(
        self, standalone_url: str, standalone_client: redis.Redis, key_prefix: str
    ) -> AsyncRedisStore:
        return AsyncRedisStore(standalone_url, prefix=key_prefix)  # the suite closes it


class TestRedisStore(StoreConformance):
    """Given the application's client: the store shares it."""

    @pytest.fixture
    def store(self, standalone_client: redis.Redis, key_prefix: str) -> Iterator[RedisStore]:
        store = RedisStore(standalone_client, prefix=key_prefix)
        yield store
        store.close()


@pytest.mark.cluster
class TestAsyncRedisClusterStore(AsyncStoreConformance):
    @pytest.fixture
    def store(
        self, redis_cluster: Cluster, cluster_client: RedisCluster, key_prefix: str
    ) -> AsyncRedisStore:
        return AsyncRedisStore(redis_cluster.url, prefix=key_prefix)


@pytest.mark.cluster
class TestRedisClusterStore(StoreConformance):
    @pytest.fixture
    def store(self, cluster_client: RedisCluster, key_prefix: str) -> Iterator[RedisStore]:
        store = RedisStore(cluster_client, prefix=key_prefix)
        yield store
        store.close()


class TestRedisProcessRaces(ProcessRaceConformance):
    """Eight processes, each with its own client, present one token at once."""

    @pytest.fixture
    def store_url(
        self, standalone_url: str, standalone_client: redis.Redis, key_prefix: str
    ) -> str:
        separator = "&" if "?" in standalone_url else "?"
        return f"{standalone_url}{separator}prefix={key_prefix}"


@pytest.mark.cluster
class TestRedisClusterProcessRaces(ProcessRaceConformance):
    @pytest.fixture
    def store_url(
        self, redis_cluster: Cluster, cluster_client: RedisCluster, key_prefix: str
    ) -> str:
        separator = "&" if "?" in redis_cluster.url else "?"
        return f"{redis_cluster.url}{separator}prefix={key_prefix}"
