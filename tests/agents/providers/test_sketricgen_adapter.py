"""The SketricGen adapter over real HTTP against the fake platform.

Every test runs against the shapes the current document gives and against the
fake's earlier shapes (`legacy`): the adapter must read both.
"""

import json
import time
from contextlib import nullcontext

import pytest

from agents.providers import sketricgen as sketricgen_module
from agents.providers.base import AgentSpec, Connection, Turn, UpstreamError, UserRef
from agents.providers.events import (
    Activity,
    ApprovalRequested,
    RunFinished,
    RunStarted,
    TextDelta,
    ToolFinished,
    ToolStarted,
)
from agents.providers.http import upstream_client
from agents.providers.sketricgen import SketricGenProvider, contact_id, hitl_from_custom

ALICE = UserRef(1, "alice", "alice@example.com")
AGENT = "agent_demo_helpdesk"


@pytest.fixture(autouse=True, params=["documented", "legacy"])
async def shapes(request, sketricgen):
    sketricgen.app.token_delay = 0
    sketricgen.app.legacy = request.param == "legacy"
    yield request.param
    await upstream_client().aclose()


def provider(fake, *, key="demo-key", agent=AGENT, **options) -> SketricGenProvider:
    connection = Connection(fake.url, key, {"admin_base_url": fake.url + "/admin/v1"})
    return SketricGenProvider(connection, AgentSpec(agent, options))


async def reply(fake, text, *, conversation_id="", **kwargs):
    turn = Turn(text, user=ALICE, upstream_conversation_id=conversation_id)
    return [event async for event in provider(fake, **kwargs).stream_reply(turn)]


async def failed_reply(fake, text, **kwargs):
    """The events yielded before the reply failed, and the error."""
    events = []
    turn = Turn(text, user=ALICE)
    with pytest.raises(UpstreamError) as info:
        async for event in provider(fake, **kwargs).stream_reply(turn):
            events.append(event)
    return events, info.value


def text_of(events) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


# --- Replies ---------------------------------------------------------------------------------


async def test_streamed_reply(sketricgen):
    events = await reply(sketricgen, "Hello agent")

    started = events[0]
    assert isinstance(started, RunStarted)
    assert started.conversation_id.startswith("conv_")
    assert started.run_id.startswith("run_")
    assert isinstance(events[-1], RunFinished)
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 20
    text = text_of(events)
    assert text.startswith("This is a simulated SketricGen agent")
    assert "“Hello agent”" in text
    assert started.conversation_id in text
    request = sketricgen.app.requests[-1]
    assert request["headers"]["api-key"] == "demo-key"
    assert request["body"] == {"agent_id": AGENT, "user_input": "Hello agent", "stream": True}


async def test_streamed_text_equals_the_json_reply(sketricgen):
    streamed = await reply(sketricgen, "same words", conversation_id="conv_a")
    whole = await reply(sketricgen, "same words", conversation_id="conv_b", stream=False)

    assert text_of(streamed).replace("conv_a", "conv_b") == text_of(whole).replace("turn 2", "turn 1")


async def test_json_mode(sketricgen):
    events = await reply(sketricgen, "no streaming please", stream=False)

    assert [type(e) for e in events] == [RunStarted, TextDelta, RunFinished]
    assert events[0].conversation_id.startswith("conv_")
    assert "“no streaming please”" in events[1].text
    assert sketricgen.app.requests[-1]["body"]["stream"] is False


@pytest.mark.parametrize("stream", [True, False])
async def test_second_turn_continues_the_conversation(sketricgen, stream):
    first = await reply(sketricgen, "first", stream=stream)
    conversation_id = first[0].conversation_id
    second = await reply(sketricgen, "second", conversation_id=conversation_id, stream=stream)

    assert "conversation_id" not in sketricgen.app.requests[-2]["body"]
    assert sketricgen.app.requests[-1]["body"]["conversation_id"] == conversation_id
    assert second[0].conversation_id == conversation_id
    assert "turn 2" in text_of(second)
    assert sketricgen.app.conversations[conversation_id] == 2


