"""Sphinx helpers for the refreshkit docs.

``refreshkit-settings``
    A directive that renders the configuration reference from
    :class:`refreshkit.Settings` itself: every dataclass field with its type,
    default, ``REFRESHKIT_*`` variable and the ``#:`` comment above it. The
    page cannot drift from the code because it *is* the code.

Offline intersphinx inventories
    The docs link to Python, PyJWT, SQLAlchemy, redis-py, FastAPI, Starlette,
    Flask and httpx. Each ``intersphinx_mapping`` entry names the project's
    online ``objects.inv`` first and a local file second; when the network is
    unreachable (CI machines reach only package registries) Sphinx falls back
    to the local file. This extension writes those local files before
    intersphinx reads them, by walking the *installed* packages, so the names
    autodoc references resolve to the right project's docs without a download.
"""

from __future__ import annotations

import builtins
import dataclasses
import importlib
import inspect
import types
import typing
import zlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.directives.other import TocTree
from sphinx.pycode import ModuleAnalyzer
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

# --------------------------------------------------------------------------
# The configuration reference


def _type_text(hint: Any) -> str:
    """A readable form of a Settings field's type, e.g. ``int | None``."""
    if hint is type(None):
        return "None"
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return " | ".join(repr(arg) for arg in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_text(arg) for arg in typing.get_args(hint))
    if origin is tuple:
        item = typing.get_args(hint)[0] if typing.get_args(hint) else str
        return f"tuple[{_type_text(item)}, ...]"
    return getattr(hint, "__name__", str(hint))


def _duration_text(value: timedelta) -> str:
    """``timedelta(days=14)`` as the ``"14d"`` string a user would write."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _default_text(value: Any) -> str:
    if isinstance(value, timedelta):
        return f'``"{_duration_text(value)}"``'
    if isinstance(value, tuple):
        return f"``{','.join(map(str, value))}``" if value else "(none)"
    return f"``{value!r}``"


class SettingsReferenceDirective(SphinxDirective):
    """Render every :class:`refreshkit.Settings` field as a reference table."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from refreshkit import config

        analyzer = ModuleAnalyzer.for_module(config.__name__)
        comments = analyzer.find_attr_docs()
        hints = typing.get_type_hints(config.Settings)
        lines = [
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 22 28 15 12 40",
            "   :class: refreshkit-settings",
            "",
            "   * - Setting",
            "     - Environment variable",
            "     - Type",
            "     - Default",
            "     - Meaning",
        ]
        for field in dataclasses.fields(config.Settings):
            doc = [line for line in comments.get(("Settings", field.name), []) if line.strip()]
            if not doc:
                raise self.error(f"Settings.{field.name} has no #: comment to document it")
            if field.default is not dataclasses.MISSING:
                default = _default_text(field.default)
            else:
                default = "(required)"
            lines += [
                f"   * - .. _setting-{field.name}:",
                "",
                f"       ``{field.name}``",
                f"     - ``REFRESHKIT_{field.name.upper()}``",
                f"     - ``{_type_text(hints[field.name])}``",
                f"     - {default}",
                f"     - {doc[0]}",
                *(f"       {line}" for line in doc[1:]),
            ]
        self.env.note_dependency(config.__file__)
        container = nodes.container()
        nested_parse_with_titles(self.state, StringList(lines, source="Settings"), container)
        return container.children


class ExistingPagesTocTree(TocTree):
    """A ``toctree`` that lists only the entries whose page exists.

    Pages written by other parts of the project (an integration, a backend)
    appear in the navigation as soon as they land, and a build made before
    they exist stays free of "nonexisting document" warnings.
    """

    def run(self) -> list[nodes.Node]:
        base = self.env.docname.rpartition("/")[0]
        kept = []
        for line in self.content:
            entry = line.strip()
            name = entry.lstrip("/") if entry.startswith("/") else f"{base}/{entry}".lstrip("/")
            if not entry or entry.startswith(":") or name in self.env.found_docs:
                kept.append(line)
        self.content = StringList(kept, source=self.content.source(0) if self.content else "")
        return super().run()


# --------------------------------------------------------------------------
# Offline intersphinx inventories


@dataclasses.dataclass(frozen=True)
class Project:
    """An intersphinx target: its docs URL, modules to index, and a page rule."""

    name: str
    url: str
    modules: tuple[str, ...]
    page: Callable[[str, str], str]  # (module, full name) -> page relative to url


def _python_page(module: str, name: str) -> str:
    if module == "builtins":
        short = name.rsplit(".", 1)[-1]
        obj = getattr(builtins, short, None)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            return f"library/exceptions.html#{short}"
        if short in ("None", "True", "False", "Ellipsis", "NotImplemented"):
            return f"library/constants.html#{short}"
        if inspect.isclass(obj) and short not in ("object", "type"):
            return f"library/stdtypes.html#{short}"
        return f"library/functions.html#{short}"
    return f"library/{module}.html#{name}"


def _sqlalchemy_page(module: str, name: str) -> str:
    if module.startswith("sqlalchemy.ext.asyncio"):
        return f"orm/extensions/asyncio.html#{name}"
    if module.startswith("sqlalchemy.orm"):
        return f"orm/session_api.html#{name}"
    return f"core/connections.html#{name}"


