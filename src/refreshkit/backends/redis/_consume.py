"""The refresh hot path, both sides of ``scripts/consume.lua``: its arguments and its reply.

Shared by the async store and its generated sync twin. What makes it cheap:

- Eight arguments at most (nine with a device), like a hand-written rotate
  plus the sealed successor in its stored parts: every number (the history bound too) travels in
  one comma-separated argument, which redis-py packs once instead of four times.
- The reply is one JSON string (``null`` for an absent field), decoded by the
  C JSON parser in one call.
- A matching secret comes back as ``true``: the caller already holds it, so
  neither side encodes or decodes it again.
"""

from __future__ import annotations

import json

from ... import _policy, _tokens
from ...errors import StoreError
from ...models import ConsumeRequest, ConsumeResult
from ._codec import (
    SESSION_FIELDS,
    decode_secret,
    encode_optional,
    encode_secret,
    micros,
    record_from_text,
    sealed_parts,
    session_from_text,
)

__all__ = ["consume_arguments", "consume_result"]

#: Where the session id ends in a token id (see :func:`refreshkit._tokens.session_id_of`).
_SID_END = len(_tokens.session_id_of("x" * 64))
#: The C JSON decoder, bound once: json.loads adds encoding detection for bytes.
_decode_json = json.JSONDecoder().decode
#: Where the record starts in the reply: after the outcome and the session's fields.
_SECRET = 1 + len(SESSION_FIELDS)


def consume_arguments(request: ConsumeRequest, history: int) -> list[str]:
    """The ARGV of ``consume.lua`` for ``request``, keeping ``history`` retired records.

    Raises ValueError if the successor belongs to another session (its key
    would be another slot on a cluster, and another session's token anyway).
    """
    token_id = request.token_id
    sid = token_id[:_SID_END]
    max_uses = "" if request.max_uses is None else str(request.max_uses)
    retry_since = "" if request.retry_since is None else str(micros(request.retry_since))
    numbers = (
        f"{micros(request.now)},{micros(request.idle_expires_at)},"
        f"{max_uses},{retry_since},{history}"
    )
    selector, secret = token_id[_SID_END:], encode_secret(request.secret_hash)
    arguments = [numbers, selector, secret, "", "", "", "", ""]
    successor = request.successor
    if successor is not None:
        if successor.token_id[:_SID_END] != sid:
            raise ValueError("a successor token must belong to the consumed token's session")
        arguments[3] = successor.token_id[_SID_END:]
        arguments[4] = encode_secret(successor.secret_hash)
        arguments[5:8] = sealed_parts(request.sealed_successor)
    if request.device_hash is not None:
        arguments.append(encode_optional(request.device_hash))
    return arguments


def consume_result(request: ConsumeRequest, reply: bytes | str) -> ConsumeResult:
    """The result of ``request`` from the script's reply: the policy applied to what it found.

    :func:`refreshkit._policy.transition` runs again here on the state the
    script found, so the result is the policy's own; raises
    :class:`~refreshkit.errors.StoreError` if the script decided otherwise.
    """
    found = _decode_json(reply if isinstance(reply, str) else reply.decode("utf-8"))
    outcome, secret, meta = found[0], found[_SECRET], found[_SECRET + 1]
    token_id = request.token_id
    session = session_from_text(token_id[:_SID_END], found[1:_SECRET])
    record = None
    if secret is not None and meta is not None:
        secret_hash = request.secret_hash if secret is True else decode_secret(secret)
        record = record_from_text(token_id, secret_hash, meta)
    result = _policy.transition(record, session, request)
    if result.outcome.name != outcome:
        raise StoreError(f"the Redis consume script reported {outcome}, not {result.outcome}")
    return result
