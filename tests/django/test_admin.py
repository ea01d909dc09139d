"""The admin lists sessions without their secrets and revokes them through the manager."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from refreshkit import TokenManager
from refreshkit.adapters.django import conf

from .conftest import clear

pytestmark = pytest.mark.django

CHANGELIST = "/admin/refreshkit/session/"


@pytest.fixture
def manager(sqlite_alias: str) -> Iterator[TokenManager]:
    conf.reset()
    yield conf.get_manager()
    clear(sqlite_alias)
    conf.reset()


@pytest.fixture
def admin_client(sqlite_alias: str) -> Client:
    user = get_user_model().objects.create_superuser(
        f"admin-{uuid.uuid4().hex[:8]}", "admin@example.com", "not-used"
    )
    client = Client()
    client.force_login(user)
    return client


def test_the_changelist_shows_sessions_as_datetimes_and_no_secret(
    manager: TokenManager, admin_client: Client
) -> None:
    pair = manager.issue("alice", client_id="mobile-app")
    stored = manager.store.get_session(pair.sid)
    assert stored is not None
    page = admin_client.get(CHANGELIST)
    assert page.status_code == 200
    html = page.content.decode()
    assert pair.sid in html and "alice" in html and "mobile-app" in html
    assert str(stored.created_at.year) in html
    assert stored.current_secret_hash not in html
    detail = admin_client.get(f"{CHANGELIST}{pair.sid}/change/")
    assert detail.status_code == 200
    assert stored.current_secret_hash not in detail.content.decode()
    assert stored.current_token_id not in detail.content.decode()


def test_revoke_selected_revokes_through_the_manager_and_leaves_the_rest(
    manager: TokenManager, admin_client: Client
) -> None:
    chosen, kept = manager.issue("alice"), manager.issue("alice")
    response = admin_client.post(
        CHANGELIST,
        {"action": "revoke_selected", "_selected_action": [chosen.sid], "index": "0"},
        follow=True,
    )
    assert response.status_code == 200
    revoked, live = manager.store.get_session(chosen.sid), manager.store.get_session(kept.sid)
    assert revoked is not None and revoked.revoked_reason == "admin"
    assert live is not None and live.revoked_at is None


def test_sessions_cannot_be_added_edited_or_deleted_by_hand(
    manager: TokenManager, admin_client: Client
) -> None:
    pair = manager.issue("alice")
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    assert admin_client.post(f"{CHANGELIST}{pair.sid}/change/", {"subject": "x"}).status_code == 403
    assert admin_client.post(f"{CHANGELIST}{pair.sid}/delete/").status_code == 403
    stored = manager.store.get_session(pair.sid)
    assert stored is not None and stored.subject == "alice"
