"""Where a refresh and a verification spend their time: each piece timed alone.

``python -m benchmarks.breakdown`` times, on the memory store and HS256,
every step refreshkit's ``TokenManager.refresh`` and ``verify_access`` take
and every step of the hand-written baseline, as the best of several
``timeit`` repeats (µs per call). The pieces do not add up exactly to the
whole (the whole also pays calls and attribute lookups between them), but
they show which steps cost what, so a proposed change can be checked piece
by piece. Not part of the timed table.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
import timeit
from collections.abc import Callable
from datetime import UTC, datetime

from refreshkit import KeySet, Settings, SigningKey, TokenManager, _jwt, _policy, _tokens
from refreshkit.backends import base
from refreshkit.backends.memory import MemoryStore
from refreshkit.models import Check, CheckOp

from .baselines import tokens as hand
from .baselines.memory_store import MemoryTokens
from .baselines.service import Auth


def _timer(number: int) -> Callable[[str, Callable[[], object]], None]:
    def piece(label: str, run: Callable[[], object]) -> None:
        run()
        best = min(timeit.repeat(run, number=number, repeat=5)) / number
        print(f"  {label:58} {best * 1e6:7.2f} µs")

    return piece


def refresh_pieces(piece: Callable[[str, Callable[[], object]], None]) -> None:
    key = SigningKey.generate("HS256")
    settings = Settings()
    manager = TokenManager(settings, keys=KeySet(key), store=MemoryStore())
    chain = [manager.issue("alice").refresh_token]

    def refresh() -> None:
        chain[0] = manager.refresh(chain[0]).refresh_token

    now = datetime.now(UTC)
    print("refreshkit TokenManager.refresh (memory, HS256)")
    piece("TokenManager.refresh, whole", refresh)
    piece(
        "_policy.refresh_attempt",
        lambda: _policy.refresh_attempt(chain[0], now, settings, device=None),
    )
    presented = _tokens.read_refresh_token(chain[0])
    piece("  _tokens.read_refresh_token", lambda: _tokens.read_refresh_token(chain[0]))
    piece(
        "  _tokens.new_refresh_token",
        lambda: _tokens.new_refresh_token(presented.sid, presented.chain_key),
    )
    successor = _tokens.new_refresh_token(presented.sid, presented.chain_key)[0]
    piece("  _tokens.seal_successor", lambda: _tokens.seal_successor(presented.token, successor))
    piece("    of which _tokens._seal_key (hmac.new)", lambda: _tokens._seal_key(presented.token))
    piece("  PresentedToken.chain_hash (recomputed per rotation)", lambda: presented.chain_hash)
    piece(
        "  one models.Check (frozen dataclass; six per refresh)",
        lambda: Check("f", CheckOp.EQUALS, 1),
    )
    attempt = _policy.refresh_attempt(chain[0], now, settings, device=None)
    session = manager.store.get_session(presented.sid)
    assert session is not None
    piece(
        "MemoryStore.compare_and_set (refused: no write)",
        lambda: manager.store.compare_and_set(attempt.update),
    )
    piece("  base.validate_update", lambda: base.validate_update(attempt.update))
    piece("  base.apply_update (applied)", lambda: base.apply_update(session, attempt.update))
    changes = {**attempt.update.changes, "generation": 1}
    piece(
        "    dataclasses.replace(session, 11 fields)",
        lambda: dataclasses.replace(session, **changes),
    )
    piece(
        "manager._pair (access token + TokenPair)", lambda: manager._pair(session, successor, now)
    )
    payload = _policy.access_payload(session, "jti", now, now, settings)
    piece("  _jwt.encode", lambda: _jwt.encode(payload, key.private, key.algorithm, key.kid))
    piece(
        "  _policy.access_payload", lambda: _policy.access_payload(session, "j", now, now, settings)
    )
    piece("manager.clock.now", manager.clock.now)

    print("baseline Auth.refresh (dict, HS256)")
    access = hand.AccessTokens(key.private, key.public, key.algorithm, key.kid)
    auth = Auth(access, MemoryTokens())
    hand_chain = [auth.issue("alice")[1]]

    def hand_refresh() -> None:
        hand_chain[0] = auth.refresh(hand_chain[0])[1]

    piece("Auth.refresh, whole", hand_refresh)
    parsed = hand.parse(hand_chain[0])
    piece("  parse", lambda: hand.parse(hand_chain[0]))
    piece("  mint", lambda: hand.mint(parsed.sid, parsed.chain_key))
    piece("  seal (hmac.digest + AESGCM)", lambda: hand.seal(parsed, successor))
    seconds = int(time.time())
    piece(
        "  sign (algorithm object, prepared key)",
        lambda: access.sign("alice", parsed.sid, seconds, seconds + 900),
    )
    piece(
        "  jwt.encode, for comparison",
        lambda: access.pyjwt_sign("alice", parsed.sid, seconds, seconds + 900),
    )


def verify_pieces(piece: Callable[[str, Callable[[], object]], None]) -> None:
    key = SigningKey.generate("HS256")
    settings = Settings(verify_cache_size=0)
    manager = TokenManager(settings, keys=KeySet(key), store=MemoryStore())
    token = manager.issue("alice").access_token
    access = hand.AccessTokens(key.private, key.public, key.algorithm, key.kid)
    print("refreshkit verify_access, cache off (HS256)")
    piece("TokenManager.verify_access, whole", lambda: manager.verify_access(token))
    keys = manager.keys

    def decode() -> object:
        return _jwt.verify(token, keys.get, issuer=settings.issuer, audience=settings.audience)

    piece("  _jwt.verify", decode)
    _header, body, signature = token.split(".")
    piece("    _jwt._b64decode (signature)", lambda: _jwt._b64decode(signature))
    piece("    _jwt._json_segment (payload)", lambda: _jwt._json_segment(body))
    payload = decode()
    assert isinstance(payload, dict)
    piece(
        "  _policy.access_claims_from_payload", lambda: _policy.access_claims_from_payload(payload)
    )
    claims = _policy.access_claims_from_payload(payload)
    now = datetime.now(UTC)
    piece(
        "  _policy.check_access_times",
        lambda: _policy.check_access_times(claims, now, settings.leeway),
    )
    print("baselines")
    piece("floor (algorithm object, manual base64/JSON)", lambda: access.verify_floor(token))
    piece("jwt.get_unverified_header + jwt.decode", lambda: access.verify(token))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.breakdown", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--number", type=int, default=20000, help="calls per repeat")
    args = parser.parse_args(argv)
    piece = _timer(args.number)
    refresh_pieces(piece)
    verify_pieces(piece)


if __name__ == "__main__":
    main()
