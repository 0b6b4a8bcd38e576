"""The Agent Chat API (slug) adapter over real HTTP against its fake platform."""

import email.utils
import time

import httpx
import pytest

from agents.providers.base import AgentSpec, Connection, Turn, UpstreamError, UserRef
from agents.providers.events import Activity, RunFinished, RunStarted, TextDelta
from agents.providers.http import retry_after_seconds, upstream_client
from agents.providers.slug_chat import NO_CONVERSATION_ID, SlugChatProvider
from tests.fakes import FIXTURES, FakePlatform, ServedApp

ALICE = UserRef(1, "alice", "alice@example.com")
AGENT = "support-agent"
GOLDEN = FIXTURES / "slug_chat" / "normal.sse"
GOLDEN_MESSAGE = "What are your business hours?"


class RawStream:
    """Answers every request with `body` as an event stream, byte for byte."""

    def __init__(self) -> None:
        self.body = b""
        self.content_type = b"text/event-stream"
        self.headers: list[tuple[bytes, bytes]] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        headers = [(b"content-type", self.content_type), *self.headers]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


@pytest.fixture
def slug_chat(fake_platform):
    return fake_platform("slug_chat")


@pytest.fixture(scope="module")
def raw_server():
    with ServedApp(RawStream()) as served:
        yield served


@pytest.fixture
def raw(raw_server):
    raw_server.app.body = b""
    raw_server.app.content_type = b"text/event-stream"
    raw_server.app.headers = []
    return FakePlatform(raw_server)


@pytest.fixture(autouse=True)
async def fresh_client():
    yield
    await upstream_client().aclose()


def provider(fake, *, key="demo-key", agent=AGENT, **options) -> SlugChatProvider:
    spec = AgentSpec(agent, options) if agent is not None else None
    return SlugChatProvider(Connection(fake.url, key), spec)


async def reply(fake, text, *, conversation_id="", user=ALICE, **kwargs):
    turn = Turn(text, user=user, upstream_conversation_id=conversation_id)
    return [event async for event in provider(fake, **kwargs).stream_reply(turn)]


async def failed_reply(fake, text, *, user=ALICE, **kwargs):
    """The events yielded before the reply failed, and the error."""
    events = []
    with pytest.raises(UpstreamError) as info:
        async for event in provider(fake, **kwargs).stream_reply(Turn(text, user=user)):
            events.append(event)
    return events, info.value


def text_of(events) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def kinds(events) -> list[type]:
    return [type(e) for e in events]


# --- Replies ---------------------------------------------------------------------------------


async def test_streamed_reply(slug_chat):
    events = await reply(slug_chat, "Hello agent")

    started = events[0]
    assert isinstance(started, RunStarted)
    assert started.conversation_id.startswith("conv_")
    assert isinstance(events[-1], RunFinished)
    assert len([e for e in events if isinstance(e, TextDelta)]) > 20
    text = text_of(events)
    assert text.startswith("This is a simulated Agent Chat API agent (support-agent)")
    assert "This is turn 1 of this conversation." in text
    assert "“Hello agent”" in text
    assert "```python" in text
    assert "| Turn | Characters | Words |" in text
    request = slug_chat.app.requests[-1]
    assert request["method"] == "POST"
    assert request["path"] == "/v1/api/chat/support-agent"
    assert request["headers"]["authorization"] == "Bearer demo-key"
    assert "x-user-identifier" not in request["headers"]
    assert request["body"] == {"message": "Hello agent", "stream": True, "conversationId": None}


async def test_json_mode(slug_chat):
    events = await reply(slug_chat, "no streaming please", stream=False)

    assert kinds(events) == [RunStarted, TextDelta, RunFinished]
    assert events[0].conversation_id.startswith("conv_")
    assert "“no streaming please”" in events[1].text
    assert slug_chat.app.requests[-1]["body"]["stream"] is False


async def test_streamed_text_equals_the_json_reply(slug_chat):
    streamed = await reply(slug_chat, "same words", conversation_id="conv_a")
    whole = await reply(slug_chat, "same words", conversation_id="conv_b", stream=False)

    assert text_of(streamed).replace("conv_a", "conv_b") == text_of(whole)


