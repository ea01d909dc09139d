"""Django integration: an app for ``INSTALLED_APPS``, its views, store and commands.

Add ``"refreshkit.adapters.django"`` to ``INSTALLED_APPS``, configure it with
one ``REFRESHKIT = {...}`` dict in ``settings.py`` (read into
:class:`~refreshkit.Settings` by :mod:`.conf`) and include its URLs. Needs
the ``[django]`` extra.
"""

from __future__ import annotations
