"""Attached files reach each platform the way it expects, through the whole relay and its fake."""

import base64
import hashlib

import pytest
from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from agents.models import Agent, Credential
from conversations.models import Attachment, Conversation, Message
from tests.conversations.sockets import frames_until, messages_of
from tests.files import pdf_bytes, png_bytes

pytestmark = pytest.mark.django_db(transaction=True)

UPSTREAM_IDS = {"sketricgen": "agent-demo", "workflow_chat": "caddie", "agentweave": "agent-demo"}


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def on_platform(served_fakes, alice):
    """A conversation of alice's with an agent on the named platform's fake."""
    used = []

    def make(name: str) -> Conversation:
        server = served_fakes[name]
        server.app.reset()
        server.app.token_delay = 0
        used.append(server)
        credential = Credential(platform=name, name=name, base_url=server.url)
        credential.options = {
            "sketricgen": {"admin_base_url": f"{server.url}/admin/v1"},
            "agentweave": {"upload_url": f"{server.url}/upload_file"},
        }.get(name, {})
        credential.set_api_key("demo-key")
        credential.save()
        agent = Agent.objects.create(
            name=name,
            slug=name.replace("_", "-"),
            credential=credential,
            upstream_agent_id=UPSTREAM_IDS[name],
        )
        return Conversation.objects.create(owner=alice, agent=agent)

    yield sync_to_async(make)
    for server in used:
        server.app.reset()


@sync_to_async
def uploaded(user, conversation: Conversation, name: str, data: bytes) -> dict:
    client = Client()
    client.force_login(user)
    response = client.post(
        reverse("upload_attachment", args=[conversation.id]), {"file": SimpleUploadedFile(name, data)}
    )
    assert response.status_code == 201, response.content
    return response.json()


@sync_to_async
def attachments_of(message: Message) -> list[str]:
    return [a.name for a in message.attachments.all()]


async def test_sketricgen_gets_each_file_by_the_three_step_upload_then_as_assets(
    alice, on_platform, connect, served_fakes
):
    conversation = await on_platform("sketricgen")
    fake = served_fakes["sketricgen"].app
    fake.upload_delay = 0.2
    photo = await uploaded(alice, conversation, "photo.png", png_bytes())
    report = await uploaded(alice, conversation, "report.pdf", pdf_bytes())
    _, ws = await connect(alice, conversation.id)

    await ws.send_json_to(
        {
            "type": "send",
            "text": "What are these?",
            "client_id": "c1",
            "attachments": [photo["id"], report["id"]],
        }
    )
    frames = await frames_until(ws, "reply.ended")

    saved = frames[0]
    assert saved["type"] == "user_message"
    assert [a["name"] for a in saved["message"]["attachments"]] == ["photo.png", "report.pdf"]
    ended = frames[-1]
    assert ended["status"] == "complete", ended["error"]
    assert f"“photo.png” (image/png, {len(png_bytes())} bytes)" in ended["text"]
    assert f"“report.pdf” (application/pdf, {len(pdf_bytes())} bytes)" in ended["text"]
    inits = [r for r in fake.requests if r["path"] == "/publicAssetsUploadInit"]
    assert {r["body"]["file_name"] for r in inits} == {"photo.png", "report.pdf"}
    steps = [r["path"] for r in fake.requests]
    assert steps[:2] == ["/publicAssetsUploadInit"] * 2, "the files were not uploaded in parallel"
    assert all(r["headers"]["x-api-key"] == "demo-key" for r in inits)
    run = next(r for r in fake.requests if r["path"] == "/api/v1/run-workflow")
    assert len(run["body"]["assets"]) == 2
    user_message = (await messages_of(conversation))[0]
    assert await attachments_of(user_message) == ["photo.png", "report.pdf"]
    await ws.disconnect()


