"""Reading ``redis+cluster://`` URLs, which redis-py does not parse itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from ...errors import ConfigurationError

__all__ = ["ClusterURL", "is_cluster_url", "parse_cluster_url"]

_CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}
_STANDALONE_SCHEMES = {"redis", "rediss", "unix"}


@dataclass(frozen=True, slots=True)
class ClusterURL:
    """Startup nodes and credentials of a Redis Cluster URL."""

    nodes: tuple[tuple[str, int], ...]
    tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def scheme_of(url: str) -> str:
    """The URL's scheme, lower-cased; ConfigurationError if it is not a Redis one."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in _CLUSTER_SCHEMES and scheme not in _STANDALONE_SCHEMES:
        raise ConfigurationError(
            "a Redis store URL starts redis://, rediss://, redis+cluster:// or rediss+cluster://"
        )
    return scheme


def is_cluster_url(url: str) -> bool:
    """Whether ``url`` names a Redis Cluster (``redis+cluster://`` or ``rediss+cluster://``)."""
    return scheme_of(url) in _CLUSTER_SCHEMES


def parse_cluster_url(url: str) -> ClusterURL:
    """Parse ``redis+cluster://[user:password@]host:port[,host:port...][/]``.

    Raises :class:`ConfigurationError` for a missing host or port, or a path
    (a cluster has only database 0).
    """
    scheme = scheme_of(url)
    if scheme not in _CLUSTER_SCHEMES:
        raise ConfigurationError(f"not a Redis Cluster URL: {scheme}://")
    rest = url.split("://", 1)[1]
    credentials, _, hosts = rest.rpartition("@")
    hosts, _, path = hosts.partition("/")
    hosts, _, query = hosts.partition("?")
    path, _, path_query = path.partition("?")
    if query or path_query:
        raise ConfigurationError(
            "a Redis Cluster URL takes only refreshkit's options (prefix); "
            "pass client options to the store as keywords"
        )
    if path.strip("/") not in ("", "0"):
        raise ConfigurationError("a Redis Cluster URL has no database path (cluster uses db 0)")
    nodes = []
    for node in filter(None, hosts.split(",")):
        parsed = urlsplit(f"//{node}")
        try:
            port = parsed.port or 6379
        except ValueError as exc:
            raise ConfigurationError(f"bad port in Redis Cluster node {node!r}") from exc
        if not parsed.hostname:
            raise ConfigurationError(f"missing host in Redis Cluster node {node!r}")
        nodes.append((parsed.hostname, port))
    if not nodes:
        raise ConfigurationError("a Redis Cluster URL names at least one host:port")
    username, password = None, None
    if credentials:
        user, has_password, secret = credentials.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if has_password else None
    return ClusterURL(tuple(nodes), _CLUSTER_SCHEMES[scheme], username, password)
