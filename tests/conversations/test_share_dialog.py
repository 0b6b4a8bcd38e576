"""Sharing without surprises: the dialog lists, reuses, updates and revokes links; signing in says why."""

import pytest
from django.test import Client
from django.urls import reverse

from conversations.models import Conversation, Message, ShareLink
from tests.conversations.conftest import PASSWORD, signed_in_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat(alice, sketricgen_agent):
    conversation = Conversation.objects.create(owner=alice, agent=sketricgen_agent, title="Tides")
    Message.objects.create(conversation=conversation, role=Message.Role.USER, content="High tide?")
    Message.objects.create(conversation=conversation, role=Message.Role.ASSISTANT, content="At noon.")
    return conversation


def create(client, conversation, **fields):
    return client.post(
        reverse("share_conversation", args=[conversation.id]), fields, HTTP_ACCEPT="application/json"
    )


def listed(client, conversation) -> list[dict]:
    return client.get(reverse("share_conversation", args=[conversation.id])).json()["links"]


def test_sharing_again_with_the_same_settings_reuses_the_link(alice, chat):
    client = signed_in_client(alice)
    first = create(client, chat, access="members")
    assert first.status_code == 201 and first.json()["reused"] is False
    again = create(client, chat, access="members")
    assert again.status_code == 200 and again.json()["reused"] is True
    assert again.json()["url"] == first.json()["url"]
    live = create(client, chat, access="members", live="1")
    assert live.status_code == 201  # other settings: another link
    assert ShareLink.objects.count() == 2
    assert [(link["access"], link["live"]) for link in listed(client, chat)] == [
        ("members", True),
        ("members", False),
    ]


def test_the_dialog_says_when_a_snapshot_misses_newer_messages_and_updates_it(alice, chat):
    client = signed_in_client(alice)
    link = create(client, chat, access="members").json()
    assert link["stale"] is False
    Message.objects.create(conversation=chat, role=Message.Role.USER, content="And tomorrow?")
    [shown] = listed(client, chat)
    assert shown["stale"] is True
    updated = client.post(shown["update_url"], HTTP_ACCEPT="application/json").json()
    assert updated["stale"] is False and updated["url"] == link["url"]
    assert "And tomorrow?" in client.get(link["url"]).content.decode()


def test_revoking_from_the_dialog_ends_the_link_and_the_list_drops_it(alice, chat):
    client = signed_in_client(alice)
    link = create(client, chat, access="members").json()
    assert client.post(link["revoke_url"], HTTP_ACCEPT="application/json").json() == {"revoked": True}
    assert listed(client, chat) == []
    assert client.get(link["url"]).status_code == 404
    assert create(client, chat, access="members").status_code == 201  # a new one, not the revoked


def test_someone_else_cannot_list_or_reuse_the_links(alice, bob, chat):
    create(signed_in_client(alice), chat, access="members")
    bobs = signed_in_client(bob)
    assert bobs.get(reverse("share_conversation", args=[chat.id])).status_code == 404
    assert create(bobs, chat, access="members").status_code == 404


def test_a_refused_setting_is_refused_even_when_a_link_exists(alice, chat, settings):
    client = signed_in_client(alice)
    settings.ALLOW_PUBLIC_LINKS = True
    create(client, chat, access="public")
    settings.ALLOW_PUBLIC_LINKS = False
    assert create(client, chat, access="public").status_code == 400


def test_signing_in_for_a_members_only_link_says_why_and_returns_to_it(alice, bob, chat):
    url = create(signed_in_client(alice), chat, access="members").json()["url"]
    path = url.removeprefix("http://testserver")
    visitor = Client()
    sign_in = visitor.get(path, follow=True)
    assert "Someone shared a conversation with the members of this site" in sign_in.content.decode()
    login_url = sign_in.redirect_chain[-1][0]
    back = visitor.post(login_url, {"username": "bob", "password": PASSWORD, "next": path})
    assert back.status_code == 302 and back["Location"] == path
    assert "At noon." in visitor.get(path).content.decode()
    plain = Client().get(reverse("login") + "?next=/").content.decode()
    assert "Someone shared" not in plain
