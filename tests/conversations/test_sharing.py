"""Share links: snapshot, update, revoke, who may open them, the page itself, continuing from it."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from conversations.models import Conversation, Message, ShareLink
from tests.conversations.conftest import signed_in_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat(alice, team_agent):
    conversation = Conversation.objects.create(owner=alice, agent=team_agent, title="Tide tables")
    Message.objects.create(conversation=conversation, role=Message.Role.USER, content="When is high tide?")
    Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        content="High tide is at **noon**. <script>alert(1)</script>",
    )
    return conversation


def share(client: Client, conversation: Conversation, **fields) -> str:
    """Create a link as the browser does; its URL."""
    response = client.post(
        reverse("share_conversation", args=[conversation.id]), fields, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 201, response.content
    return response.json()["url"]


def add_turn(conversation: Conversation, question: str, answer: str) -> None:
    Message.objects.create(conversation=conversation, role=Message.Role.USER, content=question)
    Message.objects.create(conversation=conversation, role=Message.Role.ASSISTANT, content=answer)


def test_a_link_shows_a_snapshot_and_update_brings_it_up_to_date(alice, chat):
    owner = signed_in_client(alice)
    url = share(owner, chat, access="public")
    add_turn(chat, "And low tide?", "Low tide is at six.")

    page = Client().get(url).content.decode()
    assert "High tide is at <strong>noon</strong>" in page
    assert "Low tide" not in page

    link = ShareLink.objects.get()
    assert owner.post(reverse("update_share_link", args=[link.pk])).status_code == 302
    assert "Low tide is at six." in Client().get(url).content.decode()


def test_a_revoked_link_is_the_same_404_as_an_unknown_one(alice, chat):
    owner = signed_in_client(alice)
    url = share(owner, chat, access="public")
    link = ShareLink.objects.get()
    owner.post(reverse("revoke_share_link", args=[link.pk]))
    revoked = Client().get(url)
    unknown = Client().get(url[:-10] + "x" * 9 + "/")
    assert revoked.status_code == unknown.status_code == 404
    assert revoked.content == unknown.content
    assert signed_in_client(alice).get(url).status_code == 404


def test_a_wrong_secret_with_a_real_key_is_a_404(alice, chat):
    url = share(signed_in_client(alice), chat, access="public")
    token = url.rstrip("/").rsplit("/", 1)[1]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert Client().get(reverse("shared_conversation", args=[tampered])).status_code == 404
    assert Client().get(reverse("shared_conversation", args=[token[:12]])).status_code == 404


def test_tokens_are_long_and_random(alice, chat):
    client = signed_in_client(alice)
    tokens = set()
    for _ in range(5):
        tokens.add(share(client, chat, access="members").rstrip("/").rsplit("/", 1)[1])
        ShareLink.objects.update(revoked_at=chat.created_at)  # the next one is a new link
    assert len(tokens) == 5
    for token in tokens:
        assert len(token) >= 43  # 12 characters of key, 32 of secret: 264 bits from `secrets`
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token)


def test_a_members_only_link_sends_visitors_to_sign_in_and_shows_to_members(alice, bob, carol, chat):
    url = share(signed_in_client(alice), chat, access="members")
    anonymous = Client().get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("login"))
    assert "noon" not in anonymous.content.decode()
    for member in (bob, carol):
        assert "noon" in signed_in_client(member).get(url).content.decode()


def test_a_public_link_works_signed_out(alice, chat):
    url = share(signed_in_client(alice), chat, access="public")
    response = Client().get(url)
    assert response.status_code == 200
    assert "When is high tide?" in response.content.decode()


def test_public_links_can_be_switched_off(alice, chat, settings):
    client = signed_in_client(alice)
    url = share(client, chat, access="public")
    settings.ALLOW_PUBLIC_LINKS = False
    refused = client.post(
        reverse("share_conversation", args=[chat.id]), {"access": "public"}, HTTP_ACCEPT="application/json"
    )
    assert refused.status_code == 400
    assert "switched off" in refused.json()["error"]
    assert Client().get(url).status_code == 302  # the existing public link now needs a member


def test_only_members_only_links_can_be_live(alice, chat):
    client = signed_in_client(alice)
    refused = client.post(
        reverse("share_conversation", args=[chat.id]),
        {"access": "public", "live": "1"},
        HTTP_ACCEPT="application/json",
    )
    assert refused.status_code == 400
    share(client, chat, access="members", live="1")
    assert ShareLink.objects.get().live


def test_the_shared_page_is_safe_and_has_a_preview_but_no_internal_ids(alice, chat):
    url = share(signed_in_client(alice), chat, access="public")
    response = Client().get(url)
    page = response.content.decode()
    assert "<title>Tide tables · shared from chatsite</title>" in page
    assert '<meta property="og:title" content="Tide tables">' in page
    assert 'property="og:description" content="A conversation with Team Helper: “When is high tide?”"' in page
    assert "<script>alert" not in page
    assert chat.id not in page
    assert "data-message-id" not in page
    assert 'id="m-' not in page
    assert "demo-key" not in page
    assert "agent-demo" not in page  # the agent's id on its platform
    assert "Content-Security-Policy" in response.headers
    assert "no-store" in response["Cache-Control"]  # a revoked link must not live on in a cache
    assert response["X-Robots-Tag"] == "noindex"


def test_the_shared_links_page_lists_updates_and_revokes(alice, bob, chat):
    client = signed_in_client(alice)
    url = share(client, chat, access="members")
    page = client.get(reverse("shared_links")).content.decode()
    assert url in page
    assert "Signed-in members only" in page
    assert url not in signed_in_client(bob).get(reverse("shared_links")).content.decode()
    link = ShareLink.objects.get()
    client.post(reverse("revoke_share_link", args=[link.pk]))
    page = client.get(reverse("shared_links")).content.decode()
    assert "Revoked" in page
    assert url not in page


def test_continuing_makes_an_independent_copy_for_the_viewer(alice, bob, chat):
    chat.upstream_conversation_id = "conv_alices"
    chat.save()
    url = share(signed_in_client(alice), chat, access="members")
    token = url.rstrip("/").rsplit("/", 1)[1]
    bob_client = signed_in_client(bob)
    assert "starts a fresh conversation" in bob_client.get(url).content.decode()

    response = bob_client.post(reverse("continue_shared", args=[token]))
    copy = Conversation.objects.get(owner=bob)
    assert response["Location"] == copy.get_absolute_url()
    assert copy.agent == chat.agent
    assert copy.upstream_conversation_id == ""
    assert [m.content for m in copy.messages.all()] == [m.content for m in chat.messages.all()]

    copy.messages.all().delete()
    add_turn(chat, "More?", "More.")
    assert chat.messages.count() == 4
    assert "Tide tables" in bob_client.get(copy.get_absolute_url()).content.decode()


def test_continuing_needs_a_member_who_may_use_the_agent(alice, carol, chat):
    url = share(signed_in_client(alice), chat, access="public")
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert Client().post(reverse("continue_shared", args=[token])).status_code == 302
    carol_client = signed_in_client(carol)
    assert "is not available to you" in carol_client.get(url).content.decode()
    assert carol_client.post(reverse("continue_shared", args=[token])).status_code == 404
    assert not Conversation.objects.filter(owner=carol).exists()


def test_the_admin_lists_every_link_and_can_revoke(admin_client, alice, chat):
    share(signed_in_client(alice), chat, access="public")
    link = ShareLink.objects.get()
    listing = admin_client.get(reverse("admin:conversations_sharelink_changelist")).content.decode()
    assert "Tide tables" in listing
    assert link.secret not in listing
    detail = admin_client.get(reverse("admin:conversations_sharelink_change", args=[link.pk]))
    assert detail.status_code == 200
    assert link.secret not in detail.content.decode()
    admin_client.post(
        reverse("admin:conversations_sharelink_changelist"),
        {"action": "revoke_links", "_selected_action": [link.pk]},
    )
    link.refresh_from_db()
    assert link.is_revoked
