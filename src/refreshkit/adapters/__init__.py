"""Web framework integrations: :mod:`.fastapi` and :mod:`.flask`.

Import the one you use; each needs its extra (``refreshkit[fastapi]``,
``refreshkit[flask]``). The HTTP rules both follow live in the private
``_http`` module.
"""
