"""A version chosen in one page reaches the conversation's other pages live: tabs and share viewers."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.core.files.base import ContentFile
from django.urls import reverse

from conversations.attachments import owner_url
from conversations.models import Attachment, Conversation, Message, ShareLink
from tests.conversations.conftest import signed_in_client
from tests.conversations.sockets import frames_until
from tests.conversations.test_versions import choose, edit, send

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chat(alice, team_agent):
    return Conversation.objects.create(owner=alice, agent=team_agent, title="What is in the picture?")


@pytest.fixture
def edited_question(chat) -> tuple[Message, Message, Attachment]:
    """A question with a picture, then edited (the edit shows): (first version, edited one, the picture)."""
    question, _ = send(chat, "What is in the picture?")
    picture = Attachment(conversation=chat, message=question, name="roof.png", content_type="image/png")
    picture.size, picture.sha256 = 3, "0" * 64
    picture.file.save("roof.png", ContentFile(b"png"), save=False)
    picture.save()
    edited, _ = edit(chat, question, "Describe the picture")
    return question, edited, picture


@pytest.fixture
def live_link(chat, edited_question) -> ShareLink:
    link = ShareLink(conversation=chat, created_by=chat.owner, access=ShareLink.Access.MEMBERS, live=True)
    link.take_snapshot()
    link.save()
    return link


async def test_every_other_tab_and_live_viewer_is_told_which_version_is_shown(
    alice, bob, chat, edited_question, live_link, connect
):
    question, edited, _ = edited_question
    _, first_tab = await connect(alice, chat.id)
    _, second_tab = await connect(alice, chat.id)
    _, viewer = await connect(bob, path=f"/ws/share/{live_link.token}/")

    owner = await sync_to_async(signed_in_client)(alice)
    assert (await sync_to_async(choose)(owner, chat, question)).status_code == 200

    for socket in (first_tab, second_tab, viewer):
        told = (await frames_until(socket, "version.chosen"))[-1]
        assert (told["message_id"], told["replaces"]) == (question.pk, edited.pk)

    # Choosing the version shown already changes nothing, and tells nobody.
    assert (await sync_to_async(choose)(owner, chat, question)).status_code == 200
    assert await viewer.receive_nothing(timeout=0.3)
    for socket in (first_tab, second_tab, viewer):
        await socket.disconnect()


def from_message(client, url: str, message: Message) -> dict:
    response = client.get(f"{url}?from={message.pk}", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return json.loads(response.content)


def test_the_owners_other_tab_fetches_the_conversation_from_the_chosen_version(alice, chat, edited_question):
    question, _, _ = edited_question
    choose(signed_in_client(alice), chat, question)
    shown = from_message(signed_in_client(alice), reverse("conversation_messages", args=[chat.id]), question)
    assert "What is in the picture?" in shown["html"] and "Answer to What is in the picture?" in shown["html"]
    assert "Describe the picture" not in shown["html"]
    assert 'aria-label="Version 1 of 2"' in shown["html"]
    assert shown["title"] == "What is in the picture?"
    assert set(shown["texts"]) == {str(question.pk), str(question.pk + 1)}


def test_a_live_viewer_fetches_it_with_the_links_own_file_addresses(
    alice, bob, chat, edited_question, live_link
):
    question, _, picture = edited_question
    choose(signed_in_client(alice), chat, question)
    url = reverse("shared_messages", args=[live_link.token])
    shown = from_message(signed_in_client(bob), url, question)
    assert "What is in the picture?" in shown["html"]
    assert reverse("shared_file", args=[live_link.token, picture.pk]) in shown["html"]
    assert owner_url(picture) not in shown["html"]
    assert "Version 1 of 2" not in shown["html"], "share pages show the conversation, not its versions"


def test_only_the_owner_and_live_links_give_the_messages_from_a_version(
    alice, bob, chat, edited_question, live_link
):
    question, _, _ = edited_question
    owner_messages = reverse("conversation_messages", args=[chat.id])
    assert signed_in_client(bob).get(f"{owner_messages}?from={question.pk}").status_code == 404
    assert signed_in_client(alice).get(f"{owner_messages}?from=x").status_code == 404
    live_link.live = False
    live_link.save()
    shared = reverse("shared_messages", args=[live_link.token])
    assert signed_in_client(bob).get(f"{shared}?from={question.pk}").status_code == 404
