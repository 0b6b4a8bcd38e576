"""An A2A agent's `input-required` question and a stopped task, through the whole relay against the
official a2a-sdk server (agents.fakes.a2a)."""

import asyncio

import pytest
from asgiref.sync import sync_to_async

from agents.fakes.a2a import QUESTION
from agents.models import Agent, Credential
from agents.providers import a2a
from agents.providers.a2a import QUESTION_ACTION
from conversations.models import Conversation
from tests.conversations.sockets import frames_until, messages_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def a2a_conversation(served_fakes, alice):
    server = served_fakes["a2a"]
    server.app.reset()
    server.app.token_delay = 0
    a2a._cards.clear()
    credential = Credential(platform="a2a", name="A2A", base_url=server.url)
    credential.set_api_key("demo-key")
    credential.save()
    agent = Agent.objects.create(
        name="Forecast", slug="forecast", credential=credential, upstream_agent_id="agent"
    )
    yield Conversation.objects.create(owner=alice, agent=agent), server.app
    server.app.reset()


async def test_the_agents_question_pauses_the_reply_and_the_answer_finishes_it(
    alice, a2a_conversation, connect
):
    conversation, fake = a2a_conversation
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "Weather tomorrow? [[ask]]"})
    frames = await frames_until(ws, "reply.ended")

    paused = frames[-1]
    assert paused["status"] == "paused"
    assert paused["text"] == QUESTION
    assert [a["name"] for a in paused["approval"]["actions"]] == [QUESTION_ACTION]
    task_id = paused["approval"]["request_id"]

    decisions = [{"type": "respond", "message": "Lisbon"}]
    await ws.send_json_to({"type": "decide", "message_id": paused["message_id"], "decisions": decisions})
    ended = (await frames_until(ws, "reply.ended"))[-1]

    assert ended["status"] == "complete", ended["error"]
    assert ended["message_id"] == paused["message_id"]
    assert ended["text"] == f"{QUESTION}\n\nThe forecast for Lisbon: sunny, 21 °C."
    reply = (await messages_of(conversation))[-1]
    assert reply.content == ended["text"]
    assert reply.approval["decisions"] == decisions
    answer = [r["body"] for r in fake.requests if r["method"] == "POST"][-1]["params"]["message"]
    assert answer["taskId"] == task_id
    saved = await sync_to_async(Conversation.objects.get)(pk=conversation.pk)
    assert answer["contextId"] == saved.upstream_conversation_id
    await ws.disconnect()


async def test_stopping_the_reply_cancels_the_agents_task(alice, a2a_conversation, connect):
    conversation, fake = a2a_conversation
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "A long one [[delay=0.3]]"})
    await frames_until(ws, "text_delta")
    await ws.send_json_to({"type": "stop"})
    ended = (await frames_until(ws, "reply.ended"))[-1]

    assert ended["status"] == "stopped"
    for _ in range(50):
        if fake.cancelled:
            break
        await asyncio.sleep(0.05)
    cancel = [r["body"] for r in fake.requests if r["method"] == "POST"][-1]
    assert cancel["method"] == "CancelTask"
    assert fake.cancelled == [cancel["params"]["id"]]
    await ws.disconnect()
