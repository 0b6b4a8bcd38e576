"""The OpenAI-compatible adapter over real HTTP against its fake (checked by the official client)."""

import asyncio
import re
from contextlib import aclosing

import pytest

from agents.providers.base import (
    AgentSpec,
    Connection,
    HistoryMessage,
    Turn,
    TurnFile,
    UpstreamError,
    UserRef,
)
from agents.providers.events import RunFinished, RunStarted, TextDelta, Usage
from agents.providers.openai_compatible import OpenAICompatibleProvider

ALICE = UserRef(1, "alice", "alice@example.com")
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 16


@pytest.fixture
def fake(fake_platform):
    return fake_platform("openai_compatible")


def provider(fake, model="fake-gpt", key="demo-key", **options) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(Connection(fake.url + "/v1", key), AgentSpec(model, options))


async def collect(provider, turn):
    async with aclosing(provider.stream_reply(turn)) as events:
        return [event async for event in events]


def image(name="cat.png") -> TurnFile:
    return TurnFile(id=name, name=name, content_type="image/png", size=len(PNG), sha256="", read=lambda: PNG)


async def test_a_streamed_reply_with_its_usage(fake):
    events = await collect(provider(fake), Turn(text="Hello there", user=ALICE))
    assert isinstance(events[0], RunStarted)
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert "You said: “Hello there”" in text
    usage = [e for e in events if isinstance(e, Usage)]
    assert len(usage) == 1 and usage[0].output_tokens > 0 and usage[0].input_tokens == 2
    assert isinstance(events[-1], RunFinished)
    sent = fake.app.requests[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["headers"]["authorization"] == "Bearer demo-key"
    assert sent["body"]["stream"] is True and sent["body"]["stream_options"] == {"include_usage": True}


async def test_the_history_and_the_system_prompt_go_with_every_turn(fake):
    history = (
        HistoryMessage(role="user", text="My name is Alice.", images=(image(),)),
        HistoryMessage(role="assistant", text="Hello Alice.", tool_calls=({"id": "c1", "name": "t"},)),
    )
    turn = Turn(text="What is my name?", user=ALICE, history=history)
    events = await collect(provider(fake, system_prompt="Be kind."), turn)
    assert "2 earlier message(s) came with yours" in "".join(
        e.text for e in events if isinstance(e, TextDelta)
    )
    assert fake.app.requests[-1]["body"]["messages"] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "My name is Alice."},
        {"role": "assistant", "content": "Hello Alice."},
        {"role": "user", "content": "What is my name?"},
    ]


async def test_images_go_as_content_parts_when_the_model_takes_them(fake):
    history = (
        HistoryMessage(role="user", text="Look", images=(image(),)),
        HistoryMessage("assistant", "Nice."),
    )
    turn = Turn(text="And this one?", user=ALICE, files=(image("dog.png"),), history=history)
    events = await collect(provider(fake, "fake-vision", images=True), turn)
    assert "2 image(s) in the request" in "".join(e.text for e in events if isinstance(e, TextDelta))
    last = fake.app.requests[-1]["body"]["messages"][-1]
    assert last["content"][0] == {"type": "text", "text": "And this one?"}
    assert last["content"][1]["image_url"]["url"].startswith("data:image/png;base64,iVBORw0KGgo")


async def test_images_are_refused_for_a_model_that_does_not_take_them(fake):
    turn = Turn(text="What is this?", user=ALICE, files=(image(),))
    with pytest.raises(UpstreamError, match="does not take images"):
        await collect(provider(fake), turn)
    assert fake.app.requests == []


async def test_a_reply_not_streamed(fake):
    events = await collect(provider(fake, stream=False), Turn(text="Once [[words=5]]", user=ALICE))
    assert [type(e) for e in events] == [RunStarted, TextDelta, Usage, RunFinished]
    assert len(events[1].text.split()) == 5
    assert fake.app.requests[-1]["body"]["stream"] is False


@pytest.mark.parametrize(
    ("message", "model", "key", "expected", "retryable"),
    [
        ("Hi", "fake-gpt", "wrong", "rejected this credential (HTTP 401)", False),
        ("Hi", "missing-model", "demo-key", "The model `missing-model` does not exist", False),
        ("Hi [[fail:429]]", "fake-gpt", "demo-key", "rate limiting", True),
        ("Hi [[fail:503]]", "fake-gpt", "demo-key", "engine is currently overloaded", True),
    ],
)
async def test_http_errors_say_what_the_server_said(fake, message, model, key, expected, retryable):
    with pytest.raises(UpstreamError, match=re.escape(expected)) as failed:
        await collect(provider(fake, model, key), Turn(text=message, user=ALICE))
    assert failed.value.retryable is retryable


async def test_an_error_inside_the_stream_ends_the_reply_with_the_servers_words(fake):
    seen = []
    with pytest.raises(UpstreamError, match="The model crashed while answering"):
        async with aclosing(
            provider(fake).stream_reply(Turn(text="Go [[fail:stream-error]]", user=ALICE))
        ) as events:
            async for event in events:
                seen.append(event)
    assert any(isinstance(e, TextDelta) for e in seen)


async def test_a_stream_that_stops_without_done_is_incomplete(fake):
    with pytest.raises(UpstreamError, match="incomplete"):
        await collect(provider(fake), Turn(text="Go [[fail:drop]]", user=ALICE))


async def test_a_reply_cut_at_the_length_limit_says_so(fake):
    with pytest.raises(UpstreamError, match="length limit"):
        await collect(provider(fake), Turn(text="Go [[length]]", user=ALICE))


async def test_stopping_a_reply_closes_the_connection(fake):
    events = provider(fake).stream_reply(Turn(text="Long [[words=400]] [[delay=0.2]]", user=ALICE))
    async with aclosing(events):
        async for event in events:
            if isinstance(event, TextDelta):
                break
    for _ in range(50):
        if fake.app.disconnects:
            break
        await asyncio.sleep(0.05)
    assert fake.app.disconnects == 1


async def test_check_connection_lists_the_models_and_finds_the_agents_model(fake):
    said = await provider(fake).check_connection()
    assert "2 models are listed (fake-gpt, fake-vision)" in said
    with pytest.raises(UpstreamError, match="“gone” is not among them"):
        await provider(fake, "gone").check_connection()
    with pytest.raises(UpstreamError, match="HTTP 401"):
        await provider(fake, key="wrong").check_connection()
    assert fake.app.requests[-1]["method"] == "GET"


async def test_import_lists_the_models(fake):
    agents = await provider(fake).list_agents()
    assert [(a.id, a.description) for a in agents] == [
        ("fake-gpt", "chatsite-fake"),
        ("fake-vision", "chatsite-fake"),
    ]


def test_history_budgets_must_be_whole_numbers():
    assert OpenAICompatibleProvider.agent_option_problems({"history_messages": "ten"}) == [
        "history_messages must be a whole number (0 or more)."
    ]
    assert (
        OpenAICompatibleProvider.agent_option_problems({"history_messages": "10", "history_tokens": ""}) == []
    )
