"""Every platform through the whole relay: websocket in, fake platform over HTTP, saved reply out."""

import pytest
from asgiref.sync import sync_to_async

from agents.models import Agent, Credential
from agents.providers import provider_class
from conversations.models import Conversation
from tests.conversations.sockets import frames_until, messages_of

pytestmark = pytest.mark.django_db(transaction=True)

# platform: (upstream agent id, does the platform report tool calls)
PLATFORMS = {
    "sketricgen": ("agent-demo", True),
    "workflow_chat": ("caddie", True),
    "slug_chat": ("support-agent", False),
    "agentweave": ("agent-demo", False),
    "openai_compatible": ("fake-gpt", False),
    "ag_ui": ("agent", True),
    "a2a": ("agent", False),
}


def conversation_on(name: str, server, owner) -> Conversation:
    server.app.reset()
    server.app.token_delay = 0
    credential = Credential(platform=name, name=name, base_url=server.url)
    credential.set_api_key("demo-key")
    credential.save()
    agent = Agent.objects.create(
        name=name, slug=name.replace("_", "-"), credential=credential, upstream_agent_id=PLATFORMS[name][0]
    )
    return Conversation.objects.create(owner=owner, agent=agent)


@pytest.fixture(params=sorted(PLATFORMS))
def platform_conversation(request, served_fakes, alice):
    yield request.param, conversation_on(request.param, served_fakes[request.param], alice)
    served_fakes[request.param].app.reset()


@pytest.fixture(params=sorted(name for name, (_, has_tools) in PLATFORMS.items() if has_tools))
def tool_platform_conversation(request, served_fakes, alice):
    yield conversation_on(request.param, served_fakes[request.param], alice)
    served_fakes[request.param].app.reset()


async def test_each_platform_streams_a_reply_that_is_saved_and_continued(
    alice, platform_conversation, connect
):
    name, conversation = platform_conversation
    _, ws = await connect(alice, conversation.id)

    await ws.send_json_to({"type": "send", "text": "hello there"})
    first = await frames_until(ws, "reply.ended")
    ended = first[-1]
    assert ended["status"] == "complete", ended["error"]
    assert [f["seq"] for f in first[1:]] == list(range(0, len(first) - 1))
    reply = (await messages_of(conversation))[-1]
    assert reply.content == ended["text"]
    assert "simulated" in reply.content.lower()
    assert "hello there" in reply.content
    saved = await sync_to_async(Conversation.objects.get)(pk=conversation.pk)
    # A platform that keeps no history of its own is continued by the history each turn sends.
    assert saved.upstream_conversation_id or provider_class(name).sends_history

    await ws.send_json_to({"type": "send", "text": "and again"})
    second = (await frames_until(ws, "reply.ended"))[-1]
    assert second["status"] == "complete"
    assert "turn 2" in second["text"].lower(), f"{name} did not continue the conversation"
    await ws.disconnect()


async def test_platforms_with_tool_events_show_tool_calls(alice, tool_platform_conversation, connect):
    conversation = tool_platform_conversation
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "look it up [[tool]]"})
    frames = await frames_until(ws, "reply.ended")
    tool_frames = [f["type"] for f in frames if f["type"].startswith("tool_")]
    # A platform that sends the result after the call's end finishes it a second time, with the result.
    assert tool_frames[:2] == ["tool_started", "tool_finished"] and set(tool_frames[2:]) <= {"tool_finished"}
    assert frames[-1]["tool_calls"][0]["status"] == "done"
    reply = (await messages_of(conversation))[-1]
    assert reply.tool_calls == frames[-1]["tool_calls"]
    await ws.disconnect()


async def test_each_platform_shows_a_server_error_in_words_and_keeps_the_message(
    alice, platform_conversation, connect
):
    _, conversation = platform_conversation
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "break [[fail:500]]"})
    ended = (await frames_until(ws, "reply.ended"))[-1]
    assert ended["status"] == "error"
    assert "500" in ended["error"] and "<" not in ended["error"]
    user_message, reply = await messages_of(conversation)
    assert user_message.content == "break [[fail:500]]"
    assert reply.status == "error"
    await ws.disconnect()
