"""A snapshot link shows exactly what it showed when shared or last updated; nothing added later leaks."""

import pytest
from asgiref.sync import sync_to_async
from django.core.files.base import ContentFile
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import reverse

from conversations.models import Attachment, Conversation, Message, ShareLink
from conversations.rendering import render_markdown
from tests.conversations.conftest import signed_in_client
from tests.conversations.sockets import frames_until
from tests.conversations.test_sharing import add_turn, share


def token_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


@pytest.fixture
def chat(alice, sketricgen_agent):
    conversation = Conversation.objects.create(owner=alice, agent=sketricgen_agent, title="Tide tables")
    add_turn(conversation, "When is high tide?", "High tide is at noon.")
    return conversation


@pytest.mark.django_db(transaction=True)
async def test_a_paused_reply_that_grows_after_the_decision_stays_as_it_was_shared(
    alice, conversation, connect, sketricgen
):
    sketricgen.app.token_delay = 0
    await sync_to_async(
        lambda: conversation.agent.__class__.objects.filter(pk=conversation.agent_id).update(
            options={"enable_hitl": True}
        )
    )()
    await sync_to_async(lambda: Conversation.objects.filter(pk=conversation.pk).update(title="Mail"))()
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "mail the team [[hitl]]"})
    paused = (await frames_until(ws, "reply.ended"))[-1]
    assert paused["status"] == "paused"
    owner = await sync_to_async(signed_in_client)(alice)
    url = await sync_to_async(share)(owner, conversation, access="public")

    decisions = [{"type": "respond", "message": "Say 5% instead"}, {"type": "approve"}]
    await ws.send_json_to({"type": "decide", "message_id": paused["message_id"], "decisions": decisions})
    ended = (await frames_until(ws, "reply.ended"))[-1]
    await ws.disconnect()
    added = "send_email answered with"
    assert ended["status"] == "complete" and added in ended["text"]

    page = (await sync_to_async(Client().get)(url)).content.decode()
    assert f'<div class="md">{render_markdown(paused["text"])}</div>' in page
    assert added not in page, "text added after sharing leaked into the snapshot"
    assert "The agent is waiting for your decision" not in page  # rendered by JS; the panel data is frozen
    assert "&quot;status&quot;: &quot;pending&quot;" in page

    link = await sync_to_async(ShareLink.objects.get)()
    await sync_to_async(owner.post)(reverse("update_share_link", args=[link.pk]))
    assert added in (await sync_to_async(Client().get)(url)).content.decode()


@pytest.mark.django_db
def test_a_reply_regenerated_after_sharing_does_not_change_the_snapshot(alice, chat):
    owner = signed_in_client(alice)
    url = share(owner, chat, access="public")
    # What regenerating and editing do to the saved rows: the reply's text is replaced in place
    # by the relay's `.update()`, the user message is replaced by a new one.
    chat.messages.filter(role=Message.Role.ASSISTANT).update(content="Low tide is at six.")
    question = chat.messages.get(role=Message.Role.USER)
    question.content = "When is low tide?"
    question.save()

    page = Client().get(url).content.decode()
    assert "High tide is at noon." in page and "When is high tide?" in page
    assert "Low tide" not in page and "low tide" not in page

    link = ShareLink.objects.get()
    owner.post(reverse("update_share_link", args=[link.pk]))
    page = Client().get(url).content.decode()
    assert "Low tide is at six." in page and "When is low tide?" in page
    assert "High tide" not in page


@pytest.mark.django_db
def test_continuing_from_a_snapshot_copies_what_it_shows_not_what_came_later(alice, bob, chat):
    url = share(signed_in_client(alice), chat, access="members")
    chat.messages.filter(role=Message.Role.ASSISTANT).update(content="Changed after sharing.")
    add_turn(chat, "And low tide?", "Low tide is at six.")

    signed_in_client(bob).post(reverse("continue_shared", args=[token_of(url)]))
    copy = Conversation.objects.get(owner=bob)
    assert [m.content for m in copy.messages.all()] == ["When is high tide?", "High tide is at noon."]


@pytest.mark.django_db
def test_a_snapshot_serves_the_files_it_showed_and_not_files_sent_later(alice, chat):
    url = share(signed_in_client(alice), chat, access="public")
    later = Message.objects.create(conversation=chat, role=Message.Role.USER, content="see file")
    attachment = Attachment(
        conversation=chat, message=later, name="later.txt", content_type="text/plain", size=5, sha256="x"
    )
    attachment.file.save("later.txt", ContentFile(b"later"), save=False)
    attachment.save()
    assert Client().get(reverse("shared_file", args=[token_of(url), attachment.pk])).status_code == 404

    owner = signed_in_client(alice)
    owner.post(reverse("update_share_link", args=[ShareLink.objects.get().pk]))
    response = Client().get(reverse("shared_file", args=[token_of(url), attachment.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"later"


@pytest.mark.django_db
def test_a_live_link_keeps_showing_the_conversation_as_it_is(alice, bob, chat):
    url = share(signed_in_client(alice), chat, access="members", live="1")
    chat.messages.filter(role=Message.Role.ASSISTANT).update(content="Changed after sharing.")
    assert "Changed after sharing." in signed_in_client(bob).get(url).content.decode()


@pytest.mark.django_db(transaction=True)
def test_links_made_before_the_copy_existed_show_their_old_extent_frozen(alice, sketricgen_agent):
    executor = MigrationExecutor(connection)
    executor.migrate([("conversations", "0005_rendered_html_and_frozen_share_copies")])
    old_apps = executor.loader.project_state(
        [("conversations", "0005_rendered_html_and_frozen_share_copies")]
    ).apps
    OldConversation = old_apps.get_model("conversations", "Conversation")
    OldMessage = old_apps.get_model("conversations", "Message")
    OldShareLink = old_apps.get_model("conversations", "ShareLink")
    conversation = OldConversation.objects.create(
        owner_id=alice.pk, agent_id=sketricgen_agent.pk, title="Old"
    )
    shown = OldMessage.objects.create(conversation=conversation, role="user", content="Shown then.")
    OldMessage.objects.create(conversation=conversation, role="assistant", content="Added later.")
    OldShareLink.objects.create(
        conversation=conversation,
        created_by_id=alice.pk,
        key="k" * 12,
        secret="s" * 32,
        access="public",
        last_message_id=shown.pk,
    )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    page = Client().get(reverse("shared_conversation", args=["k" * 12 + "s" * 32])).content.decode()
    assert "Shown then." in page
    assert "Added later." not in page
    Message.objects.filter(pk=shown.pk).update(content="Edited since.")
    assert (
        "Shown then."
        in Client().get(reverse("shared_conversation", args=["k" * 12 + "s" * 32])).content.decode()
    )
