"""SECURITY.md "Who may see and do what", over HTTP: bob and carol against alice's things."""

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from conversations.models import Attachment, Conversation, Message, ShareLink
from tests.conversations.conftest import signed_in_client

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def alices(alice, team_agent):
    """Alice's conversation with the team agent: a question, an answer with a file, and a share link."""
    conversation = Conversation.objects.create(owner=alice, agent=team_agent, title="Tide tables")
    question = Message.objects.create(conversation=conversation, role=Message.Role.USER, content="Tides?")
    Message.objects.create(
        conversation=conversation, role=Message.Role.ASSISTANT, content="High at **noon**."
    )
    attachment = Attachment(
        conversation=conversation, message=question, name="tides.txt", content_type="text/plain", size=5
    )
    attachment.file.save("tides.txt", ContentFile(b"tides"), save=False)
    attachment.save()
    link = ShareLink(conversation=conversation, created_by=alice, access=ShareLink.Access.MEMBERS)
    link.take_snapshot()
    link.save()
    return {"conversation": conversation, "attachment": attachment, "link": link, "question": question}


def state_of(conversation: Conversation) -> tuple:
    conversation = Conversation.objects.filter(pk=conversation.pk).first()
    if conversation is None:
        return ()
    return (
        conversation.title,
        conversation.owner_id,
        list(conversation.messages.values_list("pk", "content", "status")),
        list(conversation.share_links.values_list("pk", "revoked_at", "last_message_id")),
    )


def requests_on(alices) -> list[tuple[str, str, dict]]:
    conversation, link = alices["conversation"], alices["link"]
    return [
        ("get", reverse("conversation", args=[conversation.id]), {}),
        ("post", reverse("rename_conversation", args=[conversation.id]), {"title": "Mine now"}),
        ("post", reverse("delete_conversation", args=[conversation.id]), {}),
        ("get", reverse("export_conversation", args=[conversation.id, "md"]), {}),
        ("get", reverse("export_conversation", args=[conversation.id, "json"]), {}),
        ("post", reverse("share_conversation", args=[conversation.id]), {"access": "public"}),
        ("post", reverse("update_share_link", args=[link.pk]), {}),
        ("post", reverse("revoke_share_link", args=[link.pk]), {}),
    ]


@pytest.mark.parametrize("persona", ["bob", "carol"])
def test_others_get_404_for_everything_of_alices_and_nothing_changes(persona, alices, request):
    client = signed_in_client(request.getfixturevalue(persona))
    before = state_of(alices["conversation"])
    for method, url, data in requests_on(alices):
        response = getattr(client, method)(url, data)
        assert response.status_code == 404, (method, url)
    assert state_of(alices["conversation"]) == before
    assert ShareLink.objects.count() == 1


@pytest.mark.parametrize("persona", ["bob", "carol"])
def test_others_cannot_reach_alices_file_through_a_link_of_their_own(
    persona, alices, sketricgen_agent, request
):
    user = request.getfixturevalue(persona)
    own = Conversation.objects.create(owner=user, agent=sketricgen_agent, title="Mine")
    Message.objects.create(conversation=own, role=Message.Role.USER, content="hello")
    link = ShareLink(conversation=own, created_by=user, access=ShareLink.Access.MEMBERS)
    link.take_snapshot()
    link.save()
    client = signed_in_client(user)
    response = client.get(reverse("shared_file", args=[link.token, alices["attachment"].pk]))
    assert response.status_code == 404


def test_alice_reaches_her_file_only_through_a_link_that_shows_it(alice, alices):
    client = signed_in_client(alice)
    link = alices["link"]
    response = client.get(reverse("shared_file", args=[link.token, alices["attachment"].pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"tides"
    assert response["X-Content-Type-Options"] == "nosniff"
    link.frozen_messages.filter(content=alices["question"].content).delete()
    response = client.get(reverse("shared_file", args=[link.token, alices["attachment"].pk]))
    assert response.status_code == 404


def test_the_owner_can_do_all_of_it(alice, alices):
    client = signed_in_client(alice)
    for method, url, data in requests_on(alices)[:-3]:
        if "delete" in url:
            continue
        assert getattr(client, method)(url, data).status_code in (200, 201, 302), url


def test_carol_does_not_see_or_reach_the_team_agent(carol, bob, team_agent, sketricgen_agent):
    carol_client, bob_client = signed_in_client(carol), signed_in_client(bob)
    home = carol_client.get(reverse("chat")).content.decode()
    assert "Team Helper" not in home
    assert "Helper" in home
    assert "Team Helper" in bob_client.get(reverse("chat")).content.decode()
    assert carol_client.get(reverse("new_conversation", args=[team_agent.slug])).status_code == 404
    assert carol_client.post(reverse("new_conversation", args=[team_agent.slug])).status_code == 404
    assert not Conversation.objects.filter(owner=carol).exists()


def test_a_disabled_or_group_limited_agent_is_not_visible(carol, team_agent):
    from conversations.access import visible_agents

    assert list(visible_agents(carol)) == []
    team_agent.groups.clear()
    assert list(visible_agents(carol)) == [team_agent]
    team_agent.enabled = False
    team_agent.save()
    assert list(visible_agents(carol)) == []


def test_fields_the_client_should_not_set_are_ignored(alice, bob, team_agent):
    client = signed_in_client(alice)
    response = client.post(
        reverse("new_conversation", args=[team_agent.slug]),
        {"owner": bob.pk, "owner_id": bob.pk, "user_id": bob.pk, "agent": 999, "id": "x"},
    )
    assert response.status_code == 201
    created = Conversation.objects.get(pk=response.json()["id"])
    assert (created.owner, created.agent) == (alice, team_agent)
    client.post(reverse("rename_conversation", args=[created.id]), {"title": "Renamed", "owner": bob.pk})
    created.refresh_from_db()
    assert (created.title, created.owner) == ("Renamed", alice)


def test_alices_conversation_is_readable_by_staff_in_the_admin(admin_client, alices):
    url = reverse("admin:conversations_conversation_change", args=[alices["conversation"].pk])
    assert "High at" in admin_client.get(url).content.decode()


def test_the_admin_limits_an_agent_to_groups(admin_client, sketricgen_agent, research_team, carol):
    from conversations.access import visible_agents

    assert list(visible_agents(carol)) == [sketricgen_agent]
    response = admin_client.post(
        reverse("admin:agents_agent_change", args=[sketricgen_agent.pk]),
        {
            "name": sketricgen_agent.name,
            "slug": sketricgen_agent.slug,
            "description": "",
            "credential": sketricgen_agent.credential_id,
            "upstream_agent_id": sketricgen_agent.upstream_agent_id,
            "options": "{}",
            "enabled": "on",
            "groups": [research_team.pk],
        },
    )
    assert response.status_code == 302, response.content
    assert list(visible_agents(carol)) == []
    listing = admin_client.get(reverse("admin:agents_agent_changelist")).content.decode()
    assert "Research" in listing
