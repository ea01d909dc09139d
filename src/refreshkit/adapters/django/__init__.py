"""Django integration: an app for ``INSTALLED_APPS``, its views, store and commands.

Add ``"refreshkit.adapters.django"`` to ``INSTALLED_APPS``, configure it with
one ``REFRESHKIT = {...}`` dict in ``settings.py`` (read into
:class:`~refreshkit.Settings` by :mod:`.conf`) and include its URLs. Needs
the ``[django]`` extra.
"""

from __future__ import annotations

try:
    import django as _django  # noqa: F401 - only to name the missing extra for every submodule
except ImportError as _missing:  # pragma: no cover - exercised only without the extra
    from ...errors import MissingExtraError

    raise MissingExtraError(
        f"refreshkit.adapters.django needs Django ({_missing.name}): "
        "pip install 'refreshkit[django]'"
    ) from _missing
