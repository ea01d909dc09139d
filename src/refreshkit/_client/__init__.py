"""Private modules of :mod:`refreshkit.client`: tokens, holder, refresh grant."""
