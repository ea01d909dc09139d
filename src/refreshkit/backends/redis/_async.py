"""The Redis store, async flavour (the sync twin ``_sync.py`` is generated from it).

Runs on standalone Redis and Redis Cluster. Every per-session write
(create, compare-and-set) is one Lua script over one hash-tagged key, called
with EVALSHA and re-sent with EVAL when the server lost its script cache
(``NOSCRIPT`` after a restart, a failover or ``SCRIPT FLUSH``). See
:mod:`refreshkit.backends.redis.keys` for the layout and
``docs/backends/redis.rst`` for the reasoning.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import NoScriptError

from ... import _policy
from ...errors import ConfigurationError, StoreError
from ...models import AccessCheck, Session, SessionUpdate, SubjectCutoff, UpdateResult
from .._options import url_option_names
from ..base import apply_update, validate_update
from . import _scripts
from ._cas import cas_arguments, compaction_arguments, parse_reply
from ._codec import (
    LEGACY_MARKER,
    READ_FIELDS,
    Reply,
    encode_session,
    from_micros,
    legacy_session,
    micros,
    millis_ceiling,
    read_session,
    session_from_fields,
    text,
)
from ._errors import store_errors
from ._url import is_cluster_url, parse_cluster_url
from .keys import KeyLayout

__all__ = ["AsyncRedisStore"]

#: Timeouts for clients the store builds itself: an unreachable Redis must fail fast.
DEFAULT_TIMEOUTS = {"socket_timeout": 5.0, "socket_connect_timeout": 5.0}
#: How often a compaction of a legacy session is retried when another writer changed it first.
COMPACTION_ATTEMPTS = 8


def _client_for(url: str, options: dict[str, Any]) -> Redis | RedisCluster:
    """A new client for ``url``: standalone Redis, or a cluster for ``redis+cluster://``."""
    ours = url_option_names(url)
    if ours:
        raise ConfigurationError(
            f"{', '.join(sorted(ours))} in the URL: store URL options are read by create_store() "
            "and create_async_store(); pass them to the store's constructor as keywords"
        )
    options = {**DEFAULT_TIMEOUTS, **options}
    if is_cluster_url(url):
        parsed = parse_cluster_url(url)
        node_type: Any = ClusterNode  # the sync ClusterNode is untyped
        return RedisCluster(
            startup_nodes=[node_type(host, port) for host, port in parsed.nodes],
            ssl=parsed.tls,
            username=parsed.username,
            password=parsed.password,
            **options,
        )
    return Redis.from_url(url, **options)


