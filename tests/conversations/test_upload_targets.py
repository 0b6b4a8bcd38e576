"""An upload URL chosen by the platform passes the same address guard: an internal target fails the reply."""

import json

import pytest
from asgiref.sync import sync_to_async

from agents.models import Agent, Credential
from conversations.models import Conversation
from tests.conversations.sockets import frames_until, messages_of
from tests.conversations.test_attachment_delivery import attachments_of, uploaded
from tests.fakes import ServedApp
from tests.files import pdf_bytes, png_bytes
from tests.recording_server import RecordingServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def only_the_platform_is_allowed(settings, tmp_path):
    """Loopback refused as in production; the hostile platform is allowed by its name."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.UPSTREAM_ALLOW_LOOPBACK = False
    settings.UPSTREAM_ALLOWED_HOSTS = ["localhost"]


@pytest.fixture
def internal():
    with RecordingServer() as server:
        yield server


def hostile_platform(upload_target: str):
    """A platform whose upload step answers with `upload_target` as the place to send the file."""

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        if scope["path"] == "/publicAssetsUploadInit":
            answer = {"file_id": "file_1", "upload": {"url": upload_target, "fields": {"key": "k"}}}
        elif scope["path"] == "/upload_file":
            answer = {"data": {"id": "f1", "upload": upload_target, "public": "https://files.example/f1"}}
        else:
            answer = {"detail": "not here"}
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(answer).encode()})

    return app


@pytest.fixture
def on_hostile_platform(alice):
    served: list[ServedApp] = []

    def make(platform: str, upload_target: str) -> Conversation:
        server = ServedApp(hostile_platform(upload_target)).start()
        served.append(server)
        base = f"http://localhost:{server.port}"
        credential = Credential(platform=platform, name=platform, base_url=base)
        credential.options = {
            "sketricgen": {"admin_base_url": f"{base}/admin/v1"},
            "agentweave": {"upload_url": f"{base}/upload_file"},
        }[platform]
        credential.set_api_key("demo-key")
        credential.save()
        agent = Agent.objects.create(
            name=platform, slug=platform, credential=credential, upstream_agent_id="a1"
        )
        return Conversation.objects.create(owner=alice, agent=agent)

    yield sync_to_async(make)
    for server in served:
        server.stop()


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_a_sketricgen_upload_url_at_an_internal_address_fails_the_reply_naming_the_file(
    alice, on_hostile_platform, connect, internal, scheme
):
    target = f"{scheme}://127.0.0.1:{internal.port}/internal-only/admin?action=purge"
    conversation = await on_hostile_platform("sketricgen", target)
    photo = await uploaded(alice, conversation, "photo.png", png_bytes())
    _, ws = await connect(alice, conversation.id)

    await ws.send_json_to({"type": "send", "text": "Look", "attachments": [photo["id"]]})
    ended = (await frames_until(ws, "reply.ended", seconds=30))[-1]

    assert ended["status"] == "error"
    assert ended["error"].startswith(
        "Uploading “photo.png” to SketricGen failed: The site does not connect to 127.0.0.1"
    )
    assert "internal-only" not in ended["error"] and "secret" not in ended["error"]
    assert internal.received == []
    user_message, reply = await messages_of(conversation)
    assert await attachments_of(user_message) == ["photo.png"]
    assert reply.error == ended["error"]
    await ws.disconnect()


async def test_an_agentweave_upload_url_at_an_internal_address_fails_the_reply_naming_the_file(
    alice, on_hostile_platform, connect, internal
):
    target = f"https://127.0.0.1:{internal.port}/internal-only/put"
    conversation = await on_hostile_platform("agentweave", target)
    report = await uploaded(alice, conversation, "report.pdf", pdf_bytes())
    _, ws = await connect(alice, conversation.id)

    await ws.send_json_to({"type": "send", "text": "Summarise it", "attachments": [report["id"]]})
    ended = (await frames_until(ws, "reply.ended", seconds=30))[-1]

    assert ended["status"] == "error"
    assert ended["error"].startswith(
        "Uploading “report.pdf” to AgentWeave failed: "
        "The site does not connect to 127.0.0.1: it is a loopback address"
    )
    assert internal.received == []
    await ws.disconnect()


@pytest.mark.parametrize("target", ["ftp://files.example/upload", "file:///etc/passwd"])
async def test_an_upload_url_that_is_not_a_web_address_fails_the_reply(
    alice, on_hostile_platform, connect, target
):
    conversation = await on_hostile_platform("sketricgen", target)
    photo = await uploaded(alice, conversation, "photo.png", png_bytes())
    _, ws = await connect(alice, conversation.id)

    await ws.send_json_to({"type": "send", "text": "Look", "attachments": [photo["id"]]})
    ended = (await frames_until(ws, "reply.ended", seconds=30))[-1]

    assert ended["status"] == "error"
    assert ended["error"].startswith("Uploading “photo.png” to SketricGen failed:")
    assert "is not a web address" in ended["error"]
    await ws.disconnect()
