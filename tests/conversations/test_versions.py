"""Versions of a turn: regenerate and edit keep the earlier ones; the chosen path is what everything reads."""

import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from conversations import services
from conversations.models import Attachment, Conversation, Message, ShareLink
from conversations.relay.new_versions import save_edit, save_retry
from conversations.relay.turns import save_turn
from tests.conversations.conftest import signed_in_client

pytestmark = pytest.mark.django_db


def answered(prepared, text: str) -> Message:
    """The turn's streaming reply, finished with `text` (as the relay would)."""
    Message.objects.filter(pk=prepared.reply.pk).update(status=Message.Status.COMPLETE, content=text)
    return Message.objects.get(pk=prepared.reply.pk)


def send(conversation: Conversation, text: str) -> tuple[Message, Message]:
    prepared = save_turn.func(conversation.id, user_id=conversation.owner_id, text=text, relay_channel="test")
    return prepared.user_message, answered(prepared, f"Answer to {text}")


def regenerate(conversation: Conversation, reply: Message, text: str) -> Message:
    prepared = save_retry.func(
        conversation.id,
        user_id=conversation.owner_id,
        message_id=reply.pk,
        relay_channel="test",
        regenerate=True,
    )
    return answered(prepared, text)


def edit(conversation: Conversation, question: Message, text: str) -> tuple[Message, Message]:
    prepared = save_edit.func(
        conversation.id,
        user_id=conversation.owner_id,
        message_id=question.pk,
        text=text,
        relay_channel="test",
    )
    return prepared.user_message, answered(prepared, f"Answer to {text}")


def path_of(conversation: Conversation) -> list[str]:
    return [m.content for m in conversation.chosen_path()]


def choose(client, conversation: Conversation, message: Message):
    return client.post(
        reverse("choose_version", args=[conversation.id, message.pk]), HTTP_ACCEPT="application/json"
    )


@pytest.fixture
def story(conversation):
    """A question answered three times: the third answer is shown."""
    question, first = send(conversation, "Tell me a story")
    second = regenerate(conversation, first, "A story about a lighthouse")
    third = regenerate(conversation, second, "A story about a narwhal")
    return question, first, second, third


def test_regenerating_twice_keeps_three_versions_and_shows_the_newest(conversation, story):
    question, first, second, third = story
    assert path_of(conversation) == ["Tell me a story", "A story about a narwhal"]
    assert conversation.messages.count() == 4
    assert {first.first_version_id, second.first_version_id, third.first_version_id} == {None, first.pk}
    assert {first.parent_id, second.parent_id, third.parent_id} == {question.pk}

    page = signed_in_client(conversation.owner).get(conversation.get_absolute_url()).content.decode()
    assert 'aria-label="Version 3 of 3"' in page
    assert f'data-version="{second.pk}"' in page
    assert "Answer to Tell me a story" not in page


def test_the_chosen_version_is_what_history_exports_search_and_share_pages_show(alice, conversation, story):
    _, first, second, _third = story
    owner = signed_in_client(alice)
    response = choose(owner, conversation, second)
    assert response.status_code == 200
    assert "A story about a lighthouse" in response.json()["html"]
    assert 'aria-label="Version 2 of 3"' in response.json()["html"]
    assert path_of(conversation) == ["Tell me a story", "A story about a lighthouse"]

    page = owner.get(conversation.get_absolute_url()).content.decode()
    assert "A story about a lighthouse" in page and "narwhal" not in page
    markdown = owner.get(reverse("export_conversation", args=[conversation.id, "md"])).content.decode()
    assert "A story about a lighthouse" in markdown and "narwhal" not in markdown
    document = json.loads(owner.get(reverse("export_conversation", args=[conversation.id, "json"])).content)
    assert [m["content"] for m in document["messages"]] == ["Tell me a story", "A story about a lighthouse"]

    found = owner.get(reverse("search"), {"q": "lighthouse"}, HTTP_ACCEPT="application/json").json()
    assert [hit["id"] for hit in found["results"]] == [conversation.id]
    assert (
        owner.get(reverse("search"), {"q": "narwhal"}, HTTP_ACCEPT="application/json").json()["results"] == []
    )

    for live in (False, True):
        link = ShareLink(conversation=conversation, created_by=alice, live=live)
        link.take_snapshot()
        shared = owner.get(link.get_absolute_url()).content.decode()
        assert "A story about a lighthouse" in shared, live
        assert "narwhal" not in shared and "Answer to Tell me a story" not in shared, live
        assert "Version 2 of 3" not in shared  # readers see the conversation, not its versions

    snapshot = ShareLink.objects.filter(live=False).get()
    assert not services.share_link_is_stale(snapshot)
    choose(owner, conversation, first)
    assert services.share_link_is_stale(snapshot), "another version was chosen since"


