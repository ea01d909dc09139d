"""Sphinx configuration for the refreshkit documentation.

Build: ``tox -e docs`` (``sphinx-build -W -n``: every warning is an error and
every cross-reference must resolve). Works offline: see ``_ext/refreshkit_docs.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

from refreshkit_docs import intersphinx_mapping as _offline_mapping  # noqa: E402

import refreshkit  # noqa: E402

# Django Ninja reads Django's settings on import, so documenting the Django
# adapter needs a configured (empty) project.
try:
    import django
    from django.conf import settings as _django_settings
except ImportError:  # pragma: no cover - the docs env installs the [django] extra
    pass
else:
    if not _django_settings.configured:
        _django_settings.configure(
            INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes"]
        )
        django.setup()

project = "refreshkit"
author = "refreshkit developers"
copyright = "refreshkit developers"
release = refreshkit.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "myst_parser",  # only to include CHANGELOG.md
    "refreshkit_docs",
]

exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"
nitpicky = True
default_role = "py:obj"

html_theme = "furo"
html_title = f"refreshkit {release}"
html_static_path: list[str] = []

# autodoc: signatures stay short, types go to the parameter descriptions.
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_member_order = "bysource"
autodoc_class_signature = "separated"
autodoc_preserve_defaults = True
autodoc_inherit_docstrings = False
autodoc_default_options = {"members": True, "show-inheritance": True}
python_use_unqualified_type_names = True

# Online inventories when the network allows, a generated local one otherwise.
intersphinx_mapping = _offline_mapping(HERE)
intersphinx_timeout = 5

# Names autodoc meets in signatures that no inventory documents.
nitpick_ignore: list[tuple[str, str]] = []
nitpick_ignore_regex = [
    # typing aliases and type variables private to refreshkit's modules
    (r"py:.*", r"refreshkit\..*\._[A-Za-z]\w*"),
    # private modules (refreshkit._policy, ...) are referenced from docstrings
    # for maintainers; they are deliberately not part of the rendered API
    (r"py:.*", r"refreshkit\._\w+(\..*)?"),
    # the frameworks the Django adapter extends publish no offline inventory
    (r"py:.*", r"(django|rest_framework|ninja)\..*"),
]