@pytest.mark.parametrize("directive", ["[[camel]]", "[[lower]]", "[[camel]] [[lower]]"])
async def test_camel_case_keys_and_lower_case_types(sketricgen, directive):
    events = await reply(sketricgen, f"spelling {directive} [[tool]] [[words=8]]")

    assert isinstance(events[0], RunStarted)
    assert events[0].conversation_id.startswith("conv_")
    assert events[0].run_id.startswith("run_")
    tool_events = [e for e in events if isinstance(e, ToolStarted | ToolFinished)]
    # camelCase is standard AG-UI, where TOOL_CALL_RESULT follows the end with the result
    assert [type(e) for e in tool_events][:2] == [ToolStarted, ToolFinished]
    assert {e.id for e in tool_events} == {tool_events[0].id}
    assert len(text_of(events).split()) == 8
    assert isinstance(events[-1], RunFinished)


async def test_tool_events(sketricgen):
    events = await reply(sketricgen, "look it up [[tool]] [[words=10]]")

    kinds = [type(e) for e in events]
    assert kinds.index(ToolStarted) == 1 + 5
    started, finished = events[6], events[7]
    assert started.name == "web_search"
    assert started.id.startswith("call_")
    assert finished.id == started.id
    assert len(text_of(events).split()) == 10


async def test_a_tool_call_carries_its_streamed_arguments(sketricgen, shapes):
    events = await reply(sketricgen, "look it up [[tool]] [[words=10]]")

    finished = next(e for e in events if isinstance(e, ToolFinished))
    if shapes == "documented":
        assert json.loads(finished.arguments) == {"query": "server-sent events AG-UI", "max_results": 3}
    else:
        assert finished.arguments == ""


async def test_a_standard_ag_ui_tool_result_is_kept_with_the_call(sketricgen):
    events = await reply(sketricgen, "look it up [[tool]] [[camel]] [[words=10]]")

    started = next(e for e in events if isinstance(e, ToolStarted))
    result = [e for e in events if isinstance(e, ToolFinished) and e.result]
    assert [e.id for e in result] == [started.id]
    assert json.loads(result[0].result)[0]["url"] == "https://docs.ag-ui.com/concepts/events"


@pytest.mark.parametrize("directive", ["", "[[camel]]"])
async def test_text_messages_either_side_of_a_tool_call_are_two_paragraphs(sketricgen, directive):
    events = await reply(sketricgen, f"look it up [[tool]] {directive} [[words=10]]")

    text = text_of(events)
    before_tool = text_of(events[: next(i for i, e in enumerate(events) if isinstance(e, ToolStarted))])
    assert text.count("\n\n") == 1
    assert text.startswith(before_tool + "\n\n")
    assert len(text.split()) == 10


async def test_workspace_file_activity_is_shown_as_activity(sketricgen):
    events = await reply(sketricgen, "take notes [[workspace]] [[words=5]]")

    assert Activity(text="Workspace: write file summary.md") in events
    assert "workspace" not in text_of(events).lower()


def test_a_human_input_request_is_read_from_every_shape_the_custom_event_may_take():
    request = {
        "request_id": "hitl-1",
        "action_requests": [{"name": "request_human_input", "args": {"questions": []}}],
        "review_configs": [{"allowed_decisions": ["respond"]}],
    }
    interrupts = [{"id": "interrupt-1", "value": {k: v for k, v in request.items() if k != "request_id"}}]

    assert hitl_from_custom(request) == request
    assert hitl_from_custom({"hitl_request": request}) == request
    assert hitl_from_custom({"hitl_interrupts": [request]}) == request
    from_interrupts = hitl_from_custom(interrupts)
    assert from_interrupts["request_id"] == "interrupt-1"
    assert from_interrupts["action_requests"] == request["action_requests"]
    assert hitl_from_custom({"something": "else"}) is None


# --- Failures the platform reports -----------------------------------------------------------


