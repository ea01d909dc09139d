"""Both sides of ``scripts/cas.lua``: a :class:`SessionUpdate` as its program, and its reply.

Shared by the async store and its generated sync twin. The script is
generic: the program names stored fields and values, never a rule. What
keeps the common refresh cheap:

- One program string of three bytes per entry and each distinct value sent
  once (a refresh checks the presented token and moves it to ``previous``;
  ``now`` is checked twice and written twice): the key and a dozen arguments.
- The reply is one string, a flag and a JSON object, decoded by the C JSON
  parser in one call; it leaves out the fields the update set, which the
  caller already holds as Python values and uses as given.
- A guard ``r`` absent in every program: a hash in the previous layout is
  never changed by a program written for this one (see
  :func:`compaction_arguments`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ...models import CheckOp, FieldValue, Session, SessionUpdate
from ._codec import (
    FIELDS,
    LEGACY_MARKER,
    ORDERED_ATTRIBUTES,
    SEALED_FIELDS,
    Reply,
    encode_session,
    encode_value,
    sealed_parts,
)

__all__ = ["Program", "cas_arguments", "compaction_arguments", "parse_reply"]

#: The most distinct values one program can refer to (references are the bytes '0' to '~').
MAX_VALUES = 79
_FIRST_REFERENCE = 48
_NO_VALUE = "_"
_ORDER_OPS = {CheckOp.AFTER: ">", CheckOp.BELOW: "<"}
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
        """ARGV: the program, then the values."""
        return ["".join(self.entries), *self.values]


def _stored(sid: str, name: str, value: FieldValue) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The fields attribute ``name`` lives in and ``value``'s stored form in each."""
    if name == "sealed_successor":
        if not isinstance(value, str):
            raise TypeError(f"sealed_successor holds a str, not {type(value).__name__}")
        return SEALED_FIELDS, sealed_parts(value)
    return (FIELDS[name][0],), (encode_value(sid, name, value),)


def _letters(name: str) -> tuple[str, ...]:
    return SEALED_FIELDS if name == "sealed_successor" else (FIELDS[name][0],)


def cas_arguments(update: SessionUpdate) -> tuple[list[str], dict[str, FieldValue]] | None:
    """``(ARGV, known)`` for ``update``, or None if one of its checks can never hold.

    ``known`` is what the session holds after the update for every attribute
    it sets, as the caller reads it back (see :func:`parse_reply`). Raises
    ValueError for an ordering check on a field that is not a time or an int,
    TypeError for a value of the wrong kind where it cannot be compared.
    """
    sid = update.sid
    program = Program()
    add = program.add
    for check in update.checks:
        name, op, value = check.field, check.op, check.value
        if op is CheckOp.EQUALS or op is CheckOp.UNSET_OR_EQUALS:
            if value is None:  # equal to None, or unset or equal to None: unset
                for letter in _letters(name):
                    add("-", letter)
                continue
            try:
                letters, stored = _stored(sid, name, value)
            except TypeError:
                if op is CheckOp.EQUALS:
                    return None  # a value of another kind never equals the stored one
                for letter in _letters(name):
                    add("-", letter)
                continue
            symbol = "=" if op is CheckOp.EQUALS else "?"
            for letter, part in zip(letters, stored, strict=True):
                add(symbol, letter, part)
            continue
        if name not in ORDERED_ATTRIBUTES:
            raise ValueError(f"the Redis store orders times and ints only, not {name}")
        if value is None:
            return None  # nothing is after or below None
        add(_ORDER_OPS[op], FIELDS[name][0], encode_value(sid, name, value))
    known: dict[str, FieldValue] = {}
    for name, value in update.changes.items():
        if name in update.increments:
            value = int(value) + 1  # type: ignore[arg-type]
        elif isinstance(value, datetime) and value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        known[name] = value
        if value is None:
            for letter in _letters(name):
                add("d", letter)
        else:
            letters, stored = _stored(sid, name, value)
            for letter, part in zip(letters, stored, strict=True):
                add("s", letter, part)
    for name in update.increments:
        if name not in update.changes:
            add("i", FIELDS[name][0])
    return program.arguments(), known


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
