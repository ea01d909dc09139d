"""Fixtures for the Redis backend tests: the shared server, a private cluster, key prefixes."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import redis
from redis.cluster import RedisCluster

from refreshkit.backends.redis import RedisStore
from tests.services import REDIS_HOST, REDIS_PORT, REDIS_URL, require_binary, require_port

from .servers import Cluster


def delete_prefix(client: redis.Redis | RedisCluster, prefix: str) -> None:
    """Delete every key under ``prefix`` (never FLUSHALL: the server is shared)."""
    for key in list(client.scan_iter(match=f"{prefix}:*", count=1000)):
        client.delete(key)


@pytest.fixture
def key_prefix() -> str:
    """A prefix no other test run uses."""
    return f"rkt{secrets.token_hex(5)}"


@pytest.fixture
def standalone_url() -> str:
    """The shared Redis on 127.0.0.1:6379 (skips, or fails in CI, when it is down)."""
    require_port("Redis", REDIS_HOST, REDIS_PORT)
    return REDIS_URL


@pytest.fixture
def standalone_client(standalone_url: str, key_prefix: str) -> Iterator[redis.Redis]:
    """A sync client on the shared server; deletes this test's keys afterwards."""
    client = redis.Redis.from_url(standalone_url, socket_timeout=5)
    yield client
    delete_prefix(client, key_prefix)
    client.close()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[Cluster]:
    """A 3-master Redis Cluster on free loopback ports, started once for the session."""
    require_binary("redis-server")
    require_binary("redis-cli")
    cluster = Cluster(masters=3)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster_client(redis_cluster: Cluster, key_prefix: str) -> Iterator[RedisCluster]:
    """A sync cluster client; deletes this test's keys afterwards."""
    node = redis_cluster.nodes[0]
    client = RedisCluster(host="127.0.0.1", port=node.port, socket_timeout=5)
    yield client
    delete_prefix(client, key_prefix)
    client.close()


@pytest.fixture(params=["standalone", pytest.param("cluster", marks=pytest.mark.cluster)])
def client(request: pytest.FixtureRequest) -> redis.Redis | RedisCluster:
    """The shared standalone server or the test cluster, for tests that run on both."""
    name = "standalone_client" if request.param == "standalone" else "cluster_client"
    found: redis.Redis | RedisCluster = request.getfixturevalue(name)
    return found


@pytest.fixture
def store(client: redis.Redis | RedisCluster, key_prefix: str) -> Iterator[RedisStore]:
    """A sync store on ``client``, under this test's key prefix."""
    store = RedisStore(client, prefix=key_prefix)
    yield store
    store.close()