async def test_run_error_carries_the_platforms_message(sketricgen):
    events, error = await failed_reply(sketricgen, "[[fail:run_error]] [[words=10]]")

    assert "Simulated failure: the model provider did not answer." in error.message
    assert len(text_of(events).split()) == 5


async def test_run_error_in_json_mode(sketricgen):
    _, error = await failed_reply(sketricgen, "[[fail:run_error]]", stream=False)

    assert "Simulated failure" in error.message


async def test_rejected_key(sketricgen):
    events, error = await failed_reply(sketricgen, "hi", key="wrong-key")

    assert events == []
    assert "rejected this credential" in error.message
    assert error.status == 401
    assert not error.retryable


async def test_unknown_agent(sketricgen):
    _, error = await failed_reply(sketricgen, "hi", agent="missing-agent")

    assert error.status == 404
    assert "does not know this agent" in error.message
    assert "Agent not found" in error.message
    assert not error.retryable


async def test_unprocessable_request(sketricgen):
    _, error = await failed_reply(sketricgen, "hi [[fail:422]]")

    assert error.status == 422
    assert "did not accept the request" in error.message
    assert "simulated validation failure" in error.message


async def test_rate_limit_is_retryable(sketricgen):
    _, error = await failed_reply(sketricgen, "hi [[fail:429]]")

    assert error.status == 429
    assert "rate limiting" in error.message
    assert error.retryable


@pytest.mark.parametrize(("status", "retryable"), [(500, False), (502, True), (503, True)])
@pytest.mark.parametrize("stream", [True, False])
async def test_server_errors(sketricgen, status, retryable, stream):
    _, error = await failed_reply(sketricgen, f"hi [[fail:{status}]]", stream=stream)

    assert error.status == status
    assert f"server error (HTTP {status})" in error.message
    assert error.retryable is retryable


# --- Broken streams --------------------------------------------------------------------------


async def test_stream_dropped_mid_reply(sketricgen):
    events, error = await failed_reply(sketricgen, "[[fail:drop]] [[words=10]]")

    assert "incomplete" in error.message
    assert not error.retryable, "the platform began answering: sending again would answer twice"
    assert len(text_of(events).split()) == 5
    assert not any(isinstance(e, RunFinished) for e in events)


async def test_connection_cut_mid_reply(sketricgen):
    events, error = await failed_reply(sketricgen, "[[fail:reset]] [[words=10]]")

    assert "incomplete" in error.message
    assert len(text_of(events).split()) == 5


async def test_silent_stream_times_out(sketricgen, settings):
    settings.UPSTREAM_READ_TIMEOUT = 0.5
    events, error = await failed_reply(sketricgen, "[[fail:hang]]")

    assert "stopped sending for too long" in error.message
    assert not error.retryable
    assert len([e for e in events if isinstance(e, TextDelta)]) == 3


async def test_silent_json_reply_times_out(sketricgen, settings, monkeypatch):
    settings.UPSTREAM_READ_TIMEOUT = 0.5
    monkeypatch.setattr(sketricgen_module, "JSON_REPLY_SECONDS", 0.5)
    _, error = await failed_reply(sketricgen, "[[fail:hang]]", stream=False)

    assert "read timeout" in error.message
    assert not error.retryable, "the platform may be working on the message"


async def test_a_json_reply_may_take_longer_than_the_read_timeout(sketricgen, settings):
    settings.UPSTREAM_READ_TIMEOUT = 0.3
    events = await reply(sketricgen, "think hard [[delay=0.1]] [[words=10]]", stream=False)

    assert len(text_of(events).split()) == 10
    assert isinstance(events[-1], RunFinished)


async def test_malformed_frame(sketricgen):
    events, error = await failed_reply(sketricgen, "[[fail:malformed]] [[words=10]]")

    assert "not valid JSON" in error.message
    assert len(text_of(events).split()) == 5