@pytest.mark.parametrize("stream", [True, False])
async def test_second_turn_continues_the_conversation(slug_chat, stream):
    first = await reply(slug_chat, "first", stream=stream)
    conversation_id = first[0].conversation_id
    second = await reply(slug_chat, "second", conversation_id=conversation_id, stream=stream)

    assert slug_chat.app.requests[-2]["body"]["conversationId"] is None
    assert slug_chat.app.requests[-1]["body"]["conversationId"] == conversation_id
    assert second[0] == RunStarted(conversation_id=conversation_id)
    assert "This is turn 2 of this conversation." in text_of(second)


@pytest.mark.parametrize("place", ["frame", "header", "both"])
async def test_conversation_id_is_read_from_a_frame_or_a_header(slug_chat, place):
    slug_chat.app.conversation_id_in = place
    events = await reply(slug_chat, "where is my id [[words=5]]")

    assert kinds(events) == [RunStarted, *[TextDelta] * 5, RunFinished]
    assert events[0].conversation_id.startswith("conv_")
    assert not any(isinstance(e, Activity) for e in events)


async def test_stream_without_a_conversation_id_says_the_thread_cannot_go_on(slug_chat):
    events = await reply(slug_chat, "no id please [[cid=none]] [[words=5]]")

    assert kinds(events) == [RunStarted, *[TextDelta] * 5, Activity, RunFinished]
    assert events[0].conversation_id == ""
    assert events[-2] == Activity(text=NO_CONVERSATION_ID)


async def test_stream_without_an_id_on_a_continued_conversation_keeps_the_one_sent(slug_chat):
    await reply(slug_chat, "first", conversation_id="conv_kept")
    events = await reply(slug_chat, "again [[cid=none]] [[words=3]]", conversation_id="conv_kept")

    assert kinds(events) == [RunStarted, *[TextDelta] * 3, RunFinished]
    assert events[0].conversation_id == "conv_kept"


# --- Per-user identity -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "user", "sent"),
    [
        ("username", ALICE, "alice"),
        ("email", ALICE, "alice@example.com"),
        ("username", UserRef(3, "zoë", ""), "zo%C3%AB"),
    ],
)
async def test_user_identifier_header(slug_chat, choice, user, sent):
    events = await reply(slug_chat, "who am I [[words=3]]", user=user, user_identifier=choice)

    assert isinstance(events[-1], RunFinished)
    assert slug_chat.app.requests[-1]["headers"]["x-user-identifier"] == sent


@pytest.mark.parametrize(("choice", "user"), [("off", ALICE), ("email", UserRef(2, "bob", ""))])
async def test_no_user_identifier_header(slug_chat, choice, user):
    await reply(slug_chat, "hi [[words=2]]", user=user, user_identifier=choice)

    assert "x-user-identifier" not in slug_chat.app.requests[-1]["headers"]


async def test_user_identifier_with_a_key_that_may_not_send_it(slug_chat):
    _, error = await failed_reply(slug_chat, "hi", key="personal-key", user_identifier="username")

    assert error.status == 403
    assert "refused this request with this credential" in error.message
    assert "x-user-identifier requires a workspace API token" in error.message
    assert not error.retryable


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"user_identifier": "phone"}, "user_identifier must be one of: off, username, email."),
        ({"stream": "yes"}, "stream must be true or false."),
    ],
)
async def test_wrong_agent_options_are_refused_before_any_request(slug_chat, options, problem):
    _, error = await failed_reply(slug_chat, "hi", **options)

    assert problem in error.message
    assert "need fixing by an admin" in error.message
    assert slug_chat.app.requests == []
    assert problem in SlugChatProvider.agent_option_problems(options)


def test_agent_options():
    assert SlugChatProvider.agent_option_problems({"stream": False, "user_identifier": "email"}) == []
    assert "no option 'slug'" in SlugChatProvider.agent_option_problems({"slug": "x"})[0]


async def test_empty_message_is_refused_before_any_request(slug_chat):
    _, error = await failed_reply(slug_chat, "   ")

    assert error.message == "Write a message first."
    assert slug_chat.app.requests == []


