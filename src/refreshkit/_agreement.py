"""The agreement test: random histories on a store give what the memory model gives.

Hypothesis draws a history of logins, refreshes (of the newest token, the
previous one, the first one, a forgery; from the session's device or
another), clock moves, logouts and "log out everywhere", under one of three
policies (the default retry window, strict rotation, rotation off with a use
limit). The history runs twice, on the store under test and on a fresh memory
store, each behind its own manager and frozen clock. After every step both
must have answered alike (the same token, by the order it was first seen, or
the same error) and hold the same state for every session. Tokens are random,
so they are compared by that order, never by value.

Mixed into the conformance suites; drives a sync or an async store alike.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import _tokens
from ._async.manager import AsyncTokenManager
from ._sync.manager import TokenManager
from .backends.base import AsyncTokenStore, TokenStore
from .backends.memory import AsyncMemoryStore, MemoryStore
from .clock import FrozenClock
from .config import Settings
from .errors import TokenError
from .keys import KeySet
from .models import Session

__all__ = ["Agreement", "AsyncAgreement", "POLICIES"]

try:  # hypothesis is in refreshkit's testing extra
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    HAVE_HYPOTHESIS = True
except ImportError:  # pragma: no cover - reported when the test runs
    HAVE_HYPOTHESIS = False

START = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
#: The policies a history runs under.
POLICIES: dict[str, dict[str, Any]] = {
    "retry_window": {},
    "strict": {"retry_window": timedelta(0)},
    "rotation_off": {"rotation": False, "max_uses": 3},
}
_STEPS = (1, 15, 29, 31, 3600, 2 * 86400)
_WHICH = ("current", "previous", "first", "forged")
_DEVICES = (None, "phone", "laptop")


def _histories() -> Any:
    session = st.integers(0, 3)
    login = st.tuples(st.just("login"), st.sampled_from(_DEVICES))
    steps = {
        "refresh": st.tuples(
            st.just("refresh"), session, st.sampled_from(_WHICH), st.sampled_from(_DEVICES)
        ),
        "advance": st.tuples(st.just("advance"), st.sampled_from(_STEPS)),
        "login": login,
        "revoke": st.tuples(st.just("revoke"), session),
        "revoke_subject": st.tuples(st.just("revoke_subject")),
    }
    # Mostly refreshes, so that histories reach deep chains and use limits.
    kinds = ["refresh"] * 6 + ["advance"] * 2 + ["login", "revoke", "revoke_subject"]
    step = st.sampled_from(kinds).flatmap(steps.__getitem__)
    return st.tuples(
        st.sampled_from(sorted(POLICIES)),
        st.tuples(login, st.lists(step, min_size=4, max_size=40)).map(lambda p: [p[0], *p[1]]),
    )


@dataclass
class _World:
    """One side of the comparison: a manager, and every token it handed out, by order seen."""

    manager: Any
    clock: FrozenClock
    call: Callable[[Any], Any]
    subject: str
    sids: list[str] = field(default_factory=list)
    tokens: dict[str, list[str]] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)

    def label(self, token_or_id: str | None) -> int | None:
        if token_or_id is None:
            return None
        key = _tokens.parse_refresh_token(token_or_id)[0] if "." in token_or_id else token_or_id
        return self.labels.setdefault(key, len(self.labels))

    def step(self, action: tuple[Any, ...]) -> object:
        kind = action[0]
        if kind == "advance":
            self.clock.advance(timedelta(seconds=action[1]))
            return None
        try:
            if kind == "login":
                pair = self.call(self.manager.issue(self.subject, device=action[1]))
                self.sids.append(pair.sid)
                self.tokens[pair.sid] = [pair.refresh_token]
                return ("ok", self.label(pair.refresh_token))
            if kind == "revoke_subject":
                return ("ok", self.call(self.manager.revoke_subject(self.subject)))
            if not self.sids:
                return None
            sid = self.sids[action[1] % len(self.sids)]
            chain = self.tokens[sid]
            if kind == "revoke":
                return ("ok", self.call(self.manager.revoke(chain[-1])))
            token = self._pick(sid, chain, action[2])
            pair = self.call(self.manager.refresh(token, device=action[3]))
            if pair.refresh_token not in chain:
                chain.append(pair.refresh_token)
            return ("ok", self.label(pair.refresh_token))
        except TokenError as error:
            return ("error", type(error).__name__)

    @staticmethod
    def _pick(sid: str, chain: list[str], which: str) -> str:
        if which == "current":
            return chain[-1]
        if which == "previous":
            return chain[-2] if len(chain) > 1 else chain[-1]
        if which == "first":
            return chain[0]
        return f"rk_{sid}{secrets.token_hex(8)}.{secrets.token_urlsafe(32)}"

    def state(self, store: Any) -> list[tuple[object, ...]]:
        return [self._summary(self.call(store.get_session(sid))) for sid in self.sids]

    def _summary(self, session: Session | None) -> tuple[object, ...]:
        if session is None:
            return ("gone",)
        return (
            session.generation,
            session.use_count,
            session.revoked_at,
            session.revoked_reason,
            session.idle_expires_at - START,
            session.last_used_at - START,
            None if session.rotated_at is None else session.rotated_at - START,
            self.label(session.current_token_id),
            self.label(session.previous_token_id),
        )


def _agree(
    store: Any, model: Any, make_manager: Callable[..., Any], call: Callable[[Any], Any]
) -> Callable[[tuple[str, list[tuple[Any, ...]]]], None]:
    def run(history: tuple[str, list[tuple[Any, ...]]]) -> None:
        policy, steps = history
        subject = "agree-" + secrets.token_hex(8)
        worlds = []
        for backend in (store, model):
            clock = FrozenClock(START)
            manager = make_manager(
                Settings(**POLICIES[policy]), keys=KeySet.generate(), store=backend, clock=clock
            )
            worlds.append(_World(manager, clock, call, subject))
        tested, reference = worlds
        for number, action in enumerate(steps):
            got, want = tested.step(action), reference.step(action)
            assert got == want, f"step {number} {action}: store {got}, memory model {want}"
            assert tested.state(store) == reference.state(model), f"state after step {number}"

    return run


def _require_hypothesis() -> None:
    if not HAVE_HYPOTHESIS:
        import pytest  # only a test run reaches here, and tests have pytest

        pytest.fail("the agreement test needs hypothesis: pip install 'refreshkit[testing]'")


class Agreement:
    """The agreement test for a sync store (mixed into :class:`StoreConformance`)."""

    #: How many random histories each run draws; raise it for a soak.
    agreement_examples = 25

    def test_random_histories_agree_with_the_memory_model(self, store: TokenStore) -> None:
        _require_hypothesis()
        model = MemoryStore()
        run = _agree(store, model, TokenManager, lambda value: value)
        _hypothesis(run, self.agreement_examples)()


class AsyncAgreement:
    """The agreement test for an async store (mixed into :class:`AsyncStoreConformance`)."""

    #: How many random histories each run draws; raise it for a soak.
    agreement_examples = 25

    def test_random_histories_agree_with_the_memory_model(self, store: AsyncTokenStore) -> None:
        _require_hypothesis()
        model = AsyncMemoryStore()
        with asyncio.Runner() as runner:

            def call(value: Any) -> Any:
                if isinstance(value, Coroutine):
                    return runner.run(value)
                return value

            try:
                run = _agree(store, model, AsyncTokenManager, call)
                _hypothesis(run, self.agreement_examples)()
            finally:
                runner.run(store.aclose())


def _hypothesis(run: Callable[[Any], None], examples: int) -> Callable[[], None]:
    configured = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    drawing: Any = given(_histories())
    test: Callable[[], None] = configured(drawing(run))
    return test