async def test_json_reply_that_is_not_json(sketricgen):
    _, error = await failed_reply(sketricgen, "[[fail:malformed]]", stream=False)

    assert "not JSON" in error.message


async def test_byte_order_mark_does_not_lose_the_first_event(sketricgen):
    events = await reply(sketricgen, "[[fail:bom]] [[words=6]]")

    assert isinstance(events[0], RunStarted)
    assert events[0].conversation_id.startswith("conv_")
    assert len(text_of(events).split()) == 6


async def test_heartbeats_and_empty_events_are_skipped(sketricgen):
    events = await reply(sketricgen, "[[fail:heartbeat]] [[words=6]]")

    assert [type(e) for e in events] == [RunStarted, *[TextDelta] * 6, RunFinished]


async def test_huge_event_fails_the_reply(sketricgen):
    events, error = await failed_reply(sketricgen, "[[fail:huge]] [[words=10]]")

    assert "larger than 1024 KiB" in error.message
    assert len(text_of(events).split()) == 5


async def test_unknown_event_type_is_dropped(sketricgen):
    events = await reply(sketricgen, "[[fail:unknown]] [[words=6]]")

    assert [type(e) for e in events] == [RunStarted, *[TextDelta] * 6, RunFinished]
    assert "<script>" not in repr([e.to_dict() for e in events])


# --- Refused before sending ------------------------------------------------------------------


async def test_too_long_message_is_refused_before_any_request(sketricgen):
    _, error = await failed_reply(sketricgen, "x" * 10_001)

    assert "10,001 characters" in error.message
    assert "10,000" in error.message
    assert sketricgen.app.requests == []


async def test_longest_allowed_message_is_sent(sketricgen):
    events = await reply(sketricgen, "x" * 10_000, stream=False)

    assert isinstance(events[-1], RunFinished)
    assert len(sketricgen.app.requests[-1]["body"]["user_input"]) == 10_000


async def test_empty_message_is_refused_before_any_request(sketricgen):
    _, error = await failed_reply(sketricgen, "   ")

    assert error.message == "Write a message first."
    assert sketricgen.app.requests == []


# --- Checking a credential -------------------------------------------------------------------


async def test_check_connection_asks_the_runtime_api_without_running_the_agent(sketricgen):
    sentence = await provider(sketricgen).check_connection()

    assert sentence == (
        "Connected to SketricGen: the Runtime API accepted the key, so it has “Run agents” access. "
        "The empty test message was refused before anything ran; no credits were spent."
    )
    (request,) = sketricgen.app.requests
    assert request["path"] == "/api/v1/run-workflow"
    assert request["headers"]["api-key"] == "demo-key"
    assert request["body"]["user_input"] == ""
    assert sketricgen.app.conversations == {}, "no run was started"


async def test_a_run_only_key_passes_the_check_but_cannot_import(sketricgen):
    sketricgen.app.api_keys = {"run-key"}
    sketricgen.app.key_access = {"run-key": "run"}

    assert "“Run agents” access" in await provider(sketricgen, key="run-key").check_connection()
    with pytest.raises(UpstreamError, match="needs a key with “Manage resources” access") as info:
        await provider(sketricgen, key="run-key").list_agents()
    assert info.value.status == 403


async def test_a_manage_only_key_fails_the_check_because_it_cannot_chat(sketricgen):
    sketricgen.app.api_keys = {"manage-key"}
    sketricgen.app.key_access = {"manage-key": "manage"}

    with pytest.raises(UpstreamError, match="chatting needs a key with “Run agents” access"):
        await provider(sketricgen, key="manage-key").check_connection()
    assert await provider(sketricgen, key="manage-key").list_agents()


async def test_check_connection_with_a_rejected_key(sketricgen):
    with pytest.raises(UpstreamError, match="rejected this credential"):
        await provider(sketricgen, key="wrong-key").check_connection()


# --- Telling team members apart -------------------------------------------------------------


def sent_contact(fake):
    return next(r["body"] for r in fake.app.requests if r["path"].endswith("run-workflow")).get("contact_id")


