"""A turn carries the conversation's earlier messages to platforms that keep no history of their own."""

import pytest
from asgiref.sync import sync_to_async

from agents.models import Agent, Credential
from agents.providers.base import HistoryBudget
from conversations.history import turn_history
from conversations.models import Conversation, Message
from conversations.relay.turns import history_for
from tests.conversations.sockets import frames_until, messages_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def openai_fake(served_fakes):
    server = served_fakes["openai_compatible"]
    server.app.reset()
    server.app.token_delay = 0
    yield server
    server.app.reset()


def model_conversation(owner, server, **options) -> Conversation:
    credential = Credential(platform="openai_compatible", name="Models", base_url=server.url + "/v1")
    credential.set_api_key("demo-key")
    credential.save()
    agent = Agent.objects.create(
        name="Model", slug="model", credential=credential, upstream_agent_id="fake-gpt", options=options
    )
    return Conversation.objects.create(owner=owner, agent=agent)


async def send(ws, text: str) -> dict:
    await ws.send_json_to({"type": "send", "text": text})
    return (await frames_until(ws, "reply.ended"))[-1]


async def test_each_turn_sends_the_earlier_messages_and_the_reply_knows_them(alice, openai_fake, connect):
    conversation = await sync_to_async(model_conversation)(alice, openai_fake)
    _, ws = await connect(alice, conversation.id)
    first = await send(ws, "My name is Alice")
    assert first["status"] == "complete", first["error"]
    second = await send(ws, "What is my name?")
    assert "2 earlier message(s) came with yours" in second["text"]
    sent = openai_fake.app.requests[-1]["body"]["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("user", "My name is Alice"),
        ("assistant", first["text"]),
        ("user", "What is my name?"),
    ]
    await ws.disconnect()


async def test_the_history_is_trimmed_to_the_agents_message_budget(alice, openai_fake, connect):
    conversation = await sync_to_async(model_conversation)(alice, openai_fake, history_messages="3")
    _, ws = await connect(alice, conversation.id)
    for text in ("one", "two", "three"):
        await send(ws, text)
    sent = openai_fake.app.requests[-1]["body"]["messages"]
    # Three earlier messages fit, but a history opens with the user: "two", its reply, then "three".
    assert [m["content"] for m in sent if m["role"] == "user"] == ["two", "three"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    await ws.disconnect()


async def test_a_failed_reply_is_left_out_and_a_retry_sends_what_came_before(alice, openai_fake, connect):
    conversation = await sync_to_async(model_conversation)(alice, openai_fake)
    _, ws = await connect(alice, conversation.id)
    await send(ws, "hello")
    failed = await send(ws, "break [[fail:400]]")
    assert failed["status"] == "error"
    await send(ws, "still there?")
    sent = openai_fake.app.requests[-1]["body"]["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == [
        "hello",
        "break [[fail:400]]",
        "still there?",
    ]
    assert [m["role"] for m in sent] == ["user", "assistant", "user", "user"]
    await ws.disconnect()


async def test_only_the_chosen_versions_are_sent_as_history(alice, openai_fake, connect):
    conversation = await sync_to_async(model_conversation)(alice, openai_fake)
    _, ws = await connect(alice, conversation.id)
    first = await send(ws, "Name a colour")
    await ws.send_json_to({"type": "regenerate", "message_id": first["message_id"]})
    second = (await frames_until(ws, "reply.ended"))[-1]
    question = await sync_to_async(lambda: conversation.chosen_path().first())()
    await ws.send_json_to(
        {"type": "edit", "message_id": question.pk, "text": "Name a fruit", "client_id": "e1"}
    )
    await frames_until(ws, "reply.ended")
    await send(ws, "And another?")
    sent = openai_fake.app.requests[-1]["body"]["messages"]
    assert [m["content"] for m in sent if m["role"] == "user"] == ["Name a fruit", "And another?"]
    assert first["text"] not in [m["content"] for m in sent] and second["text"] not in [
        m["content"] for m in sent
    ]
    await ws.disconnect()


def make_messages(conversation: Conversation, *pairs: tuple[str, str]) -> list[Message]:
    return [conversation.messages.create(role=role, content=text) for role, text in pairs]


def test_the_token_budget_keeps_the_newest_messages_that_fit(alice, served_fakes):
    conversation = model_conversation(alice, served_fakes["openai_compatible"])
    messages = make_messages(
        conversation,
        ("user", "a" * 400),
        ("assistant", "b" * 400),
        ("user", "c" * 40),
        ("assistant", "d" * 40),
    )
    new = conversation.messages.create(role="user", content="now")
    kept = turn_history(conversation, HistoryBudget(messages=50, tokens=120), before=new)
    assert [m.text[0] for m in kept] == ["c", "d"]
    everything = turn_history(conversation, HistoryBudget(messages=50, tokens=1000), before=new)
    assert [m.id for m in everything] == [f"m-{m.pk}" for m in messages]
    assert turn_history(conversation, HistoryBudget(messages=0, tokens=1000), before=new) == ()


def test_platforms_that_keep_their_own_history_are_sent_none(alice, sketricgen_agent, served_fakes):
    from agents.providers import provider_class

    conversation = Conversation.objects.create(owner=alice, agent=sketricgen_agent)
    make_messages(conversation, ("user", "hi"), ("assistant", "hello"))
    new = conversation.messages.create(role="user", content="again")
    provider = provider_class("sketricgen")
    assert history_for(provider, conversation, before=new) == ()
    models = model_conversation(alice, served_fakes["openai_compatible"])
    make_messages(models, ("user", "hi"), ("assistant", "hello"))
    new = models.messages.create(role="user", content="again")
    assert [m.text for m in history_for(provider_class("openai_compatible"), models, before=new)] == [
        "hi",
        "hello",
    ]


async def test_the_tokens_a_reply_used_are_shown_with_it_and_saved(alice, openai_fake, connect, client):
    conversation = await sync_to_async(model_conversation)(alice, openai_fake)
    _, ws = await connect(alice, conversation.id)
    ended = await send(ws, "Count my tokens [[words=9]]")
    assert ended["usage"] == {"input_tokens": 4, "output_tokens": 9}
    assert ended["usage_text"] == "4 tokens in, 9 out"
    reply = (await messages_of(conversation))[-1]
    assert reply.usage == {"input_tokens": 4, "output_tokens": 9}
    await ws.disconnect()

    await sync_to_async(client.force_login)(alice)
    page = (await sync_to_async(client.get)(conversation.get_absolute_url())).content.decode()
    assert ">4 tokens in, 9 out</span>" in page