class AsyncRedisStore:
    """A token store on Redis or Redis Cluster (``redis.asyncio``).

    ``client_or_url`` is either a ready ``redis.asyncio`` client (``Redis`` or
    ``RedisCluster``), which the application keeps owning (:meth:`aclose`
    leaves it open), or a URL: ``redis://``, ``rediss://`` (TLS),
    ``redis+cluster://host:port,host:port/`` or ``rediss+cluster://...``;
    ``client_options`` then go to the client's constructor. Every key starts
    with ``prefix``, so several applications can share one Redis.

    ``history`` is deprecated and ignored (a :class:`DeprecationWarning`): a
    session no longer keeps retired tokens, its storage is bounded by
    construction.

    Raises :class:`~refreshkit.errors.ConfigurationError` for a bad URL or
    prefix, or options given along with a ready client. Every operation
    raises :class:`~refreshkit.errors.StoreError` when Redis fails.
    """

    def __init__(
        self,
        client_or_url: str | Redis | RedisCluster,
        *,
        prefix: str = "rk",
        history: object = None,
        **client_options: Any,
    ) -> None:
        if history is not None:
            warnings.warn(
                "the Redis store's history option is deprecated and ignored: a session keeps "
                "only its newest and previous token, and any older one is still reuse",
                DeprecationWarning,
                stacklevel=2,
            )
        # Every key this store reads or writes (a KeyLayout, not rendered in the API docs).
        self.keys: KeyLayout = KeyLayout(prefix)
        if isinstance(client_or_url, str):
            self.client: Redis | RedisCluster = _client_for(client_or_url, client_options)
            self._owns_client = True
        elif isinstance(client_or_url, Redis | RedisCluster):
            if client_options:
                raise ConfigurationError("client options only apply when the store builds it")
            self.client = client_or_url
            self._owns_client = False
        else:
            raise ConfigurationError("AsyncRedisStore needs a Redis URL or a redis client")
        #: On a cluster the subject index and the session live in different slots.
        self.is_cluster: bool = isinstance(self.client, RedisCluster)

    # ------------------------------------------------------------- sessions

    async def create_session(self, session: Session) -> None:
        """Store the session and index it under its subject.

        Standalone: one script, one round trip. Cluster: the index entry is
        written first and the session only after it succeeded, so no stored
        session is ever out of :meth:`revoke_subject`'s reach.
        """
        index, key = self.keys.subject_index(session.subject), self.keys.session(session.sid)
        common = [
            session.sid,
            micros(session.absolute_expires_at),
            micros(session.created_at),
            millis_ceiling(session.expires_at),
        ]
        fields = [item for pair in encode_session(session).items() for item in pair]
        if self.is_cluster:
            await self._run(_scripts.CREATE, [index], ["index", *common])
            await self._run(_scripts.CREATE, [key], ["session", *common, *fields])
        else:
            await self._run(_scripts.CREATE, [index, key], ["both", *common, *fields])

    async def compare_and_set(self, update: SessionUpdate) -> UpdateResult:
        """Apply ``update`` with one script call: one round trip, atomic.

        ``cas.lua`` evaluates the checks and writes the changes generically,
        as :func:`~refreshkit.backends.base.apply_update` defines them. A
        session stored in the previous layout is compacted by the first
        update that applies to it (see ``_compact``).
        """
        validate_update(update)
        built = cas_arguments(update)
        if built is None:  # a check that can never hold: report the session as it is
            return UpdateResult(False, await self.get_session(update.sid))
        arguments, known = built
        reply = await self._run(_scripts.CAS, [self.keys.session(update.sid)], arguments)
        return await self._result(update, known, reply)

    async def get_session(self, sid: str) -> Session | None:
        """The session (one HMGET), or None if unknown or expired away."""
        with store_errors("get_session"):
            found = await self.client.hmget(self.keys.session(sid), list(READ_FIELDS))
        session, legacy = read_session(sid, found)
        return await self._read_legacy(sid) if legacy else session

    async def list_sessions(self, subject: str) -> list[Session]:
        """Every stored session of ``subject``: the index, then one pipelined HMGET each."""
        sids = await self._indexed_sids(subject)
        pipe = self.client.pipeline(transaction=False)
        for sid in sids:
            pipe.hmget(self.keys.session(sid), list(READ_FIELDS))
        with store_errors("list_sessions"):
            replies = await pipe.execute() if sids else []
        sessions = []
        for sid, found in zip(sids, replies, strict=True):
            session, legacy = read_session(sid, found)
            if legacy:
                session = await self._read_legacy(sid)
            if session is not None and session.subject == subject:
                sessions.append(session)
        return sessions

    async def revoke_subject(self, subject: str, now: datetime, reason: str) -> int:
        """Revoke every session the subject index lists; returns how many this call revoked.

        Each is :func:`~refreshkit._policy.revocation` (``revoked_at`` unset ->
        set) through the compare-and-set script, all pipelined. Not one
        atomic step on a cluster (the sessions live in many slots), and it
        does not need to be: revocation is monotonic, and a session is
        indexed before it is stored, so every session created before this call
        began is revoked when it returns. A session created concurrently may
        be revoked or not, exactly as if it had been created just after.
        """
        sids = await self._indexed_sids(subject)
        calls, pending = [], []
        for sid in sids:
            update = _policy.revocation(sid, now, reason)
            built = cas_arguments(update)
            if built is not None:  # always: revoked_at unset can hold
                calls.append(([self.keys.session(sid)], built[0]))
                pending.append((update, built[1]))
        replies = await self._run_many(_scripts.CAS, calls)
        revoked = 0
        for (update, known), reply in zip(pending, replies, strict=True):
            revoked += (await self._result(update, known, reply)).applied
        return revoked

    # --------------------------------------------------------------- access

    async def deny_access(self, jti: str, until: datetime) -> None:
        """Deny access token ``jti`` until ``until``; the key expires then by itself."""
        await self._run(
            _scripts.DENY, [self.keys.denial(jti)], [micros(until), millis_ceiling(until)]
        )

    async def check_access(
        self, jti: str, sid: str, now: datetime, subject: str | None = None
    ) -> AccessCheck:
        """Whether ``jti`` is denied at ``now``, the session, and ``subject``'s cutoff.

        One pipelined round trip (on a cluster, one per node the keys live on).
        """
        pipe = self.client.pipeline(transaction=False)
        pipe.get(self.keys.denial(jti))
        pipe.hmget(self.keys.session(sid), list(READ_FIELDS))
        if subject is not None:
            pipe.hget(self.keys.subject_cutoff(subject), "b")
        with store_errors("check_access"):
            until, found, *cutoff = await pipe.execute()
        until_text = text(until)
        denied = until_text is not None and micros(now) < int(until_text)
        before = text(cutoff[0]) if cutoff else None
        session, legacy = read_session(sid, found)
        return AccessCheck(
            denied,
            await self._read_legacy(sid) if legacy else session,
            from_micros(int(before)) if before is not None else None,
        )

    async def record_cutoff(self, cutoff: SubjectCutoff) -> SubjectCutoff:
        """Keep the later of the stored and the given cutoff (one script call); the stored one."""
        reply = await self._run(
            _scripts.CUTOFF,
            [self.keys.subject_cutoff(cutoff.subject)],
            [micros(cutoff.before), cutoff.reason, micros(cutoff.recorded_at)],
        )
        stored = _cutoff_of(cutoff.subject, reply)
        if stored is None:  # pragma: no cover - the script just wrote it
            raise StoreError("the cutoff just recorded is missing")
        return stored

    async def get_cutoff(self, subject: str) -> SubjectCutoff | None:
        """The subject's cutoff (one HMGET), or None."""
        with store_errors("get_cutoff"):
            found = await self.client.hmget(self.keys.subject_cutoff(subject), ["b", "r", "a"])
        return _cutoff_of(subject, found)

    # ---------------------------------------------------------------- purge

    async def purge_expired(self, now: datetime, batch_size: int = 1000) -> int:
        """Delete what ended at or before ``now``; returns the sessions deleted.

        Redis expires sessions and denials by itself (PEXPIREAT), so this
        mostly cleans what TTL cannot: subject-index entries of sessions that
        ended, and anything whose stored end is already past ``now`` while its
        key still lives. It SCANs in batches of ``batch_size`` keys (on every
        primary of a cluster) and deletes each key with one checking script.
        """
        at = micros(now)
        removed = 0
        async for batch in self._scan(self.keys.session_pattern(), batch_size):
            results = await self._run_many(_scripts.PURGE, [([k], ["session", at]) for k in batch])
            gone = [(text(r[1]), key) for key, r in zip(batch, results, strict=True) if r[0] == 1]
            removed += len(gone)
            pipe = self.client.pipeline(transaction=False)
            for subject, key in gone:
                pipe.zrem(self.keys.subject_index(subject or ""), key_sid(key))
            if gone:
                with store_errors("purge_expired"):
                    await pipe.execute()
        async for batch in self._scan(self.keys.denial_pattern(), batch_size):
            await self._run_many(_scripts.PURGE, [([k], ["denial", at]) for k in batch])
        async for batch in self._scan(self.keys.subject_index_pattern(), batch_size):
            pipe = self.client.pipeline(transaction=False)
            for index in batch:
                pipe.zremrangebyscore(index, "-inf", at)
            with store_errors("purge_expired"):
                await pipe.execute()
        return removed

    async def aclose(self) -> None:
        """Close the client if this store built it; a client it was given stays open."""
        if self._owns_client:
            with store_errors("close"):
                await self.client.aclose()

    def __repr__(self) -> str:
        kind = "cluster" if self.is_cluster else "standalone"
        return f"{type(self).__name__}({kind}, prefix={self.keys.prefix!r})"

    # -------------------------------------------------------------- helpers

    async def _result(
        self, update: SessionUpdate, known: dict[str, Any], reply: Reply
    ) -> UpdateResult:
        """The update's result from the script's reply (compacting a legacy session)."""
        applied, found = parse_reply(reply)
        if found is None:
            return UpdateResult(False, None)
        if applied:
            return UpdateResult(True, session_from_fields(update.sid, found, known))
        if LEGACY_MARKER in found:
            return await self._compact(update, found)
        return UpdateResult(False, session_from_fields(update.sid, found))

    async def _compact(self, update: SessionUpdate, found: dict[str, str]) -> UpdateResult:
        """Apply ``update`` to a session stored in the previous layout, rewriting it in this one.

        Storage maintenance, not policy: the hash is read as
        :func:`~._codec.legacy_session` sees it, the update is evaluated on
        that with the reference :func:`~refreshkit.backends.base.apply_update`,
        and if it applies the whole hash is rewritten as the result, guarded
        by the fields every legacy writer changes, so the rewrite applies
        only to the state it was computed from. A second round trip, once
        per legacy session; a lost race re-reads and tries again.
        """
        key = self.keys.session(update.sid)
        for _ in range(COMPACTION_ATTEMPTS):
            result = apply_update(legacy_session(update.sid, found), update)
            if not result.applied or result.session is None:
                return result
            arguments = compaction_arguments(found, result.session)
            applied, now_found = parse_reply(await self._run(_scripts.CAS, [key], arguments))
            if applied:
                return result
            if now_found is None:
                return UpdateResult(False, None)
            if LEGACY_MARKER not in now_found:  # compacted by another writer meanwhile
                return await self.compare_and_set(update)
            found = now_found
        raise StoreError("Redis compare_and_set: a legacy session kept changing under compaction")

    async def _read_legacy(self, sid: str) -> Session | None:
        """A session of the previous layout, read whole (its previous token is in a record)."""
        with store_errors("read a legacy session"):
            found = await self.client.hgetall(self.keys.session(sid))
        fields = {text(name): text(value) for name, value in found.items()}
        return legacy_session(sid, fields)  # type: ignore[arg-type]

    async def _indexed_sids(self, subject: str) -> list[str]:
        with store_errors("read the subject index"):
            members: list[Any] = await self.client.zrange(self.keys.subject_index(subject), 0, -1)
        return [sid for sid in (text(m) for m in members) if sid is not None]

    async def _scan(self, pattern: str, batch_size: int) -> AsyncIterator[list[str]]:
        """Yield lists of at most ``batch_size`` keys matching ``pattern``."""
        batch: list[str] = []
        with store_errors("scan"):
            async for key in self.client.scan_iter(match=pattern, count=batch_size):
                batch.append(key.decode() if isinstance(key, bytes) else str(key))
                if len(batch) >= batch_size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    async def _run(
        self, script: _scripts.LuaScript, keys: Sequence[str], args: Sequence[Any]
    ) -> Any:
        """Run ``script`` by SHA; send its source once if the server lost it (NOSCRIPT)."""
        with store_errors(script.name):
            try:
                return await self.client.evalsha(script.sha, len(keys), *keys, *args)
            except NoScriptError:
                return await self.client.eval(script.source, len(keys), *keys, *args)

    async def _run_many(
        self, script: _scripts.LuaScript, calls: Sequence[tuple[Sequence[str], Sequence[Any]]]
    ) -> list[Any]:
        """Run ``script`` once per ``(keys, args)``, pipelined; NOSCRIPT ones are re-sent."""
        if not calls:
            return []
        pipe = self.client.pipeline(transaction=False)
        for keys, args in calls:
            # By name: redis-py blocks pipe.evalsha() on clusters, but routes EVALSHA by its keys.
            pipe.execute_command("EVALSHA", script.sha, len(keys), *keys, *args)
        with store_errors(script.name):
            results: list[Any] = await pipe.execute(raise_on_error=False)
        for position, result in enumerate(results):
            if isinstance(result, NoScriptError):
                keys, args = calls[position]
                results[position] = await self._run(script, keys, args)
            elif isinstance(result, Exception):
                with store_errors(script.name):
                    raise result
        return results


def key_sid(session_key: str) -> str:
    """The session id inside a session key's hash tag."""
    return session_key[session_key.index("{") + 1 : session_key.index("}")]


def _cutoff_of(subject: str, values: Sequence[Reply]) -> SubjectCutoff | None:
    """A cutoff from its hash's ``b r a`` fields; None when it has none."""
    before, reason, recorded = (text(value) for value in values)
    if before is None or reason is None or recorded is None:
        return None
    return SubjectCutoff(subject, from_micros(int(before)), reason, from_micros(int(recorded)))