@pytest.mark.parametrize(
    ("mode", "expected"), [("none", None), ("username", "alice"), ("email", "alice@example.com")]
)
async def test_contact_id_names_the_member_as_the_agent_is_configured(sketricgen, mode, expected):
    await reply(sketricgen, "hi", contact_id=mode)
    assert sent_contact(sketricgen) == expected


async def test_a_stable_contact_id_is_the_same_for_a_member_and_reveals_nothing(sketricgen):
    await reply(sketricgen, "hi", contact_id="user_id")
    await reply(sketricgen, "again", contact_id="user_id")
    first, second = [
        r["body"]["contact_id"] for r in sketricgen.app.requests if r["path"].endswith("run-workflow")
    ]
    assert first == second
    assert "alice" not in first and len(first) <= 255
    other = contact_id("user_id", UserRef(id=ALICE.id + 1, username="bob"))
    assert other != first


def test_contact_ids_are_cut_to_the_platforms_limit():
    assert len(contact_id("email", UserRef(id=1, username="x", email="a" * 300 + "@example.com"))) == 255


# --- Human in the loop ---------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False])
async def test_a_paused_run_asks_for_decisions_and_resumes_with_them(sketricgen, stream):
    options = {"enable_hitl": True, **({} if stream else {"stream": False})}
    paused = await reply(sketricgen, "mail the team [[hitl]]", **options)
    request = paused[-1]
    assert isinstance(request, ApprovalRequested)
    assert not any(isinstance(e, RunFinished) for e in paused)
    assert [(a["name"], a["allowed"]) for a in request.actions] == [
        ("send_email", ["approve", "reject", "respond"]),
        ("create_ticket", ["approve", "reject"]),
    ]
    assert request.actions[0]["args"]["to"] == "team@example.com"

    approval = {"request_id": request.request_id, "decisions": [{"type": "approve"}, {"type": "reject"}]}
    turn = Turn("", user=ALICE, upstream_conversation_id=paused[0].conversation_id, approval=approval)
    resumed = [event async for event in provider(sketricgen, **options).stream_reply(turn)]
    assert isinstance(resumed[-1], RunFinished)
    assert "send_email approved; create_ticket rejected" in text_of(resumed)
    assert text_of(resumed).startswith("\n\nThis is a simulated"), "a new paragraph after the paused text"
    sent = [r["body"] for r in sketricgen.app.requests if r["path"].endswith("run-workflow")]
    assert sent[0]["enable_hitl"] is True
    assert sent[1]["hitl_resume"] == approval and sent[1]["user_input"] == ""


async def test_without_the_option_the_platform_is_not_asked_to_pause(sketricgen):
    events = await reply(sketricgen, "mail the team [[hitl]]")
    assert isinstance(events[-1], RunFinished)
    assert "enable_hitl" not in sketricgen.app.requests[-1]["body"]


# --- What a run returns beyond its text -------------------------------------------------------


@pytest.mark.parametrize("directive", ["", "[[camel]] "], ids=["snake", "camel"])
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
async def test_cited_sources_end_the_reply_as_a_list_of_links(sketricgen, stream, directive):
    events = await reply(sketricgen, f"{directive}[[cite]] search the web", stream=stream)

    assert isinstance(events[-1], RunFinished)
    text = text_of(events)
    body, sources = text.split("\n\n**Sources**\n\n")
    assert "search the web" in body
    assert sources.splitlines() == [
        "1. [Server-sent events - HTML Living Standard]"
        "(https://html.spec.whatwg.org/multipage/server-sent-events.html)",
        "2. [AG-UI protocol: events](https://docs.ag-ui.com/concepts/events)",
    ]


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
async def test_returned_files_are_listed_as_links(sketricgen, stream):
    events = await reply(sketricgen, "[[asset]] make me a report", stream=stream)

    files = text_of(events).split("\n\n**Files**\n\n")[1]
    assert files.startswith("- [summary.pdf](https://assets.sketricgen.example/file_")
    assert files.endswith("/summary.pdf) (application/pdf)")