# --- Errors in the platform's envelope -------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
async def test_validation_error(slug_chat, stream):
    _, error = await failed_reply(slug_chat, "hi [[fail:400]]", stream=stream)

    assert error.status == 400
    assert error.message == (
        "Agent Chat API did not accept the message (HTTP 400). The platform said: Message field is required"
    )
    assert not error.retryable


async def test_rejected_key(slug_chat):
    events, error = await failed_reply(slug_chat, "hi", key="wrong-key")

    assert events == []
    assert error.status == 401
    assert "rejected this credential (HTTP 401)" in error.message
    assert "Invalid or missing API token" in error.message
    assert not error.retryable


async def test_forbidden(slug_chat):
    _, error = await failed_reply(slug_chat, "hi [[fail:403]]")

    assert error.status == 403
    assert "This API token may not use this agent" in error.message


@pytest.mark.parametrize("stream", [True, False])
async def test_unknown_slug(slug_chat, stream):
    _, error = await failed_reply(slug_chat, "hi", agent="no-such-agent", stream=stream)

    assert error.status == 404
    assert "does not know the agent “no-such-agent”" in error.message
    assert "Agent with slug 'no-such-agent' not found" in error.message
    assert not error.retryable


async def test_rate_limited_by_directive(slug_chat):
    _, error = await failed_reply(slug_chat, "hi [[fail:429]]")

    assert error.status == 429
    assert error.retryable
    assert "rate limiting this account (HTTP 429). Try again in" in error.message
    assert 1 <= error.retry_after <= 60


async def test_rate_limit_counts_requests_per_key(slug_chat):
    slug_chat.app.rate_limit = 2
    await reply(slug_chat, "one [[words=1]]")
    await reply(slug_chat, "two [[words=1]]", stream=False)
    _, error = await failed_reply(slug_chat, "three")

    assert error.status == 429
    assert error.retryable
    assert "Rate limit exceeded" in error.message
    events = await reply(slug_chat, "another key [[words=1]]", key="personal-key")
    assert isinstance(events[-1], RunFinished)


@pytest.mark.parametrize("stream", [True, False])
async def test_server_error_is_retryable(slug_chat, stream):
    _, error = await failed_reply(slug_chat, "hi [[fail:500]]", stream=stream)

    assert error.status == 500
    assert error.retryable
    assert "had a server error (HTTP 500). Try again in a moment." in error.message
    assert "An unexpected error occurred" in error.message


async def test_gateway_error_without_the_envelope(slug_chat):
    _, error = await failed_reply(slug_chat, "hi [[fail:502]]")

    assert error.status == 502
    assert error.retryable
    assert "server error (HTTP 502)" in error.message
    assert "<html>" not in error.message


async def test_error_frame_mid_stream(slug_chat):
    events, error = await failed_reply(slug_chat, "[[fail:error]] [[words=10]]")

    assert len(text_of(events).split()) == 5
    assert "reported an error while answering" in error.message
    assert "Simulated failure: the model provider did not answer." in error.message
    assert error.retryable


async def test_error_in_json_mode(slug_chat):
    _, error = await failed_reply(slug_chat, "[[fail:error]]", stream=False)

    assert error.status == 500
    assert "Simulated failure" in error.message


async def test_fake_sends_rate_limit_headers_and_the_envelope(slug_chat):
    slug_chat.app.rate_limit = 1
    url = slug_chat.url + "/v1/api/chat/support-agent"
    auth = {"Authorization": "Bearer demo-key"}
    async with httpx.AsyncClient() as client:
        ok = await client.post(url, headers=auth, json={"message": "hi [[words=1]]"})
        limited = await client.post(url, headers=auth, json={"message": "hi"})
        wrong_method = await client.get(url, headers=auth)

    assert ok.status_code == 200
    assert ok.headers["x-ratelimit-limit"] == "1"
    assert ok.headers["x-ratelimit-remaining"] == "0"
    assert int(ok.headers["x-ratelimit-reset"]) > time.time()
    assert ok.json()["error"] is None
    assert ok.json()["data"]["metadata"]["model"]
    assert limited.status_code == 429
    assert limited.json()["data"] is None
    assert limited.json()["error"]["name"] == "RateLimitError"
    assert 1 <= retry_after_seconds(limited) <= 60
    assert wrong_method.status_code == 405


