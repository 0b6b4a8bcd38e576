"""Chatting over the websocket with a real AG-UI agent: Pydantic AI's server (tests/ag_ui_server.py)."""

import pytest
from asgiref.sync import sync_to_async

from agents.models import Agent, Credential
from conversations.models import Conversation
from tests import ag_ui_server
from tests.conversations.sockets import frames_until, messages_of
from tests.fakes import ServedApp

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def pydantic_ai_server():
    with ServedApp(ag_ui_server.app) as served:
        yield served


@pytest.fixture
def agent_conversation(alice, pydantic_ai_server):
    credential = Credential(platform="ag_ui", name="Our agents", base_url=pydantic_ai_server.url)
    credential.set_api_key("")
    credential.save()
    agent = Agent.objects.create(
        name="Helper", slug="helper", credential=credential, upstream_agent_id="/agent"
    )
    ag_ui_server.DELETED.clear()
    return Conversation.objects.create(owner=alice, agent=agent)


async def send(ws, text: str) -> list[dict]:
    await ws.send_json_to({"type": "send", "text": text})
    return await frames_until(ws, "reply.ended")


async def test_the_agent_answers_with_the_conversation_behind_it(alice, agent_conversation, connect):
    _, ws = await connect(alice, agent_conversation.id)
    first = (await send(ws, "hello"))[-1]
    assert first["status"] == "complete", first["error"]
    assert first["text"] == "You said: “hello”. I was sent 0 earlier message(s)."
    second = (await send(ws, "again"))[-1]
    assert second["text"] == "You said: “again”. I was sent 2 earlier message(s)."
    saved = await sync_to_async(Conversation.objects.get)(pk=agent_conversation.pk)
    assert saved.upstream_conversation_id.startswith("chatsite-")
    await ws.disconnect()


async def test_a_tool_call_is_shown_with_its_arguments_and_result(alice, agent_conversation, connect):
    _, ws = await connect(alice, agent_conversation.id)
    ended = (await send(ws, "weather please"))[-1]
    assert ended["tool_calls"] == [
        {
            "id": "call_weather",
            "name": "get_weather",
            "status": "done",
            "arguments": '{"city": "Paris"}',
            "result": "Sunny in Paris, 22 °C",
        }
    ]
    assert ended["text"] == "The tool said: Sunny in Paris, 22 °C. Done."
    await ws.disconnect()


async def test_an_approval_pauses_the_reply_and_the_decision_runs_the_action(
    alice, agent_conversation, connect
):
    _, ws = await connect(alice, agent_conversation.id)
    paused = (await send(ws, "delete my notes"))[-1]
    assert paused["status"] == "paused", paused["error"]
    assert paused["approval"]["actions"] == [
        {"name": "delete_file", "args": {"path": "notes.txt"}, "allowed": ["approve", "reject"]}
    ]
    assert ag_ui_server.DELETED == []

    await ws.send_json_to(
        {"type": "decide", "message_id": paused["message_id"], "decisions": [{"type": "approve"}]}
    )
    ended = (await frames_until(ws, "reply.ended"))[-1]
    assert ended["status"] == "complete", ended["error"]
    assert ended["text"] == "The tool said: Deleted notes.txt. Done."
    assert ended["tool_calls"][0]["result"] == "Deleted notes.txt"
    assert ag_ui_server.DELETED == ["notes.txt"]
    messages = await messages_of(agent_conversation)
    assert [m.status for m in messages] == ["complete", "complete"]

    # The next turn carries the whole exchange, the approved call and its result included.
    after = (await send(ws, "thanks"))[-1]
    assert "I was sent 4 earlier message(s)." in after["text"]
    await ws.disconnect()


async def test_a_run_error_shows_on_the_reply(alice, agent_conversation, connect):
    _, ws = await connect(alice, agent_conversation.id)
    ended = (await send(ws, "crash now"))[-1]
    assert ended["status"] == "error"
    assert ended["error"] == "The agent reported an error: The scripted model crashed on purpose."
    messages = await messages_of(agent_conversation)
    assert messages[0].content == "crash now", "the user's message is kept"
    await ws.disconnect()