PROJECTS = (
    Project(
        "python",
        "https://docs.python.org/3",
        (
            "builtins",
            "abc",
            "asyncio",
            "collections.abc",
            "contextlib",
            "dataclasses",
            "datetime",
            "enum",
            "hashlib",
            "hmac",
            "importlib.metadata",
            "json",
            "logging",
            "os",
            "pathlib",
            "secrets",
            "ssl",
            "threading",
            "types",
            "typing",
            "warnings",
        ),
        _python_page,
    ),
    Project(
        "pyjwt", "https://pyjwt.readthedocs.io/en/stable", ("jwt",), lambda m, n: f"api.html#{n}"
    ),
    Project(
        "sqlalchemy",
        "https://docs.sqlalchemy.org/en/20",
        ("sqlalchemy", "sqlalchemy.engine", "sqlalchemy.ext.asyncio", "sqlalchemy.pool"),
        _sqlalchemy_page,
    ),
    Project(
        "redis",
        "https://redis.readthedocs.io/en/stable",
        ("redis", "redis.asyncio", "redis.cluster", "redis.asyncio.cluster", "redis.exceptions"),
        lambda m, n: f"{'clustering' if 'cluster' in m else 'connections'}.html#{n}",
    ),
    Project(
        "fastapi",
        "https://fastapi.tiangolo.com/reference",
        ("fastapi", "fastapi.security", "fastapi.responses"),
        lambda m, n: f"{n.split('.')[1].lower()}/#{n}" if n.count(".") >= 1 else "",
    ),
    Project(
        "starlette",
        "https://www.starlette.io",
        ("starlette.requests", "starlette.responses", "starlette.applications", "starlette.types"),
        lambda m, n: f"{m.split('.')[-1]}/",
    ),
    Project(
        "flask",
        "https://flask.palletsprojects.com/en/stable",
        ("flask", "flask.typing"),
        lambda m, n: f"api/#{n}",
    ),
    Project(
        "werkzeug",
        "https://werkzeug.palletsprojects.com/en/stable",
        ("werkzeug.wrappers", "werkzeug.exceptions"),
        lambda m, n: f"{m.split('.')[-1]}/#{n}",
    ),
    Project(
        "httpx",
        "https://www.python-httpx.org",
        ("httpx",),
        lambda m, n: f"api/#{n.split('.')[-1].lower()}",
    ),
)


def _role_of(obj: Any) -> str:
    if inspect.ismodule(obj):
        return "module"
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if inspect.isroutine(obj):
        return "function"
    return "data"


def _entries(module_name: str) -> Iterator[tuple[str, str, str]]:
    """(full name, role, defining module) for the public names of a module."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return
    yield module_name, "module", module_name
    names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    for name in names:
        obj = getattr(module, name, None)
        if obj is None and name not in ("None",):
            continue
        role = _role_of(obj)
        if role == "module":
            continue
        full = f"{module_name}.{name}" if module_name != "builtins" else name
        yield full, role, module_name
        if inspect.isclass(obj):
            canonical = f"{obj.__module__}.{obj.__qualname__}"
            if canonical != full and obj.__module__ != "builtins":
                yield canonical, role, module_name
            for member, value in vars(obj).items():
                if member.startswith("_"):
                    continue
                kind = "method" if inspect.isroutine(value) else "attribute"
                if isinstance(value, property):
                    kind = "property"
                yield f"{full}.{member}", kind, module_name
    if module_name == "builtins":
        for constant in ("None", "True", "False", "Ellipsis", "NotImplemented"):
            yield constant, "data", module_name


def write_inventory(project: Project, path: Path) -> int:
    """Write a Sphinx objects.inv (v2) for ``project``; return the entry count."""
    seen: dict[tuple[str, str], str] = {}
    for module_name in project.modules:
        for full, role, module in _entries(module_name):
            seen.setdefault((full, role), project.page(module, full))
    body = "".join(
        f"{name} py:{role} 1 {uri or '-'} -\n" for (name, role), uri in sorted(seen.items())
    )
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project.name}\n"
        "# Version: \n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header.encode() + zlib.compress(body.encode()))
    return len(seen)


def inventory_path(srcdir: Path, name: str) -> Path:
    """Where the local fallback inventory of project ``name`` lives."""
    return srcdir / "_build" / "inventories" / f"{name}.inv"


def intersphinx_mapping(srcdir: Path) -> dict[str, tuple[str, tuple[str | None, ...]]]:
    """The mapping for conf.py: online inventory first, local fallback second.

    Projects whose docs are not built with Sphinx (FastAPI, Starlette, httpx)
    publish no ``objects.inv``; for them the local file is the only source.
    """
    online = {"python", "pyjwt", "sqlalchemy", "redis", "flask", "werkzeug"}
    mapping: dict[str, tuple[str, tuple[str | None, ...]]] = {}
    for project in PROJECTS:
        local = str(inventory_path(srcdir, project.name))
        mapping[project.name] = (project.url, (None, local) if project.name in online else (local,))
    return mapping


def _write_inventories(app: Sphinx) -> None:
    for project in PROJECTS:
        write_inventory(project, inventory_path(Path(app.srcdir), project.name))


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directive and the inventory writer (before intersphinx loads)."""
    app.add_directive("refreshkit-settings", SettingsReferenceDirective)
    app.add_directive("toctree-if-exists", ExistingPagesTocTree)
    app.connect("builder-inited", _write_inventories, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