async def test_json_reply_cut_off(slug_chat):
    _, error = await failed_reply(slug_chat, "[[fail:drop]]", stream=False)

    assert "not JSON" in error.message


async def test_error_envelope_with_status_200(raw):
    raw.app.content_type = b"application/json"
    raw.app.body = (
        b'{"data": null, "error": {"name": "RateLimitError", "message": "Slow down", "details": {}}}'
    )
    _, error = await failed_reply(raw, "Hello", stream=False)

    assert error.retryable
    assert "rate limiting this account. Try again in a moment. The platform said: Slow down" in error.message


# --- Retry-After and X-RateLimit-Reset -------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "-3"}, 0.0),
        ({"X-RateLimit-Reset": "12"}, 12.0),
        ({"X-RateLimit-Reset": "soon"}, None),
        ({"Retry-After": "2", "X-RateLimit-Reset": "50"}, 2.0),
    ],
)
def test_retry_after_seconds(headers, expected):
    assert retry_after_seconds(httpx.Response(429, headers=headers)) == expected


def test_retry_after_seconds_from_times():
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    for headers in (
        {"Retry-After": date},
        {"X-RateLimit-Reset": str(int(now + 30))},
        {"X-RateLimit-Reset": str(int((now + 30) * 1000))},
    ):
        assert 27 <= retry_after_seconds(httpx.Response(429, headers=headers)) <= 31


# --- Broken streams --------------------------------------------------------------------------


async def test_stream_dropped_mid_reply(slug_chat):
    events, error = await failed_reply(slug_chat, "[[fail:drop]] [[words=10]]")

    assert "closed the stream before the reply finished; the reply is incomplete" in error.message
    assert len(text_of(events).split()) == 5
    assert not any(isinstance(e, RunFinished) for e in events)


async def test_connection_cut_mid_reply(slug_chat):
    events, error = await failed_reply(slug_chat, "[[fail:reset]] [[words=10]]")

    assert "incomplete" in error.message
    assert len(text_of(events).split()) == 5


async def test_silent_stream_times_out(slug_chat, settings):
    settings.UPSTREAM_READ_TIMEOUT = 0.5
    events, error = await failed_reply(slug_chat, "[[fail:hang]]")

    assert "stopped sending for too long" in error.message
    assert len([e for e in events if isinstance(e, TextDelta)]) == 3


async def test_silent_json_reply_times_out(slug_chat, settings):
    settings.UPSTREAM_READ_TIMEOUT = 0.5
    _, error = await failed_reply(slug_chat, "[[fail:hang]]", stream=False)

    assert "read timeout" in error.message


async def test_malformed_frame(slug_chat):
    events, error = await failed_reply(slug_chat, "[[fail:malformed]] [[words=10]]")

    assert "not valid JSON" in error.message
    assert len(text_of(events).split()) == 5


async def test_json_reply_that_is_not_json(slug_chat):
    _, error = await failed_reply(slug_chat, "[[fail:malformed]]", stream=False)

    assert "not JSON" in error.message


async def test_unknown_frame_is_dropped(slug_chat):
    events = await reply(slug_chat, "[[fail:unknown]] [[words=6]]")

    assert kinds(events) == [RunStarted, *[TextDelta] * 6, RunFinished]
    assert "<script>" not in repr([e.to_dict() for e in events])


async def test_heartbeats_keep_the_stream_alive_and_are_skipped(slug_chat, settings):
    settings.UPSTREAM_READ_TIMEOUT = 0.5
    events = await reply(slug_chat, "[[fail:heartbeat]] [[words=3]] [[delay=0.9]]")

    assert kinds(events) == [RunStarted, *[TextDelta] * 3, RunFinished]


async def test_byte_order_mark_does_not_lose_the_first_frame(slug_chat):
    slug_chat.app.conversation_id_in = "frame"
    events = await reply(slug_chat, "[[fail:bom]] [[words=4]]")

    assert events[0].conversation_id.startswith("conv_")
    assert kinds(events) == [RunStarted, *[TextDelta] * 4, RunFinished]