@pytest.mark.parametrize(
    "text",
    ["[[words=10]] done", "[[credits]] [[words=10]] broke", "[[hitl]] [[words=10]] ask first"],
    ids=["finished", "out-of-credits", "paused"],
)
async def test_a_terminal_event_ends_the_reply_at_once(sketricgen, text):
    sketricgen.app.hold_open_after_end = 30
    started = time.monotonic()
    turn = Turn(text, user=ALICE)
    events = []
    with pytest.raises(UpstreamError) if "credits" in text else nullcontext():
        async for event in provider(sketricgen, enable_hitl=True).stream_reply(turn):
            events.append(event)

    assert time.monotonic() - started < 1
    assert events


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
async def test_a_history_free_agent_asks_for_each_turn_on_its_own(sketricgen, stream):
    first = await reply(sketricgen, "one", stream=stream, disable_conversation_history=True)
    second = await reply(
        sketricgen,
        "two",
        conversation_id=first[0].conversation_id,
        stream=stream,
        disable_conversation_history=True,
    )

    assert "turn 1 of this conversation" in text_of(second)
    assert sketricgen.app.requests[-1]["body"]["disable_conversation_history"] is True
    assert sketricgen.app.requests[-1]["body"]["conversation_id"] == first[0].conversation_id


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
async def test_out_of_credits_keeps_the_partial_reply_and_says_why_it_stopped(sketricgen, stream):
    events, error = await failed_reply(sketricgen, "[[credits]] [[words=10]] go", stream=stream)

    assert len(text_of(events).split()) == 5
    assert "out of credits" in error.message
    assert not error.retryable


def test_result_links_keep_only_web_addresses_and_escape_labels():
    from agents.providers.sketricgen import run_results

    text = run_results(
        {
            "web_search_citations": [
                {"title": "[evil](javascript:alert(1))", "url": "javascript:alert(1)"},
                {"title": "A (b) c", "url": "https://example.org/a (b)"},
                {"title": "no url"},
                "junk",
            ],
            "assets": [{"url": "data:text/html,<script>"}, {"file_id": "x"}],
        }
    )

    assert text.splitlines() == [
        "**Sources**",
        "",
        r"1. \[evil\](javascript:alert(1))",
        "2. [A (b) c](https://example.org/a%20%28b%29)",
        "",
        "**Files**",
        "",
        r"- html,\<script\>",
    ]


async def test_a_pause_in_standard_ag_ui_spelling_asks_for_decisions(sketricgen):
    events = await reply(sketricgen, "mail the team [[hitl]] [[camel]]", enable_hitl=True)

    stream = sketricgen.app.requests[-1]
    assert stream["body"]["enable_hitl"] is True
    assert isinstance(events[-1], ApprovalRequested)
    assert [a["name"] for a in events[-1].actions] == ["send_email", "create_ticket"]


async def test_a_json_pause_with_only_the_interrupts_still_asks_for_decisions():
    from tests.fakes import ServedApp, verbatim_app

    body = {
        "conversation_id": "conversation-1",
        "response": "Paused for review",
        "error": False,
        "run_paused_hitl": True,
        "hitl_interrupts": [
            {
                "id": "interrupt-1",
                "value": {
                    "action_requests": [{"name": "request_human_input", "args": {"questions": []}}],
                    "review_configs": [{"allowed_decisions": ["respond"]}],
                },
            }
        ],
    }
    with ServedApp(verbatim_app(json.dumps(body).encode(), b"application/json", 201)) as served:
        adapter = SketricGenProvider(Connection(served.url, "k"), AgentSpec("agent-1", {"stream": False}))
        events = [e async for e in adapter.stream_reply(Turn("hi", user=ALICE))]

    assert events[-1] == ApprovalRequested(
        request_id="interrupt-1",
        actions=[{"name": "request_human_input", "args": {"questions": []}, "allowed": ["respond"]}],
    )
