"""Every Python example in the docs and the README runs, so none can rot.

One test per page: its ``.. code-block:: python`` blocks (or, in README.md,
its fenced python blocks) run in order in one fresh namespace, like a
notebook, with the working directory in a temporary folder. A page whose
examples need a server gets that server's marker (so ``tox -e py311-postgres``
runs it) and skips, or under ``REFRESHKIT_REQUIRE_SERVICES=1`` fails, when the
server is missing. Blocks in other languages (``console``, ``text``, ``ini``)
are not run.
"""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import services

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

_RST_BLOCK = re.compile(r"^(?P<indent>[ \t]*)\.\. (?:code-block|code|sourcecode):: python3?[ \t]*$")
_MD_FENCE = re.compile(r"^```(?:python|py|python3)[ \t]*$")


@dataclass(frozen=True)
class Example:
    """One code block: where it starts (1-based line) and its dedented source."""

    line: int
    source: str


def rst_examples(text: str) -> Iterator[Example]:
    """The ``.. code-block:: python`` blocks of a reStructuredText page."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        match = _RST_BLOCK.match(lines[index])
        index += 1
        if not match:
            continue
        base = len(match.group("indent").expandtabs())
        # Directive options (":caption: ...") and the blank line before the body.
        while index < len(lines) and re.match(r"^\s+:\w[\w-]*:", lines[index]):
            index += 1
        body: list[str] = []
        first = index  # 0-based line of the body's first line
        while index < len(lines):
            line = lines[index]
            if line.strip() and len(line) - len(line.lstrip()) <= base:
                break
            body.append(line)
            index += 1
        source = textwrap.dedent("\n".join(body)).strip("\n")
        if source:
            leading = next(n for n, line in enumerate(body) if line.strip())
            yield Example(first + leading + 1, source + "\n")


def markdown_examples(text: str) -> Iterator[Example]:
    """The fenced ```python blocks of a Markdown file."""
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        if not _MD_FENCE.match(lines[index].strip()):
            index += 1
            continue
        start = index + 2
        index += 1
        body: list[str] = []
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index])
            index += 1
        index += 1
        yield Example(start, textwrap.dedent("\n".join(body)) + "\n")


#: (marker, pattern in a page's examples that means it needs that service)
_NEEDS = [
    ("postgres", re.compile(r"postgres(?:ql)?(?:\+\w+)?://")),
    ("mariadb", re.compile(r"(?:mysql|mariadb)(?:\+\w+)?://")),
    ("cluster", re.compile(r"redis\+cluster://|RedisCluster")),
    ("redis", re.compile(r"rediss?://")),
    ("sqlite", re.compile(r"sqlite(?:\+\w+)?://")),
    ("fastapi", re.compile(r"\bfastapi\b")),
    ("flask", re.compile(r"\bflask\b")),
    ("browser", re.compile(r"\bplaywright\b")),
]


def needs(examples: list[Example]) -> list[str]:
    """The markers of the services a page's examples talk to."""
    code = "\n".join(example.source for example in examples)
    found = [marker for marker, pattern in _NEEDS if pattern.search(code)]
    if "cluster" in found and "redis" in found:
        found.remove("redis")  # a cluster page runs in the cluster env only
    return found


def pages() -> Iterator[tuple[str, list[Example]]]:
    """(page path relative to the repo, its Python examples) for every page with any."""
    found: list[tuple[str, list[Example]]] = []
    for path in sorted(DOCS.rglob("*.rst")):
        if "_build" in path.parts:
            continue
        found.append((path.relative_to(ROOT).as_posix(), list(rst_examples(path.read_text()))))
    readme = ROOT / "README.md"
    if readme.exists():
        found.append(("README.md", list(markdown_examples(readme.read_text()))))
    for page, examples in found:
        if examples:
            yield page, examples


def _params() -> list[object]:
    return [
        pytest.param(
            page, examples, id=page, marks=[getattr(pytest.mark, m) for m in needs(examples)]
        )
        for page, examples in pages()
    ]


_SERVICE_PORTS = {
    "postgres": ("PostgreSQL", services.POSTGRES_HOST, services.POSTGRES_PORT),
    "mariadb": ("MariaDB", services.MARIADB_HOST, services.MARIADB_PORT),
    "redis": ("Redis", services.REDIS_HOST, services.REDIS_PORT),
}


@pytest.mark.parametrize(("page", "examples"), _params())
def test_every_python_example_on_the_page_runs(
    page: str, examples: list[Example], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for marker in needs(examples):
        if marker in _SERVICE_PORTS:
            services.require_port(*_SERVICE_PORTS[marker])
        if marker == "cluster":
            services.require_binary("redis-server")
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("REFRESHKIT_") and "TEST" not in n]:
        if name != "REFRESHKIT_REQUIRE_SERVICES":
            monkeypatch.delenv(name)
    namespace: dict[str, object] = {"__name__": f"docs_example_{Path(page).stem}"}
    for example in examples:
        code = compile(example.source, f"{ROOT / page}:{example.line}", "exec")
        try:
            exec(code, namespace)
        except Exception as exc:
            pytest.fail(f"{page}, example at line {example.line} failed: {exc!r}", pytrace=True)


def test_the_example_collector_finds_blocks_with_options_and_nesting() -> None:
    text = textwrap.dedent(
        """\
        Title
        =====

        .. code-block:: python
           :caption: one

           x = 1
           if x:
               y = 2

        * item

          .. code-block:: python

             z = 3

        .. code-block:: console

           $ not python
        """
    )
    found = list(rst_examples(text))
    assert [e.source for e in found] == ["x = 1\nif x:\n    y = 2\n", "z = 3\n"]
    assert [e.line for e in found] == [7, 15]


def test_pages_needing_a_server_carry_its_marker() -> None:
    example = [Example(1, 'create_store("postgresql+psycopg://u@h/db")\nimport fastapi\n')]
    assert needs(example) == ["postgres", "fastapi"]
    assert needs([Example(1, 'create_store("redis+cluster://h:1")\n')]) == ["cluster"]
    assert needs([Example(1, "x = 1\n")]) == []