async def test_huge_frame_fails_the_reply(slug_chat):
    events, error = await failed_reply(slug_chat, "[[fail:huge]] [[words=10]]")

    assert "larger than 1024 KiB" in error.message
    assert len(text_of(events).split()) == 5


# --- The golden transcript -------------------------------------------------------------------


async def test_fake_still_sends_the_golden_transcript(slug_chat):
    async with httpx.AsyncClient() as client:
        response = await client.post(
            slug_chat.url + "/v1/api/chat/support-agent",
            headers={"Authorization": "Bearer demo-key"},
            json={"message": GOLDEN_MESSAGE, "stream": True, "conversationId": "conv_golden"},
        )

    assert response.content == GOLDEN.read_bytes()


async def test_golden_transcript_through_the_adapter(raw):
    raw.app.body = GOLDEN.read_bytes()
    events = await reply(raw, GOLDEN_MESSAGE)

    assert events[0] == RunStarted(conversation_id="conv_golden")
    assert kinds(events) == [RunStarted, *[TextDelta] * (len(events) - 2), RunFinished]
    text = text_of(events)
    assert text.startswith("This is a simulated Agent Chat API agent (support-agent), not a real model.")
    assert "This is turn 1 of this conversation. You said: “What are your business hours?”" in text
    assert "- this conversation is `conv_golden`\n" in text
    assert text.endswith("| 1 | 29 | 5 |")


async def test_frames_on_consecutive_lines_as_the_document_prints_them(raw):
    raw.app.body = b'data: {"chunk": "Hello"}\ndata: {"chunk": " there!"}\ndata: [DONE]\n\n'
    raw.app.headers = [(b"x-conversation-id", b"conv_abc123")]
    events = await reply(raw, "Hello")

    assert events == [
        RunStarted(conversation_id="conv_abc123"),
        TextDelta(text="Hello"),
        TextDelta(text=" there!"),
        RunFinished(),
    ]


async def test_json_answer_to_a_stream_request_is_read(raw):
    raw.app.content_type = b"application/json"
    raw.app.body = (
        b'{"data": {"response": "Whole answer", "conversationId": "conv_abc123", '
        b'"metadata": {"model": "gpt-4", "tokens": 150}}, "error": null}'
    )
    events = await reply(raw, "Hello")

    assert events == [
        RunStarted(conversation_id="conv_abc123"),
        TextDelta(text="Whole answer"),
        RunFinished(),
    ]


async def test_json_answer_without_a_conversation_id(raw):
    raw.app.content_type = b"application/json"
    raw.app.body = b'{"data": {"response": "Whole answer"}, "error": null}'
    events = await reply(raw, "Hello", stream=False)

    assert events == [
        RunStarted(conversation_id=""),
        TextDelta(text="Whole answer"),
        Activity(text=NO_CONVERSATION_ID),
        RunFinished(),
    ]


# --- Checking a credential -------------------------------------------------------------------


async def test_check_connection_with_an_agent(slug_chat):
    sentence = await provider(slug_chat).check_connection()

    assert (
        sentence == "Connected to Agent Chat API: the key was accepted and the agent “support-agent” answers."
    )
    request = slug_chat.app.requests[-1]
    assert request["path"] == "/v1/api/chat/support-agent"
    assert request["body"]["message"] == ""
    assert request["headers"]["authorization"] == "Bearer demo-key"
    assert slug_chat.app.conversations == {}


async def test_check_connection_without_an_agent(slug_chat):
    sentence = await provider(slug_chat, agent=None).check_connection()

    assert sentence == "Connected to Agent Chat API: the key was accepted."


async def test_check_connection_with_a_rejected_key(slug_chat):
    with pytest.raises(UpstreamError, match="rejected this credential") as info:
        await provider(slug_chat, key="wrong-key").check_connection()

    assert info.value.status == 401


async def test_check_connection_with_an_unknown_agent(slug_chat):
    with pytest.raises(UpstreamError, match="does not know the agent “gone”"):
        await provider(slug_chat, agent="gone").check_connection()


async def test_check_connection_against_a_host_that_is_not_the_platform(raw):
    with pytest.raises(UpstreamError):
        await provider(raw, agent=None).check_connection()
