"""Event names: the retry event replaces the grace event."""

from __future__ import annotations

import pytest

from refreshkit import EventHooks
from refreshkit.events import EVENT_NAMES


def test_a_replayed_retry_has_its_own_event_and_the_grace_event_is_gone() -> None:
    assert "retry_replayed" in EVENT_NAMES
    assert "grace_reuse" not in EVENT_NAMES
    hooks = EventHooks()
    hooks.on("retry_replayed", print)
    with pytest.raises(ValueError, match="unknown event 'grace_reuse'"):
        hooks.on("grace_reuse", print)  # type: ignore[arg-type]
