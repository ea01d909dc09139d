"""A session keeps at most ``history`` retired refresh records: bounded memory, bounded detection.

A replay within the kept history is detected reuse (the session is revoked);
a replay of an older token is merely unknown (refused, nothing revoked).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from refreshkit import Settings, TokenManager
from refreshkit._async.conformance import T0, _request, _session
from refreshkit.backends import create_store
from refreshkit.backends.redis import RedisStore
from refreshkit.clock import FrozenClock
from refreshkit.errors import ConfigurationError, InvalidTokenError, TokenReuseError
from refreshkit.models import ConsumeOutcome

pytestmark = [pytest.mark.redis]

#: The session's own fields (its sealed successor in three), its current record ('k', 'r')
#: and the retired count ('h').
FIXED_FIELDS = 17
#: Each retired record: its secret, its metadata, and its ring slot.
FIELDS_PER_RETIRED_RECORD = 3
EVERY_15_MINUTES = timedelta(minutes=15)


@pytest.fixture
def manager_with_history_4(
    standalone_client: redis.Redis, key_prefix: str
) -> Iterator[tuple[TokenManager, RedisStore]]:
    store = RedisStore(standalone_client, prefix=key_prefix, history=4)
    manager = TokenManager(Settings(secret_key="s" * 32), store=store, clock=FrozenClock(T0))
    yield manager, store
    manager.close()


def _refresh_times(manager: TokenManager, token: str, times: int) -> list[str]:
    """``[token, and each refresh token issued after it]``, refreshed every 15 minutes."""
    clock = manager.clock
    assert isinstance(clock, FrozenClock)
    tokens = [token]
    for _ in range(times):
        clock.advance(EVERY_15_MINUTES)
        tokens.append(manager.refresh(tokens[-1]).refresh_token)
    return tokens


@pytest.mark.parametrize("history", [0, -1, True, 1.5, "16"])
def test_history_must_be_an_int_of_at_least_one(
    standalone_client: redis.Redis, history: object
) -> None:
    with pytest.raises(ConfigurationError, match="history"):
        RedisStore(standalone_client, history=history)  # type: ignore[arg-type]


def test_history_is_a_store_option_of_the_url_factory(standalone_url: str) -> None:
    with pytest.raises(ConfigurationError, match="history"):
        create_store(standalone_url, history=0)
    store = create_store(standalone_url, history=3)
    assert isinstance(store, RedisStore) and store.history == 3
    store.close()


def test_a_replay_within_history_revokes_the_session_as_reuse(
    manager_with_history_4: tuple[TokenManager, RedisStore],
) -> None:
    manager, store = manager_with_history_4
    pair = manager.issue("alice")
    tokens = _refresh_times(manager, pair.refresh_token, 4)  # retires exactly 4 records
    with pytest.raises(TokenReuseError):
        manager.refresh(tokens[0])  # the oldest one still kept
    session = store.get_session(pair.sid)
    assert session is not None and session.revoked_reason == "reuse"


def test_a_replay_beyond_history_is_refused_as_unknown_without_revoking(
    manager_with_history_4: tuple[TokenManager, RedisStore],
) -> None:
    manager, store = manager_with_history_4
    pair = manager.issue("alice")
    tokens = _refresh_times(manager, pair.refresh_token, 5)  # the first retired one is dropped
    with pytest.raises(InvalidTokenError) as refused:
        manager.refresh(tokens[0])
    assert type(refused.value) is InvalidTokenError  # not TokenReuseError
    session = store.get_session(pair.sid)
    assert session is not None and session.revoked_at is None
    # The legitimate client is unaffected, and a replay inside the history is still caught.
    _refresh_times(manager, tokens[-1], 1)
    with pytest.raises(TokenReuseError):
        manager.refresh(tokens[-2])  # its successor was used: no retry, reuse


def test_a_session_keeps_exactly_history_retired_records_however_often_it_rotates(
    standalone_client: redis.Redis, key_prefix: str
) -> None:
    store = RedisStore(standalone_client, prefix=key_prefix, history=5)
    session, record, _ = _session("alice")
    store.create_session(session, record)
    records = [record]
    for step in range(1, 41):
        result = store.consume(_request(records[-1], now=T0 + step * EVERY_15_MINUTES))
        assert result.outcome is ConsumeOutcome.ROTATED and result.issued is not None
        records.append(result.issued)
        kept = min(step, 5)
        assert standalone_client.hlen(store.keys.session(session.sid)) == (
            FIXED_FIELDS + FIELDS_PER_RETIRED_RECORD * kept
        )
    assert [store.find(r.token_id) is not None for r in records] == [False] * 35 + [True] * 6


def test_a_history_of_one_keeps_the_predecessor_every_retry_needs(
    standalone_client: redis.Redis, key_prefix: str
) -> None:
    """The predecessor is the newest retired record: a history of one always keeps it."""
    store = RedisStore(standalone_client, prefix=key_prefix, history=1)
    session, parent, _ = _session("alice")
    store.create_session(session, parent)
    key = store.keys.session(session.sid)
    for step in range(3):
        rotated = store.consume(_request(parent, now=T0 + step * EVERY_15_MINUTES))
        assert rotated.outcome is ConsumeOutcome.ROTATED and rotated.issued is not None
        for second in range(1, 4):
            retry = dataclasses.replace(
                _request(parent, now=T0 + step * EVERY_15_MINUTES + timedelta(seconds=second)),
                retry_since=T0 + step * EVERY_15_MINUTES - timedelta(seconds=1),
            )
            assert store.consume(retry).outcome is ConsumeOutcome.REPLAYED
            assert standalone_client.hlen(key) == FIXED_FIELDS + FIELDS_PER_RETIRED_RECORD
        assert store.find(parent.token_id) is not None
        parent = rotated.issued
