"""Files where conversations travel: share links, live viewers, copies, edits and exports."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.core.files.base import ContentFile
from django.urls import reverse

from conversations.models import Attachment, Conversation, Message, ShareLink
from tests.conversations.conftest import signed_in_client
from tests.conversations.sockets import frames_until
from tests.files import pdf_bytes, png_bytes

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def attach(
    conversation: Conversation, message: Message | None, name: str, data: bytes, kind: str
) -> Attachment:
    attachment = Attachment(
        conversation=conversation,
        message=message,
        name=name,
        content_type=kind,
        size=len(data),
        sha256="0" * 64,
    )
    attachment.file.save(name, ContentFile(data), save=False)
    attachment.save()
    return attachment


@pytest.fixture
def chat(alice, team_agent):
    conversation = Conversation.objects.create(owner=alice, agent=team_agent, title="Site photos")
    question = Message.objects.create(
        conversation=conversation, role=Message.Role.USER, content="What is this?"
    )
    attach(conversation, question, "roof.png", png_bytes(), "image/png")
    attach(conversation, question, "survey.pdf", pdf_bytes(), "application/pdf")
    Message.objects.create(conversation=conversation, role=Message.Role.ASSISTANT, content="A roof.")
    return conversation


def link_to(conversation: Conversation, **fields) -> ShareLink:
    link = ShareLink(conversation=conversation, created_by=conversation.owner, **fields)
    link.take_snapshot()
    link.save()
    return link


def test_a_share_page_shows_the_files_under_the_link_and_never_the_owners_addresses(alice, bob, chat):
    link = link_to(chat, access=ShareLink.Access.PUBLIC)
    page = signed_in_client(bob).get(link.get_absolute_url()).content.decode()

    assert "roof.png" in page and "survey.pdf" in page
    assert f"/c/{chat.id}/" not in page
    image = chat.attachments.get(name="roof.png")
    shared_url = reverse("shared_file", args=[link.token, image.pk])
    assert shared_url in page
    response = signed_in_client(bob).get(shared_url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == png_bytes()
    assert signed_in_client(bob).get(reverse("attachment", args=[chat.id, image.pk])).status_code == 404


def test_a_file_sent_after_the_snapshot_is_not_served_through_the_link(alice, bob, chat):
    link = link_to(chat, access=ShareLink.Access.MEMBERS)
    later = Message.objects.create(conversation=chat, role=Message.Role.USER, content="And this?")
    newer = attach(chat, later, "later.png", png_bytes(rgb=(0, 0, 0)), "image/png")

    response = signed_in_client(bob).get(reverse("shared_file", args=[link.token, newer.pk]))

    assert response.status_code == 404


def test_continuing_copies_the_files_so_the_copy_keeps_them_when_the_original_goes(alice, bob, chat):
    link = link_to(chat, access=ShareLink.Access.MEMBERS)
    bob_client = signed_in_client(bob)

    bob_client.post(reverse("continue_shared", args=[link.token]))
    chat.delete()

    copy = Conversation.objects.get(owner=bob)
    files = list(copy.attachments.order_by("name"))
    assert [(a.name, a.message.content) for a in files] == [
        ("roof.png", "What is this?"),
        ("survey.pdf", "What is this?"),
    ]
    response = bob_client.get(reverse("attachment", args=[copy.id, files[0].pk]))
    assert b"".join(response.streaming_content) == png_bytes()


def test_exports_name_the_attached_files(alice, chat):
    client = signed_in_client(alice)
    markdown = client.get(reverse("export_conversation", args=[chat.id, "md"])).content.decode()
    document = json.loads(client.get(reverse("export_conversation", args=[chat.id, "json"])).content)

    assert "Attached: roof.png (image/png" in markdown
    assert [a["name"] for a in document["messages"][0]["attachments"]] == ["roof.png", "survey.pdf"]


async def test_editing_a_message_keeps_its_files(alice, conversation, connect, sketricgen):
    sketricgen.app.token_delay = 0
    _, ws = await connect(alice, conversation.id)
    question = await sync_to_async(Message.objects.create)(
        conversation=conversation, role=Message.Role.USER, content="What is in the picture?"
    )
    await sync_to_async(attach)(conversation, question, "roof.png", png_bytes(), "image/png")

    await ws.send_json_to({"type": "edit", "message_id": question.pk, "text": "Describe the picture"})
    frames = await frames_until(ws, "reply.ended")

    shown = next(f for f in frames if f["type"] == "user_message")["message"]
    assert [a["name"] for a in shown["attachments"]] == ["roof.png"]
    assert frames[-1]["status"] == "complete"
    assert "roof.png" in frames[-1]["text"], "the platform received the file again"
    edited = await sync_to_async(lambda: conversation.chosen_path().get(role=Message.Role.USER))()
    assert edited.content == "Describe the picture"
    assert await sync_to_async(lambda: [a.name for a in edited.attachments.all()])() == ["roof.png"]
    # The earlier version keeps its file too: the same stored bytes under two rows.
    assert await sync_to_async(lambda: [a.name for a in question.attachments.all()])() == ["roof.png"]
    stored = await sync_to_async(lambda: {a.file.name for a in Attachment.objects.all()})()
    assert len(stored) == 1
    await ws.disconnect()


async def test_a_live_viewer_gets_the_files_of_a_new_message_under_the_link(
    alice, carol, chat, connect, sketricgen
):
    sketricgen.app.token_delay = 0
    link = await sync_to_async(link_to)(chat, access=ShareLink.Access.MEMBERS, live=True)
    _, viewer = await connect(carol, path=f"/ws/share/{link.token}/")
    _, owner = await connect(alice, chat.id)
    pending = await sync_to_async(attach)(chat, None, "plan.png", png_bytes(rgb=(1, 2, 3)), "image/png")

    await owner.send_json_to({"type": "send", "text": "And the plan?", "attachments": [pending.pk]})
    owner_frames = await frames_until(owner, "user_message")
    viewer_frames = await frames_until(viewer, "user_message")

    owner_file = owner_frames[-1]["message"]["attachments"][0]
    viewer_file = viewer_frames[-1]["message"]["attachments"][0]
    assert owner_file["url"] == reverse("attachment", args=[chat.id, pending.pk])
    assert viewer_file["url"] == reverse("shared_file", args=[link.token, pending.pk])
    await frames_until(owner, "reply.ended")
    await owner.disconnect()
    await viewer.disconnect()


async def test_deleting_a_conversation_mid_reply_stops_the_platforms_run(
    alice, conversation, connect, sketricgen
):
    from conversations import services

    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "a long one [[words=400]] [[delay=0.05]]"})
    await frames_until(ws, "text_delta")
    assert sketricgen.app.active_runs == 1

    await sync_to_async(services.delete_conversation)(conversation)

    for _ in range(100):
        if sketricgen.app.active_runs == 0:
            break
        await asyncio.sleep(0.02)
    assert sketricgen.app.active_runs == 0, "the upstream run went on after the conversation was deleted"
    assert not await sync_to_async(Conversation.objects.filter(pk=conversation.pk).exists)()
    await ws.disconnect()
