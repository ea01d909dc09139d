"""Store options carried in the URL's query: ``sqlite:///app.db?prefix=app_&create_tables=false``.

A deployment configures its store with one setting, ``REFRESHKIT_STORE_URL``,
so every store option worth choosing per deployment can ride in the URL. Each
backend names its options and how to read each (:class:`URLOption`);
:func:`split_url_options` takes them out of the query and leaves every other
parameter, untouched, for the driver (SQLAlchemy's DBAPI, redis-py). A name
refreshkit uses somewhere (or a near miss of one) that this backend does not
take is refused rather than handed to a driver that would fail obscurely.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from ..errors import ConfigurationError

__all__ = [
    "URLOption",
    "boolean",
    "integer",
    "merge_options",
    "split_url_options",
    "text",
    "url_option_names",
]

#: Every option name some refreshkit store reads from its URL, plus the
#: constructor spellings people will try: never passed on to a driver.
_REFRESHKIT_NAMES = frozenset(
    {"prefix", "table_prefix", "key_prefix", "create_tables", "max_retries", "history", "state"}
)
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True, slots=True)
class URLOption:
    """One option a backend reads from its URL: its name there, its keyword, its parser."""

    name: str
    keyword: str
    parse: Callable[[str, str], Any]


def text(name: str, value: str) -> str:
    """The value as given (the store validates it, e.g. a prefix's characters)."""
    if not value:
        raise ConfigurationError(f"{name}= in the store URL needs a value")
    return value


def boolean(name: str, value: str) -> bool:
    """``true``/``false`` (also ``1``/``0``, ``yes``/``no``, ``on``/``off``)."""
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigurationError(f"{name}= in the store URL must be true or false, not {value!r}")


def integer(minimum: int) -> Callable[[str, str], int]:
    """A parser for whole numbers of at least ``minimum``."""

    def parse(name: str, value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = minimum - 1
        if number < minimum:
            raise ConfigurationError(
                f"{name}= in the store URL must be a whole number >= {minimum}, not {value!r}"
            )
        return number

    return parse


def _query_start(url: str) -> int:
    """Where the query's ``?`` is, or -1 (a password must percent-encode its ``?``)."""
    return url.find("?", url.find("://") + 3)


def url_option_names(url: str) -> set[str]:
    """The parameter names in the URL's query that refreshkit reads somewhere."""
    start = _query_start(url)
    if start < 0:
        return set()
    names = {unquote(piece.partition("=")[0]) for piece in url[start + 1 :].split("&")}
    return names & _REFRESHKIT_NAMES


def split_url_options(
    url: str, options: Sequence[URLOption], *, store: str
) -> tuple[str, dict[str, Any]]:
    """The URL without refreshkit's options, and those options as constructor keywords.

    Raises :class:`~refreshkit.errors.ConfigurationError`, naming the valid
    options, for an option given twice, a bad value, or a refreshkit option
    (or a near miss of one) that ``store`` does not take.
    """
    start = _query_start(url)
    if start < 0:
        return url, {}
    by_name = {option.name: option for option in options}
    kept: list[str] = []
    found: dict[str, Any] = {}
    for piece in url[start + 1 :].split("&"):
        raw_name, _, raw_value = piece.partition("=")
        name = unquote(raw_name)
        option = by_name.get(name)
        if option is not None:
            if option.keyword in found:
                raise ConfigurationError(f"{name}= appears twice in the {store} URL")
            found[option.keyword] = option.parse(name, unquote(raw_value))
        elif name and _looks_like_ours(name, by_name):
            valid = ", ".join(sorted(by_name)) or "none"
            raise ConfigurationError(
                f"unknown {store} URL option {name!r}: refreshkit's options for this store "
                f"are {valid} (any other query parameter goes to the driver)"
            )
        elif piece:
            kept.append(piece)
    rest = "?" + "&".join(kept) if kept else ""
    return url[:start] + rest, found


def _looks_like_ours(name: str, valid: Mapping[str, URLOption]) -> bool:
    lowered = name.lower()
    if lowered in _REFRESHKIT_NAMES or lowered.startswith(("refreshkit", "rk_")):
        return True
    return bool(difflib.get_close_matches(lowered, [*valid, *_REFRESHKIT_NAMES], n=1, cutoff=0.8))


def merge_options(from_url: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Keyword options and URL options together; one set both ways is a ConfigurationError."""
    both = sorted(set(from_url) & set(given))
    if both:
        raise ConfigurationError(
            f"{', '.join(both)} given both in the store URL and as a keyword argument"
        )
    return {**given, **from_url}