async def test_workflow_chat_gets_images_as_base64(alice, on_platform, connect, served_fakes):
    conversation = await on_platform("workflow_chat")
    fake = served_fakes["workflow_chat"].app
    data = png_bytes(8, 8)
    photo = await uploaded(alice, conversation, "chart.png", data)
    _, ws = await connect(alice, conversation.id)

    await ws.send_json_to({"type": "send", "text": "Describe this chart", "attachments": [photo["id"]]})
    ended = (await frames_until(ws, "reply.ended"))[-1]

    assert ended["status"] == "complete", ended["error"]
    assert f"I received 1 image(s): image/png ({len(data)} bytes)." in ended["text"]
    sent = next(r for r in fake.requests if r["body"] and r["body"].get("images"))
    encoded = sent["body"]["images"][0]["base64"]
    assert encoded.startswith("data:image/png;base64,")
    assert base64.b64decode(encoded.partition(",")[2]) == data
    await ws.disconnect()


async def test_agentweave_gets_the_file_by_its_upload_flow_then_as_file_url(
    alice, on_platform, connect, served_fakes
):
    conversation = await on_platform("agentweave")
    fake = served_fakes["agentweave"].app
    data = pdf_bytes()
    report = await uploaded(alice, conversation, "report.pdf", data)
    _, ws = await connect(alice, conversation.id)

    await ws.send_json_to({"type": "send", "text": "Summarise it", "attachments": [report["id"]]})
    ended = (await frames_until(ws, "reply.ended"))[-1]

    assert ended["status"] == "complete", ended["error"]
    assert f"you attached “report.pdf” ({len(data)} bytes)" in ended["text"]
    asked = next(r for r in fake.requests if r["path"] == "/upload_file")["body"]["request_data"]
    assert asked["hash"] == hashlib.sha256(data).hexdigest()
    assert asked["file_type"] == "application/pdf"
    assert asked["file_size"] == len(data)
    chat = next(r for r in fake.requests if r["path"].startswith("/api/v1/chat/agent/"))["body"]
    assert "/files/" in chat["file"]["file_url"]
    assert chat["type"] == "text"
    await ws.disconnect()


async def test_a_failed_upload_fails_the_reply_naming_the_file_and_retry_sends_it_again(
    alice, on_platform, connect, served_fakes
):
    conversation = await on_platform("sketricgen")
    fake = served_fakes["sketricgen"].app
    fake.upload_failure = "s3"
    photo = await uploaded(alice, conversation, "photo.png", png_bytes())
    _, ws = await connect(alice, conversation.id)

    await ws.send_json_to({"type": "send", "text": "Look", "attachments": [photo["id"]]})
    ended = (await frames_until(ws, "reply.ended", seconds=30))[-1]

    assert ended["status"] == "error"
    assert ended["error"].startswith("Uploading “photo.png” to SketricGen failed:")
    user_message, reply = await messages_of(conversation)
    assert user_message.content == "Look"
    assert await attachments_of(user_message) == ["photo.png"]

    fake.upload_failure = None
    await ws.send_json_to({"type": "retry", "message_id": reply.pk})
    ended = (await frames_until(ws, "reply.ended", seconds=30))[-1]
    assert ended["status"] == "complete", ended["error"]
    assert "“photo.png” (image/png" in ended["text"]
    await ws.disconnect()


async def test_files_of_another_conversation_are_refused_and_nothing_is_saved(
    alice, on_platform, connect, conversation
):
    mine = await on_platform("sketricgen")
    elsewhere = await uploaded(alice, conversation, "other.png", png_bytes())
    _, ws = await connect(alice, mine.id)

    await ws.send_json_to({"type": "send", "text": "hi", "client_id": "c9", "attachments": [elsewhere["id"]]})
    refused = (await frames_until(ws, "error"))[-1]

    assert refused["code"] == "INVALID_INPUT"
    assert refused["client_id"] == "c9"
    assert "no longer there" in refused["message"]
    assert await messages_of(mine) == []
    still_pending = await sync_to_async(Attachment.objects.get)(pk=elsewhere["id"])
    assert still_pending.message_id is None
    await ws.disconnect()


async def test_attachments_must_be_a_list_of_ids(alice, on_platform, connect):
    conversation = await on_platform("sketricgen")
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "hi", "attachments": "all"})
    refused = (await frames_until(ws, "error"))[-1]
    assert refused["code"] == "BAD_FRAME"
    await ws.disconnect()