def test_new_turns_follow_the_chosen_version_and_each_version_keeps_what_followed_it(
    alice, conversation, story
):
    _, first, _second, third = story
    owner = signed_in_client(alice)
    send(conversation, "And then?")
    assert path_of(conversation)[-2:] == ["And then?", "Answer to And then?"]

    choose(owner, conversation, first)
    assert path_of(conversation) == ["Tell me a story", "Answer to Tell me a story"]
    send(conversation, "Shorter, please")
    assert path_of(conversation)[2:] == ["Shorter, please", "Answer to Shorter, please"]

    response = choose(owner, conversation, third)
    assert path_of(conversation) == [
        "Tell me a story",
        "A story about a narwhal",
        "And then?",
        "Answer to And then?",
    ]
    assert "And then?" in response.json()["html"]
    choose(owner, conversation, first)
    assert path_of(conversation)[2:] == ["Shorter, please", "Answer to Shorter, please"]


def test_each_version_of_an_edited_message_keeps_its_own_reply(alice, conversation):
    owner = signed_in_client(alice)
    send(conversation, "Hello")
    question, _ = send(conversation, "What is the capitol of France?")
    fixed, _fixed_reply = edit(conversation, question, "What is the capital of France?")
    assert path_of(conversation)[2:] == [
        "What is the capital of France?",
        "Answer to What is the capital of France?",
    ]
    assert (fixed.parent_id, fixed.first_version_id) == (question.parent_id, question.pk)

    response = choose(owner, conversation, question)
    assert path_of(conversation)[2:] == [
        "What is the capitol of France?",
        "Answer to What is the capitol of France?",
    ]
    html = response.json()["html"]
    assert "The agent also saw your later version." in html
    assert "Answer to What is the capitol of France?" in html

    choose(owner, conversation, fixed)
    page = owner.get(conversation.get_absolute_url()).content.decode()
    assert "The agent also saw your earlier version." in page
    assert "Answer to What is the capital of France?" in page


def test_the_title_follows_an_edited_first_message_unless_it_was_renamed(alice, conversation):
    owner = signed_in_client(alice)
    question, _ = send(conversation, "Recipes with leeks")
    edited, _ = edit(conversation, question, "Recipes with leeks and potatoes")
    conversation.refresh_from_db()
    assert conversation.title == "Recipes with leeks and potatoes"

    assert choose(owner, conversation, question).json()["title"] == "Recipes with leeks"
    conversation.refresh_from_db()
    assert conversation.title == "Recipes with leeks"

    owner.post(reverse("rename_conversation", args=[conversation.id]), {"title": "Dinner"})
    choose(owner, conversation, edited)
    conversation.refresh_from_db()
    assert conversation.title == "Dinner"


def test_versions_are_not_switched_while_a_reply_runs(alice, conversation, story):
    _, first, _second, third = story
    Message.objects.filter(pk=third.pk).update(status=Message.Status.STREAMING)
    response = choose(signed_in_client(alice), conversation, first)
    assert response.status_code == 409
    assert "Wait for the reply to finish" in response.json()["error"]
    assert path_of(conversation)[-1] == "A story about a narwhal"


def test_only_the_owner_chooses_and_only_versions_shown(alice, bob, conversation, story):
    question, first, _second, _third = story
    assert choose(signed_in_client(bob), conversation, first).status_code == 404
    assert path_of(conversation)[-1] == "A story about a narwhal"

    # A version of a turn that is itself off the chosen path cannot be chosen from the page.
    _fixed, _ = edit(conversation, question, "Tell me a long story")
    response = choose(signed_in_client(alice), conversation, first)
    assert response.status_code == 409
    assert path_of(conversation) == ["Tell me a long story", "Answer to Tell me a long story"]


def test_a_file_shared_by_versions_goes_with_the_last_of_them(
    alice, conversation, django_capture_on_commit_callbacks
):
    question, _ = send(conversation, "What is in the picture?")
    attachment = Attachment(
        conversation=conversation,
        message=question,
        name="roof.png",
        content_type="image/png",
        size=3,
        sha256="0" * 64,
    )
    attachment.file.save("roof.png", ContentFile(b"png"), save=False)
    attachment.save()
    edited, _ = edit(conversation, question, "Describe the picture")
    name = attachment.file.name
    assert [a.file.name for a in edited.attachments.all()] == [name]

    with django_capture_on_commit_callbacks(execute=True):
        attachment.delete()
    assert default_storage.exists(name), "the edited version still shows it"
    with django_capture_on_commit_callbacks(execute=True):
        conversation.delete()
    assert not default_storage.exists(name)
