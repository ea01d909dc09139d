"""Sessions stored by the previous release: read as they were, compacted by their first update.

``_legacy_hash`` writes a session hash exactly as the previous layout did
(the current record in ``k``/``r``, every retired record in
``:<selector>``/``.<selector>``, ring slots ``#<n>``, counters ``h`` and
``n``, optional text as '' or '.' + value, ``v`` as ``<at>[,<reason>]``).
Hand-written, not generated; standalone and cluster.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import redis
from redis.cluster import RedisCluster

from refreshkit import Settings, TokenManager, _tokens
from refreshkit._async.conformance import T0
from refreshkit.backends.redis import RedisStore
from refreshkit.backends.redis._codec import encode_secret, micros, sealed_parts
from refreshkit.clock import FrozenClock
from refreshkit.errors import ExpiredTokenError, InvalidTokenError, TokenReuseError

pytestmark = [pytest.mark.redis]

ROTATIONS = 4
MINUTE = timedelta(minutes=1)
#: Every field the current layout writes; a compacted hash has no other.
CURRENT_LAYOUT = set("ucialtkgeTKojxyzdpmvq")
DEVICE = "phone"


@dataclass
class Legacy:
    """A session written in the previous layout: its id, and its tokens oldest first."""

    sid: str
    tokens: list[str]

    @property
    def last_rotation(self) -> datetime:
        return T0 + (len(self.tokens) - 1) * MINUTE


def _meta(
    generation: int, created: datetime, consumed: datetime | None, uses: int, parent: str
) -> str:
    spent = "" if consumed is None else str(micros(consumed))
    return f"{generation},{micros(created)},{spent},{uses},{parent}"


def _legacy_hash(
    client: redis.Redis | RedisCluster,
    store: RedisStore,
    *,
    rotations: int = ROTATIONS,
    uses: int = 0,
    revoked: str = "",
    subject: str = "alice",
) -> Legacy:
    """Write a session rotated ``rotations`` times (a minute apart) as the previous layout did."""
    sid = _tokens.new_session_id()
    tokens = [_tokens.new_refresh_token(sid)[0] for _ in range(rotations + 1)]
    ids = [_tokens.parse_refresh_token(t) for t in tokens]
    selectors = [token_id[len(sid) :] for token_id, _ in ids]
    last = T0 + rotations * MINUTE
    sealed = _tokens.seal_successor(tokens[-2], tokens[-1]) if rotations else None
    parts = sealed_parts("" if sealed is None else "." + sealed)
    fields: dict[str, str] = {
        "u": subject,
        "c": str(micros(T0)),
        "i": str(micros(last + timedelta(days=1))),
        "a": str(micros(T0 + timedelta(days=7))),
        "l": str(micros(last)),
        "t": selectors[-1],
        "g": str(rotations),
        "d": "." + _tokens.hash_device(DEVICE),
        "p": ".read write",
        "m": '{"role":"admin"}',
        "v": revoked,
        "x": parts[0],
        "y": parts[1],
        "z": parts[2],
        "k": encode_secret(ids[-1][1]),
        "r": _meta(rotations, last, None, uses, selectors[-2] if rotations else ""),
        "h": str(rotations),
        "n": "0",
    }
    for number in range(rotations):
        parent = selectors[number - 1] if number else ""
        spent = T0 + (number + 1) * MINUTE
        fields[":" + selectors[number]] = encode_secret(ids[number][1])
        fields["." + selectors[number]] = _meta(number, T0 + number * MINUTE, spent, 1, parent)
        fields[f"#{number}"] = selectors[number]
    key = store.keys.session(sid)
    client.hset(key, mapping=fields)  # type: ignore[arg-type]
    client.pexpireat(key, -(-micros(last + timedelta(days=1)) // 1000))
    client.zadd(store.keys.subject_index(subject), {sid: micros(T0 + timedelta(days=7))})
    return Legacy(sid, tokens)


def _manager(store: RedisStore, at: datetime, **settings: object) -> TokenManager:
    return TokenManager(
        Settings(secret_key="s" * 32, **settings),  # type: ignore[arg-type]
        store=store,
        clock=FrozenClock(at),
    )


def _fields(client: redis.Redis | RedisCluster, store: RedisStore, sid: str) -> set[str]:
    return {
        f.decode() if isinstance(f, bytes) else f for f in client.hkeys(store.keys.session(sid))
    }


def test_a_legacy_session_reads_as_the_contract_sees_it_through_every_read(
    client: redis.Redis | RedisCluster, store: RedisStore
) -> None:
    legacy = _legacy_hash(client, store, uses=0)
    session = store.get_session(legacy.sid)
    assert session is not None
    assert session.current_token_id == _tokens.parse_refresh_token(legacy.tokens[-1])[0]
    assert (session.previous_token_id, session.previous_secret_hash) == _tokens.parse_refresh_token(
        legacy.tokens[-2]
    )
    assert session.current_secret_hash == _tokens.parse_refresh_token(legacy.tokens[-1])[1]
    assert session.rotated_at == legacy.last_rotation
    assert session.generation == ROTATIONS and session.use_count == 0
    assert session.chain_hash is None and session.revoked_at is None
    assert session.device_hash == _tokens.hash_device(DEVICE)
    assert session.scope == "read write" and session.claims == {"role": "admin"}
    assert (
        _tokens.open_successor(session.sealed_successor or "", legacy.tokens[-2])
        == (legacy.tokens[-1])
    )
    assert store.list_sessions("alice") == [session]
    assert store.check_access("jti", legacy.sid, T0).session == session
    assert "r" in _fields(client, store, legacy.sid)  # reading changes nothing


def test_the_first_refresh_of_a_legacy_session_rotates_it_and_compacts_the_hash(
    client: redis.Redis | RedisCluster, store: RedisStore
) -> None:
    legacy = _legacy_hash(client, store)
    manager = _manager(store, legacy.last_rotation + timedelta(hours=1))
    assert len(_fields(client, store, legacy.sid)) >= 30

    rotated = manager.refresh(legacy.tokens[-1], device=DEVICE)

    assert _fields(client, store, legacy.sid) <= CURRENT_LAYOUT  # the legacy fields are gone
    session = store.get_session(legacy.sid)
    assert session is not None and session.generation == ROTATIONS + 1
    assert session.previous_token_id == _tokens.parse_refresh_token(legacy.tokens[-1])[0]
    assert session.chain_hash is not None  # the legacy token's own chain key from now on
    assert session.scope == "read write" and session.claims == {"role": "admin"}
    ttl = int(client.pexpiretime(store.keys.session(legacy.sid)))
    assert ttl == -(-micros(session.expires_at) // 1000)
    onward = manager.refresh(rotated.refresh_token, device=DEVICE)
    assert onward.sid == legacy.sid
    assert isinstance(manager.clock, FrozenClock)
    manager.clock.advance(MINUTE)  # past the retry window
    with pytest.raises(TokenReuseError):  # its chain key is the session's from now on
        manager.refresh(legacy.tokens[-1], device=DEVICE)


def test_a_retry_of_the_legacy_previous_token_within_the_window_replays_without_writing(
    client: redis.Redis | RedisCluster, store: RedisStore
) -> None:
    legacy = _legacy_hash(client, store)
    manager = _manager(store, legacy.last_rotation + timedelta(seconds=10))
    before = client.hgetall(store.keys.session(legacy.sid))
    assert manager.refresh(legacy.tokens[-2], device=DEVICE).refresh_token == legacy.tokens[-1]
    assert client.hgetall(store.keys.session(legacy.sid)) == before


def test_the_legacy_previous_token_after_the_window_is_reuse_and_revokes(
    client: redis.Redis | RedisCluster, store: RedisStore
) -> None:
    legacy = _legacy_hash(client, store)
    manager = _manager(store, legacy.last_rotation + timedelta(minutes=5))
    with pytest.raises(TokenReuseError):
        manager.refresh(legacy.tokens[-2], device=DEVICE)
    session = store.get_session(legacy.sid)
    assert session is not None and session.revoked_reason == "reuse"
    assert _fields(client, store, legacy.sid) <= CURRENT_LAYOUT  # the revocation compacted it


def test_an_older_legacy_token_is_refused_as_unknown_without_revoking(
    client: redis.Redis | RedisCluster, store: RedisStore
) -> None:
    """Documented: a legacy session has no chain hash; tokens before its previous are unknown."""
    legacy = _legacy_hash(client, store)
    manager = _manager(store, legacy.last_rotation + timedelta(minutes=5))
    for old in legacy.tokens[:-2]:
        with pytest.raises(InvalidTokenError) as refused:
            manager.refresh(old, device=DEVICE)
        assert type(refused.value) is InvalidTokenError
    session = store.get_session(legacy.sid)
    assert session is not None and session.revoked_at is None
    assert manager.refresh(legacy.tokens[-1], device=DEVICE).sid == legacy.sid


def test_revoke_subject_revokes_and_compacts_legacy_sessions_and_keeps_earlier_revocations(
    client: redis.Redis | RedisCluster, store: RedisStore
) -> None:
    live = [_legacy_hash(client, store) for _ in range(3)]
    earlier = _legacy_hash(client, store, revoked=f"{micros(T0)},logout")
    fresh = _manager(store, T0).issue("alice")
    assert store.revoke_subject("alice", T0 + timedelta(hours=1), "everywhere") == 4
    for legacy in live:
        session = store.get_session(legacy.sid)
        assert session is not None and session.revoked_reason == "everywhere"
        assert _fields(client, store, legacy.sid) <= CURRENT_LAYOUT
    kept = store.get_session(earlier.sid)
    assert kept is not None and kept.revoked_at == T0 and kept.revoked_reason == "logout"
    assert "r" in _fields(client, store, earlier.sid)  # nothing applied: left as it was
    again = store.get_session(fresh.sid)
    assert again is not None and again.revoked_reason == "everywhere"


def test_with_rotation_off_the_legacy_use_count_carries_over(
    client: redis.Redis | RedisCluster, store: RedisStore
) -> None:
    legacy = _legacy_hash(client, store, uses=2)
    manager = _manager(store, legacy.last_rotation + MINUTE, rotation=False, max_uses=3)
    assert manager.refresh(legacy.tokens[-1], device=DEVICE).refresh_token == legacy.tokens[-1]
    session = store.get_session(legacy.sid)
    assert session is not None and session.use_count == 3
    assert _fields(client, store, legacy.sid) <= CURRENT_LAYOUT
    with pytest.raises(ExpiredTokenError):
        manager.refresh(legacy.tokens[-1], device=DEVICE)


def test_threads_racing_on_a_legacy_token_compact_it_once_and_share_one_successor(
    client: redis.Redis | RedisCluster, store: RedisStore
) -> None:
    for _ in range(5):
        legacy = _legacy_hash(client, store)
        manager = _manager(store, legacy.last_rotation + timedelta(hours=1))
        barrier = threading.Barrier(8, timeout=30)

        def refresh(
            _: int,
            barrier: threading.Barrier = barrier,
            manager: TokenManager = manager,
            token: str = legacy.tokens[-1],
        ) -> str:
            barrier.wait()
            return manager.refresh(token, device=DEVICE).refresh_token

        with ThreadPoolExecutor(8) as pool:
            tokens = set(pool.map(refresh, range(8)))
        assert len(tokens) == 1
        session = store.get_session(legacy.sid)
        assert session is not None and session.generation == ROTATIONS + 1
        assert session.revoked_at is None
        assert _fields(client, store, legacy.sid) <= CURRENT_LAYOUT


def test_a_revocation_written_by_the_previous_release_during_a_rolling_upgrade_reads(
    client: redis.Redis | RedisCluster, store: RedisStore
) -> None:
    """The previous revoke script wrote ``v`` as ``<at>,<reason>``, also into a new hash."""
    pair = _manager(store, T0).issue("alice")
    client.hset(store.keys.session(pair.sid), "v", f"{micros(T0)},logout")
    session = store.get_session(pair.sid)
    assert session is not None and session.revoked_at == T0 and session.revoked_reason == "logout"
