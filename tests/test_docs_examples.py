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

import configparser
import importlib.util
import os
import re
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests import services

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"

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
    ("django", re.compile(r"\bdjango\b")),
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
    if README.exists():
        found.append(("README.md", list(markdown_examples(README.read_text()))))
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
    run_page(page, examples, tmp_path, monkeypatch)


def run_page(
    page: str, examples: list[Example], folder: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """Run a page's examples in order in ``folder``; returns their namespace."""
    monkeypatch.chdir(folder)
    for name in [n for n in os.environ if n.startswith("REFRESHKIT_") and "TEST" not in n]:
        if name != "REFRESHKIT_REQUIRE_SERVICES":
            monkeypatch.delenv(name)
    namespace: dict[str, Any] = {"__name__": f"docs_example_{Path(page).stem}"}
    for example in examples:
        code = compile(example.source, f"{ROOT / page}:{example.line}", "exec")
        try:
            exec(code, namespace)
        except Exception as exc:
            pytest.fail(f"{page}, example at line {example.line} failed: {exc!r}", pytrace=True)
    return namespace


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


# ------------------------------------------------ the README's server and client together


@pytest.fixture
def readme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The namespace of the README's examples, run in order."""
    pytest.importorskip("fastapi")
    return run_page("README.md", list(markdown_examples(README.read_text())), tmp_path, monkeypatch)


@pytest.mark.fastapi
def test_the_readme_client_logs_in_and_refreshes_against_the_readme_server(
    readme: dict[str, Any],
) -> None:
    from fastapi.testclient import TestClient

    from refreshkit import FrozenClock

    server_clock = FrozenClock(datetime.now(UTC))
    readme["manager"].clock = server_clock
    with TestClient(readme["app"], base_url="https://testserver") as api:
        readme["log_in"](api, "alice", "a password")
        first = api.auth.holder.tokens
        assert first.refresh_token, "the README server answers in the body, as the client asks"
        server_clock.advance(timedelta(minutes=16))  # the server has expired the access token
        assert api.get("/me").json() == {"user": "alice"}  # 401, one refresh, the retry
        assert api.auth.holder.tokens.refresh_token != first.refresh_token


@pytest.mark.fastapi
def test_the_readme_login_reads_the_password_from_the_body_never_the_url(
    readme: dict[str, Any],
) -> None:
    from fastapi.testclient import TestClient

    with TestClient(readme["app"], base_url="https://testserver") as api:
        in_the_url = api.post("/login", params={"username": "alice", "password": "x"})
        in_the_body = api.post("/login", data={"username": "alice", "password": "x"})
    assert in_the_url.status_code == 422
    assert in_the_body.status_code == 200


@pytest.mark.fastapi
def test_after_logout_the_readme_apps_online_route_refuses_the_access_token(
    readme: dict[str, Any],
) -> None:
    from fastapi.testclient import TestClient

    with TestClient(readme["app"], base_url="https://testserver") as api:
        tokens = api.post("/login", data={"username": "alice", "password": "x"}).json()
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert api.post("/email", headers=bearer).status_code == 200
        assert api.post("/logout", headers=bearer).status_code == 204
        refused = api.post("/email", headers=bearer)
        offline = api.get("/me", headers=bearer)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert offline.status_code == 200  # what the README says: valid offline until exp
    text = " ".join(README.read_text().split())
    assert "at most `access_ttl`" in text
    assert "kit.require(online=True)" in text


@pytest.mark.parametrize(
    "example",
    [
        pytest.param("fastapi_app", marks=pytest.mark.fastapi),
        pytest.param("flask_app", marks=pytest.mark.flask),
    ],
)
def test_the_readme_client_works_against_the_example_apps(
    readme: dict[str, Any], example: str, tmp_path: Path
) -> None:
    """Both examples serve cookie mode too: the README client asks for body delivery."""
    import httpx

    module = _load_example(example)
    api: httpx.Client
    if example == "fastapi_app":
        from fastapi.testclient import TestClient

        api = TestClient(
            module.create_app(f"sqlite+aiosqlite:///{tmp_path / 'f.db'}"),
            base_url="https://testserver",
        )
    else:
        pytest.importorskip("flask")
        app = module.create_app(f"sqlite:///{tmp_path / 'f.db'}")
        api = httpx.Client(base_url="https://testserver", transport=httpx.WSGITransport(app=app))
    with api:
        readme["log_in"](api, module.DEMO_USER, module.DEMO_PASSWORD)
        first = api.auth.holder.tokens
        assert api.get("/me").json()["user"] == module.DEMO_USER
        api.auth.clock = lambda: time.time() + 3600  # the client's token is due: it refreshes
        assert api.get("/me").json()["user"] == module.DEMO_USER
        assert api.auth.holder.tokens.refresh_token != first.refresh_token


def _load_example(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(
        f"readme_example_{name}", ROOT / "examples" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------ the README's test command, first run


def test_the_readme_puts_the_interpreters_on_path_before_the_test_command() -> None:
    text = README.read_text()
    development = text[text.index("## Development") :]
    assert development.index("pyenv prefix 3.12") < development.index("tox -p auto\n")
    assert development.index("pyenv prefix 3.13") < development.index("tox -p auto\n")


def test_missing_interpreters_skip_locally_but_fail_in_ci() -> None:
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    assert tox["tox"]["skip_missing_interpreters"] == "true"  # a contributor's run stays green
    ci = (ROOT / ".ci" / "run").read_text()
    assert "\ntox -p auto --skip-missing-interpreters false\n" in ci  # CI runs every one


# ------------------------------------------------ installing and creating tables


INSTALL_PAGES = ["README.md", "docs/index.rst", "docs/quickstart.rst"]


@pytest.mark.parametrize("page", INSTALL_PAGES)
def test_install_instructions_work_before_the_package_is_published(page: str) -> None:
    text = (ROOT / page).read_text()
    commands = [line.strip().removeprefix("$ ") for line in text.splitlines()]
    assert not [c for c in commands if re.match(r"pip install refreshkit\b", c)], (
        "refreshkit is not on PyPI: a bare `pip install refreshkit` fails"
    )
    assert "pip install -e" in text  # from a clone
    assert re.search(r"not (published|on PyPI)", " ".join(text.split()))  # and says why


@pytest.mark.parametrize("page", ["README.md", "docs/quickstart.rst"])
def test_the_quickstart_says_how_sql_tables_are_created(page: str) -> None:
    text = " ".join((ROOT / page).read_text().split())
    assert "refreshkit db upgrade URL" in text
    assert "create_tables=True" in text
    assert re.search(r"SQLite (files|file URL).{0,80}create", text)
