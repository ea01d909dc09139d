"""verify_access rows: refreshkit beside the best of two PyJWT baselines; flask-jwt-extended.

A never-seen token is compared with the faster, round by round, of PyJWT as
its docs show (``get_unverified_header`` + ``jwt.decode``) and a hand-rolled
floor on PyJWT's algorithm objects (manual base64/JSON and claim checks).
refreshkit's verification cache (a repeated token) is a feature of its own:
it is shown as its time per call, not as a ratio against a full verification.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

from refreshkit import KeySet, Settings, SigningKey, TokenManager
from refreshkit.backends.memory import MemoryStore

from ._harness import Config, Row, compare, compare_best, measure
from .baselines.tokens import ACCESS_TTL, AccessTokens

ALGORITHMS = ("HS256", "ES256", "EdDSA")
#: More distinct tokens than the verification cache holds, cycled in order, so
#: the FIFO cache never hits: every call pays the full verification.
FRESH_POOL = 2048


def _manager(algorithm: str) -> TokenManager:
    keys = KeySet(SigningKey.generate(algorithm))
    assert Settings().verify_cache_size < FRESH_POOL
    return TokenManager(Settings(), keys=keys, store=MemoryStore())


def _baseline_for(manager: TokenManager) -> AccessTokens:
    key = manager.keys.active
    return AccessTokens(key.private, key.public, key.algorithm, key.kid)


def _cycling(tokens: list[str], verify: Callable[[str], Any]) -> Callable[[int], None]:
    pool: Iterator[str] = itertools.cycle(tokens)

    def run(ops: int) -> None:
        for token in itertools.islice(pool, ops):
            verify(token)

    return run


def _repeating(token: str, verify: Callable[[str], Any]) -> Callable[[int], None]:
    def run(ops: int) -> None:
        for _ in range(ops):
            verify(token)

    return run


def rows(config: Config) -> Iterator[Row]:
    """Fresh and repeated tokens for each algorithm, then the peer rows."""
    for algorithm in ALGORITHMS:
        manager = _manager(algorithm)
        baseline = _baseline_for(manager)
        pool = FRESH_POOL if not config.quick else 1100
        tokens = [manager.issue(f"user{n}").access_token for n in range(pool)]
        yield compare_best(
            "verify_access",
            f"{algorithm} never-seen token",
            _cycling(tokens, manager.verify_access),
            {
                "jwt.decode": _cycling(tokens, baseline.verify),
                "floor": _cycling(tokens, baseline.verify_floor),
            },
            config,
            target=1.00,
        )
        yield measure(
            "verify cache",
            f"{algorithm} repeated token (cache hit)",
            _repeating(tokens[0], manager.verify_access),
            config,
            "refreshkit's verification cache; no baseline has one",
        )
    yield from _peer_rows(config)


def _peer_rows(config: Config) -> Iterator[Row]:
    """flask-jwt-extended's create_access_token / decode_token beside the same baseline."""
    try:
        import flask
        import flask_jwt_extended as fje
    except ImportError:
        yield Row(
            "peer", "flask-jwt-extended", note="not installed (pip install flask-jwt-extended)"
        )
        return
    secret = SigningKey.generate("HS256")
    baseline = AccessTokens(secret.private, secret.public, "HS256", secret.kid)
    app = flask.Flask("bench")
    app.config.update(
        JWT_SECRET_KEY=secret.private,
        JWT_ALGORITHM="HS256",
        JWT_ENCODE_ISSUER="refreshkit",
        JWT_DECODE_ISSUER="refreshkit",
        JWT_ENCODE_AUDIENCE="refreshkit",
        JWT_DECODE_AUDIENCE="refreshkit",
    )
    fje.JWTManager(app)
    with app.app_context():
        token = fje.create_access_token("alice")
        yield compare(
            "peer",
            "flask-jwt-extended create_access_token",
            _repeating("alice", fje.create_access_token),
            _repeating("alice", lambda subject: baseline.pyjwt_sign(subject, "sid", *_now())),
            config,
        )
        theirs = baseline.pyjwt_sign("alice", "sid", *_now())
        row = compare(
            "peer",
            "flask-jwt-extended decode_token",
            _repeating(token, fje.decode_token),
            _repeating(theirs, baseline.verify),
            config,
        )
        row.note = "HS256, same checks; baseline: jwt.encode / jwt.decode"
        yield row


def _now() -> tuple[int, int]:
    now = int(time.time())
    return now, now + ACCESS_TTL
