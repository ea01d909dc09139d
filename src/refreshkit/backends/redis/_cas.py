"""Both sides of ``scripts/cas.lua``: a :class:`SessionUpdate` as its program, and its reply.

Shared by the async store and its generated sync twin. The script is
generic: the program names stored fields and values, never a rule. What
keeps the common refresh cheap:

- Two arguments: a program of three bytes per entry followed by the byte
  length of each value, and the values joined into one string; each
  distinct value is sent once (a refresh checks the presented token and
  moves it to ``previous``; ``now`` is checked twice and written twice).
- The reply is one string, a flag and a JSON object, decoded by the C JSON
  parser in one call; it leaves out the fields the update set, which the
  caller already holds as Python values and uses as given.
- A guard ``r`` absent in every program: a hash in the previous layout is
  never changed by a program written for this one (see
  :func:`compaction_arguments`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from ...models import ChangeValue, CheckOp, Session, SessionUpdate
from ._codec import (
    CLAIMS,
    FIELDS,
    LEGACY_MARKER,
    SEALED_FIELDS,
    Kind,
    Reply,
    encode_session,
    sealed_parts,
)

__all__ = ["Program", "cas_arguments", "compaction_arguments", "parse_reply"]

#: The most distinct values one program can refer to (references are the bytes '0' to '~').
MAX_VALUES = 79
_FIRST_REFERENCE = 48
_NO_VALUE = "_"
#: The guard in every program: the hash is not in the previous layout.
_NOT_LEGACY = "-" + LEGACY_MARKER + _NO_VALUE
#: What guards a compaction: fields that every writer of the previous layout changes.
_COMPACTION_GUARDS = (LEGACY_MARKER, "v", "g")
_decode_json = json.JSONDecoder().raw_decode


class Program:
    """A program for ``cas.lua`` being built: its entries and the values they refer to."""

    __slots__ = ("entries", "references", "values")

    def __init__(self, *, guarded: bool = True) -> None:
        #: ``guarded``: the program starts with the check that the hash is not legacy.
        self.entries: list[str] = [_NOT_LEGACY] if guarded else []
        self.values: list[str] = []
        self.references: dict[str, str] = {}

    def add(self, op: str, field: str, value: str | None = None) -> None:
        """One entry; ``value`` is sent once however many entries use it."""
        if value is None:
            self.entries.append(op + field + _NO_VALUE)
            return
        reference = self.references.get(value)
        if reference is None:
            if len(self.values) >= MAX_VALUES:
                raise ValueError("a Redis session update refers to too many distinct values")
            reference = chr(_FIRST_REFERENCE + len(self.values))
            self.references[value] = reference
            self.values.append(value)
        self.entries.append(op + field + reference)

    def arguments(self) -> list[str]:
        """ARGV: the program, then the values (see :func:`_pack`)."""
        return _pack(self.entries, self.values)


def _pack(entries: list[str], values: list[str]) -> list[str]:
    """ARGV of ``cas.lua``: the entries, a space and each value's length; then the values, joined.

    Two arguments however many values: redis-py packs each argument of a
    command separately, which costs more than measuring and joining them.
    """
    lengths = ",".join(
        str(len(value) if value.isascii() else len(value.encode("utf-8"))) for value in values
    )
    return ["".join(entries) + " " + lengths, "".join(values)]


#: Every attribute an update may name: its field, its kind (the sealed successor: None).
_ENCODING: dict[str, tuple[str, Kind | None]] = {
    **{name: (letter, kind) for name, (letter, kind) in FIELDS.items()},
    "sealed_successor": ("", None),
    "claims": ("m", CLAIMS),
}


def cas_arguments(update: SessionUpdate) -> tuple[list[str], dict[str, ChangeValue]] | None:
    """``(ARGV, known)`` for ``update``, or None if one of its checks can never hold.

    ``known`` is what the session holds after the update for every attribute
    it sets, as the caller reads it back (see :func:`parse_reply`). Raises
    ValueError for an ordering check on a field that is not a time or an int,
    TypeError for a value of the wrong kind where it cannot be compared or
    stored. Written flat, without helpers: it runs on every refresh.
    """
    sid = update.sid
    entries = [_NOT_LEGACY]
    values: list[str] = []
    references: dict[str, str] = {}
    for check in update.checks:
        letter, kind = _ENCODING[check.field]
        op, value = check.op, check.value
        if op is CheckOp.EQUALS or op is CheckOp.UNSET_OR_EQUALS:
            if value is None or not isinstance(value, str if kind is None else kind.type):
                if value is not None and op is CheckOp.EQUALS:
                    return None  # a value of another kind never equals the stored one
                # equal to None, or unset or equal to something it cannot hold: unset
                for unset in letter or SEALED_FIELDS:
                    entries.append("-" + unset + _NO_VALUE)
                continue
            symbol = "=" if op is CheckOp.EQUALS else "?"
            if kind is None:
                parts = sealed_parts(str(value))
                pairs: Iterable[tuple[str, str]] = zip(SEALED_FIELDS, parts, strict=True)
            else:
                pairs = ((letter, kind.encode(sid, value)),)
            for field, stored in pairs:
                reference = references.get(stored)
                if reference is None:
                    reference = references[stored] = chr(_FIRST_REFERENCE + len(values))
                    values.append(stored)
                entries.append(symbol + field + reference)
            continue
        if kind is None or not kind.ordered:
            raise ValueError(f"the Redis store orders times and ints only, not {check.field}")
        if value is None:
            return None  # nothing is after or below None
        if not isinstance(value, kind.type):
            raise TypeError(f"{check.field} is not comparable with {type(value).__name__}")
        stored = kind.encode(sid, value)
        reference = references.get(stored)
        if reference is None:
            reference = references[stored] = chr(_FIRST_REFERENCE + len(values))
            values.append(stored)
        entries.append((">" if op is CheckOp.AFTER else "<") + letter + reference)
    known: dict[str, ChangeValue] = {}
    increments = update.increments
    for name, change in update.changes.items():
        letter, kind = _ENCODING[name]
        value = change  # type: ignore[assignment]  # claims: a mapping, encoded by CLAIMS
        if increments and name in increments:
            value = int(value) + 1  # type: ignore[arg-type]
        elif value.__class__ is datetime and value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        known[name] = value
        if value is None:
            for unset in letter or SEALED_FIELDS:
                entries.append("d" + unset + _NO_VALUE)
            continue
        if not isinstance(value, str if kind is None else kind.type):
            raise TypeError(f"{name} cannot hold a {type(value).__name__}")
        if kind is None:
            pairs = zip(SEALED_FIELDS, sealed_parts(value), strict=True)  # type: ignore[arg-type]
        else:
            pairs = ((letter, kind.encode(sid, value)),)
        for field, stored in pairs:
            reference = references.get(stored)
            if reference is None:
                reference = references[stored] = chr(_FIRST_REFERENCE + len(values))
                values.append(stored)
            entries.append("s" + field + reference)
    for name in increments:
        if name not in update.changes:
            entries.append("i" + _ENCODING[name][0] + _NO_VALUE)
    if len(values) > MAX_VALUES:
        raise ValueError("a Redis session update refers to too many distinct values")
    return _pack(entries, values), known


def compaction_arguments(found: Mapping[str, str], after: Session) -> list[str]:
    """ARGV that rewrites a hash of the previous layout as ``after``, in this one.

    Guarded by the fields every writer of that layout changes (the current
    record's metadata ``r``, the revocation ``v``, the generation ``g``) as
    ``found``, so it applies only to the very state ``after`` was computed
    from; it sets every field of ``after`` and deletes every other field,
    the retired records, ring slots and counters included.
    """
    program = Program(guarded=False)  # this one is for the previous layout
    for letter in _COMPACTION_GUARDS:
        value = found.get(letter)
        program.add("-" if value is None else "=", letter, value)
    fields = encode_session(after)
    for letter, value in fields.items():
        program.add("s", letter, value)
    gone = [name for name in found if name not in fields]
    if gone:
        program.add("D", _NO_VALUE, "\n".join(gone))
    return program.arguments()


def parse_reply(reply: Reply) -> tuple[bool, dict[str, Any] | None]:
    """``(applied, fields)`` from the script's reply; fields None when there is no session."""
    answer = reply.decode("utf-8") if isinstance(reply, bytes) else reply
    if answer is None or len(answer) == 1:
        return False, None
    fields: dict[str, Any] = _decode_json(answer, 1)[0]
    return answer[0] == "1", fields
