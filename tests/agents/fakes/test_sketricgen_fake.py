"""The SketricGen fake is faithful: the official SDK works against it, and its directives work."""

import asyncio
import json
import time

import httpx
import pytest
from sketricgen import SketricGenClient
from sketricgen.exceptions import SketricGenAPIError, SketricGenAuthenticationError
from sketricgen.models.responses import ChatResponse

from agents.fakes import FAKES, mount_fakes
from agents.fakes.sketricgen import SketricGenFake
from tests.fakes import ServedApp

AGENT = "agent_demo_helpdesk"


@pytest.fixture(autouse=True, params=["documented", "legacy"])
def shapes(request, sketricgen):
    """Every test runs against the shapes the current document gives, and the fake's earlier ones."""
    sketricgen.app.token_delay = 0
    sketricgen.app.legacy = request.param == "legacy"
    return request.param


@pytest.fixture
def bad_sdk(sketricgen):
    client = SketricGenClient(api_key="wrong-key")
    client._config.base_url = sketricgen.url
    client._admin._base_url = sketricgen.url + "/admin/v1"
    return client


def run(fake, body, *, key="demo-key", **kwargs):
    return httpx.post(fake.url + "/api/v1/run-workflow", json=body, headers={"api-key": key}, **kwargs)


def stream_events(fake, text, **body):
    """The parsed data of every frame of a streamed run, read with plain httpx."""
    response = run(fake, {"agent_id": AGENT, "user_input": text, "stream": True, **body})
    assert response.status_code == 200
    return [json.loads(line[6:]) for line in response.text.split("\n") if line.startswith("data: ")]


def types(events):
    return [event["type"] for event in events]


# --- The official SDK against the fake -------------------------------------------------------


def test_sdk_json_reply_validates_as_chat_response(sketricgen_sdk, sketricgen):
    reply = sketricgen_sdk.run_workflow_sync(agent_id=AGENT, user_input="What is the weather like?")

    assert isinstance(reply, ChatResponse)
    assert reply.agent_id == AGENT
    assert reply.conversation_id.startswith("conv_")
    assert not reply.error
    assert "simulated SketricGen agent" in reply.response
    assert "“What is the weather like?”" in reply.response
    assert "turn 1" in reply.response
    request = sketricgen.app.requests[-1]
    assert request["path"] == "/api/v1/run-workflow"
    assert request["headers"]["api-key"] == "demo-key"
    assert request["body"]["user_input"] == "What is the weather like?"


def test_json_reply_is_201_with_the_documented_fields(sketricgen):
    response = run(sketricgen, {"agent_id": AGENT, "user_input": "hi", "contact_id": "customer_1"})

    assert response.status_code == 201
    data = response.json()
    for name in ("agent_id", "user_id", "conversation_id", "contact_id", "response", "owner", "error"):
        assert name in data
    assert data["contact_id"] == "customer_1"
    assert data["error"] is False
    assert data["assets"] == []
    assert data["run_paused_hitl"] is False
    assert data["run_halted_out_of_credits"] is False


def test_reply_has_markdown_for_the_chat_ui(sketricgen_sdk):
    text = sketricgen_sdk.run_workflow_sync(agent_id=AGENT, user_input="show me").response

    assert "\n- " in text
    assert "```python\n" in text
    assert "| Turn |" in text


async def test_sdk_async_json_reply(sketricgen_sdk):
    reply = await sketricgen_sdk.run_workflow(agent_id=AGENT, user_input="async hello")

    assert "“async hello”" in reply.response


def test_sdk_sync_stream(sketricgen_sdk):
    events = [
        json.loads(e.data)
        for e in sketricgen_sdk.run_workflow_sync(agent_id=AGENT, user_input="stream it", stream=True)
    ]

    assert types(events)[:2] == ["RUN_STARTED", "TEXT_MESSAGE_START"]
    assert types(events)[-2:] == ["TEXT_MESSAGE_END", "RUN_FINISHED"]
    assert all(isinstance(e["timestamp"], int) for e in events)
    started, finished = events[0], events[-1]
    assert started["thread_id"].startswith("conv_")
    assert started["run_id"] == finished["run_id"]
    assert finished["thread_id"] == started["thread_id"]
    assert events[1]["role"] == "assistant"
    deltas = [e for e in events if e["type"] == "TEXT_MESSAGE_CONTENT"]
    assert len(deltas) > 20
    assert {e["message_id"] for e in deltas} == {events[1]["message_id"]}
    text = "".join(e["delta"] for e in deltas)
    assert "“stream it”" in text
    assert text.endswith("|")


async def test_sdk_async_stream(sketricgen_sdk):
    events = [
        json.loads(e.data)
        async for e in await sketricgen_sdk.run_workflow(agent_id=AGENT, user_input="x", stream=True)
    ]

    assert types(events)[0] == "RUN_STARTED"
    assert types(events)[-1] == "RUN_FINISHED"


def test_sdk_stream_and_json_reply_say_the_same(sketricgen_sdk):
    first = sketricgen_sdk.run_workflow_sync(agent_id=AGENT, user_input="same [[words=30]]")
    events = sketricgen_sdk.run_workflow_sync(
        agent_id=AGENT, user_input="same [[words=30]]", conversation_id=first.conversation_id, stream=True
    )
    streamed = "".join(d.get("delta", "") for d in (json.loads(e.data) for e in events))

    assert streamed == first.response.replace("turn 1", "turn 2")


def test_sdk_multi_turn_reuses_the_conversation(sketricgen_sdk, sketricgen):
    first = sketricgen_sdk.run_workflow_sync(agent_id=AGENT, user_input="one")
    events = [
        json.loads(e.data)
        for e in sketricgen_sdk.run_workflow_sync(
            agent_id=AGENT, user_input="two", conversation_id=first.conversation_id, stream=True
        )
    ]

    assert events[0]["thread_id"] == first.conversation_id
    assert "turn 2" in "".join(e.get("delta", "") for e in events)
    assert sketricgen.app.conversations[first.conversation_id] == 2
    assert sketricgen.app.requests[-1]["body"]["conversation_id"] == first.conversation_id


def test_a_new_conversation_each_time_without_an_id(sketricgen_sdk):
    first = sketricgen_sdk.run_workflow_sync(agent_id=AGENT, user_input="a")
    second = sketricgen_sdk.run_workflow_sync(agent_id=AGENT, user_input="a")

    assert first.conversation_id != second.conversation_id
    assert "turn 1" in second.response


def test_sdk_wrong_key_is_an_authentication_error(bad_sdk):
    with pytest.raises(SketricGenAuthenticationError, match="Invalid or missing API key"):
        bad_sdk.run_workflow_sync(agent_id=AGENT, user_input="hi")


async def test_sdk_wrong_key_is_an_authentication_error_when_streaming(bad_sdk):
    with pytest.raises(SketricGenAuthenticationError):
        async for _ in await bad_sdk.run_workflow(agent_id=AGENT, user_input="hi", stream=True):
            pass


def test_sdk_unknown_agent_is_a_404(sketricgen_sdk):
    with pytest.raises(SketricGenAPIError) as info:
        sketricgen_sdk.run_workflow_sync(agent_id="missing-agent", user_input="hi")

    assert info.value.status_code == 404
    assert info.value.message == "Agent not found"


def test_sdk_whoami(sketricgen_sdk):
    teamspace = sketricgen_sdk.whoami_sync()

    assert teamspace.teamspace_id == "ts_demo"
    assert teamspace.display_name == "Demo Teamspace"


async def test_sdk_lists_agents_across_pages(sketricgen_sdk, sketricgen):
    agents = [agent async for agent in sketricgen_sdk.agents.list()]

    assert [a.agent_id for a in agents] == [a["agent_id"] for a in sketricgen.app.agents]
    assert agents[-1].is_draft is True
    listing = [r for r in sketricgen.app.requests if r["path"] == "/admin/v1/agents"]
    assert [r["query"] for r in listing] == ["", "next_token=page_2"]
    assert listing[0]["headers"]["authorization"] == "Bearer demo-key"


def test_sdk_lists_a_configured_agent_list(sketricgen_sdk, sketricgen):
    sketricgen.app.agents = [{"agent_id": f"agent_{i}", "name": f"Agent {i}"} for i in range(5)]
    sketricgen.app.agents_page_size = 3

    assert [a.agent_id for a in sketricgen_sdk.agents.list_sync()] == [f"agent_{i}" for i in range(5)]
    assert [p.project_id for p in sketricgen_sdk.projects.list_sync()] == ["proj_demo"]


async def test_sdk_admin_wrong_key_is_an_authentication_error(bad_sdk):
    with pytest.raises(SketricGenAuthenticationError, match="Invalid or missing API key"):
        await bad_sdk.whoami()


def test_admin_errors_carry_code_and_error(sketricgen):
    headers = {"Authorization": "Bearer demo-key"}
    unknown = httpx.get(sketricgen.url + "/admin/v1/nothing-here", headers=headers)
    bad_token = httpx.get(sketricgen.url + "/admin/v1/agents?next_token=garbage", headers=headers)
    no_key = httpx.get(sketricgen.url + "/admin/v1/teamspaces")

    assert unknown.status_code == 404
    assert unknown.json()["code"] == "not_found"
    assert bad_token.status_code == 400
    assert set(bad_token.json()) == {"code", "error"}
    assert no_key.status_code == 401
    assert no_key.json() == {"code": "unauthorized", "error": "Invalid or missing API key"}


# --- HTTP details --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["api-key", "API-KEY", "Api-Key"])
def test_key_header_name_is_case_insensitive(sketricgen, name):
    response = httpx.post(
        sketricgen.url + "/api/v1/run-workflow",
        json={"agent_id": AGENT, "user_input": "hi"},
        headers={name: "demo-key"},
    )

    assert response.status_code == 201


def test_missing_key_is_401(sketricgen):
    response = httpx.post(
        sketricgen.url + "/api/v1/run-workflow", json={"agent_id": AGENT, "user_input": "hi"}
    )

    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid or missing API key"}


def test_configured_keys_are_accepted(sketricgen):
    sketricgen.app.api_keys = {"other-key"}

    assert run(sketricgen, {"agent_id": AGENT, "user_input": "hi"}, key="other-key").status_code == 201
    assert run(sketricgen, {"agent_id": AGENT, "user_input": "hi"}).status_code == 401


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({"user_input": "hi"}, ["body", "agent_id"], "missing"),
        ({"agent_id": AGENT, "user_input": "x" * 10_001}, ["body", "user_input"], "string_too_long"),
        (
            {"agent_id": AGENT, "user_input": "hi", "contact_id": "c" * 256},
            ["body", "contact_id"],
            "string_too_long",
        ),
        ({"agent_id": AGENT, "user_input": "   "}, ["body"], "value_error"),
        ({"agent_id": AGENT}, ["body"], "value_error"),
        ({"agent_id": AGENT, "user_input": 5}, ["body", "user_input"], "string_type"),
        ({"agent_id": AGENT, "user_input": "hi", "stream": "yes"}, ["body", "stream"], "bool_type"),
        ([1, 2], ["body"], "model_attributes_type"),
    ],
)
def test_invalid_bodies_get_fastapi_style_422(sketricgen, body, loc, kind):
    response = run(sketricgen, body)

    assert response.status_code == 422
    errors = response.json()["detail"]
    assert any(e["loc"] == loc and e["type"] == kind and e["msg"] for e in errors), errors


def test_body_that_is_not_json_gets_422(sketricgen):
    response = httpx.post(
        sketricgen.url + "/api/v1/run-workflow",
        content=b"{not json",
        headers={"api-key": "demo-key", "content-type": "application/json"},
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_exactly_10000_characters_is_accepted(sketricgen):
    assert run(sketricgen, {"agent_id": AGENT, "user_input": "x" * 10_000}).status_code == 201


def test_empty_input_is_accepted_with_assets_or_hitl_resume(sketricgen):
    asset = uploaded_asset(sketricgen)
    with_assets = run(sketricgen, {"agent_id": AGENT, "user_input": "", "assets": [asset]})
    resume = {"request_id": "req_1", "decisions": [{"type": "approve"}]}
    with_resume = run(
        sketricgen,
        {
            "agent_id": AGENT,
            "user_input": "",
            "conversation_id": "conv_x",
            "enable_hitl": True,
            "hitl_resume": resume,
        },
    )

    assert with_assets.status_code == 201
    # The empty input passes validation; only the unknown paused run is refused.
    assert with_resume.status_code == 422
    assert "No paused run" in with_resume.json()["detail"]


def uploaded_asset(fake) -> str:
    """A file id the fake knows, uploaded with its three steps."""
    headers = {"X-API-KEY": "demo-key"}
    init = httpx.post(
        fake.url + "/publicAssetsUploadInit", json={"agent_id": AGENT, "file_name": "a.txt"}, headers=headers
    ).json()
    httpx.post(init["upload"]["url"], data=init["upload"]["fields"], files={"file": ("a.txt", b"hello")})
    httpx.post(
        fake.url + "/publicAssetsUploadComplete",
        json={"agent_id": AGENT, "file_id": init["file_id"]},
        headers=headers,
    )
    return init["file_id"]


def test_unknown_paths_and_methods(sketricgen):
    assert httpx.get(sketricgen.url + "/api/v1/nothing").status_code == 404
    assert httpx.get(sketricgen.url + "/api/v1/nothing").json() == {"detail": "Not Found"}
    assert httpx.get(sketricgen.url + "/api/v1/run-workflow").status_code == 405


def test_recorded_requests_are_capped(sketricgen):
    with httpx.Client() as client:
        for _ in range(205):
            client.get(sketricgen.url + "/nowhere")

    assert len(sketricgen.app.requests) == 200


def test_reset_restores_defaults(sketricgen):
    fake = sketricgen.app
    fake.api_keys = {"x"}
    fake.failure = "drop"
    fake.reply_words = 3
    fake.agents = []
    fake.reset()

    assert fake.api_keys == {"demo-key"}
    assert fake.failure is None
    assert fake.reply_words is None
    assert fake.token_delay == 0.02
    assert len(fake.agents) == 3
    assert fake.requests == []


# --- Directives ----------------------------------------------------------------------------


def test_directives_are_stripped_from_the_quote(sketricgen):
    text = run(sketricgen, {"agent_id": AGENT, "user_input": "hello [[tool]] there [[delay=0]]"}).json()[
        "response"
    ]

    assert "“hello there”" in text
    assert "[[" not in text


def test_unknown_directives_are_quoted_as_they_are(sketricgen):
    text = run(sketricgen, {"agent_id": AGENT, "user_input": "hello [[fail:nonsense]]"}).json()["response"]

    assert "[[fail:nonsense]]" in text


def test_words_sets_the_number_of_tokens(sketricgen):
    short = stream_events(sketricgen, "hi [[words=5]]")
    long = stream_events(sketricgen, "hi [[words=400]]")

    assert types(short).count("TEXT_MESSAGE_CONTENT") == 5
    assert types(long).count("TEXT_MESSAGE_CONTENT") == 400


def test_reply_words_attribute_sets_the_length(sketricgen):
    sketricgen.app.reply_words = 7

    assert types(stream_events(sketricgen, "hi")).count("TEXT_MESSAGE_CONTENT") == 7


def test_the_same_input_gives_the_same_reply(sketricgen):
    first = run(
        sketricgen, {"agent_id": AGENT, "user_input": "repeat [[words=300]]", "conversation_id": "c1"}
    )
    second = run(
        sketricgen, {"agent_id": AGENT, "user_input": "repeat [[words=300]]", "conversation_id": "c2"}
    )

    assert first.json()["response"].replace("c1", "c2") == second.json()["response"]


def test_delay_directive_spaces_the_tokens(sketricgen):
    started = time.monotonic()
    stream_events(sketricgen, "slow [[words=6]] [[delay=0.05]]")

    assert time.monotonic() - started >= 0.25


def test_stamp_directive_starts_each_delta_with_its_send_time(sketricgen):
    before = time.time_ns()
    events = stream_events(sketricgen, "timed [[stamp]] [[words=4]]")
    after = time.time_ns()

    deltas = [e["delta"] for e in events if e["type"] == "TEXT_MESSAGE_CONTENT"]
    stamps = [int(delta.split(" ", 1)[0]) for delta in deltas]
    assert len(deltas) == 4
    assert before <= stamps[0] <= stamps[-1] <= after
    assert "".join(delta.split(" ", 1)[1] for delta in deltas).startswith("This is a simulated")


def test_camel_directive_uses_ag_ui_keys(sketricgen):
    events = stream_events(sketricgen, "hi [[camel]] [[tool]] [[words=6]]")

    assert {"threadId", "runId"} <= set(events[0])
    assert "messageId" in events[1]
    tool = next(e for e in events if e["type"] == "TOOL_CALL_START")
    assert {"toolCallId", "toolCallName"} <= set(tool)
    assert not any("_" in key for event in events for key in event)


def test_lower_directive_uses_lower_case_types(sketricgen):
    events = stream_events(sketricgen, "hi [[lower]] [[words=3]]")

    assert types(events) == [
        "run_started",
        "text_message_start",
        "text_message_content",
        "text_message_content",
        "text_message_content",
        "text_message_end",
        "run_finished",
    ]


def test_tool_directive_calls_a_tool_between_two_messages(sketricgen, shapes):
    events = stream_events(sketricgen, "search [[tool]] [[words=6]]")

    arguments = ["TOOL_CALL_ARGS"] * 2 if shapes == "documented" else []
    assert types(events) == [
        "RUN_STARTED",
        "TEXT_MESSAGE_START",
        *["TEXT_MESSAGE_CONTENT"] * 3,
        "TEXT_MESSAGE_END",
        "TOOL_CALL_START",
        *arguments,
        "TOOL_CALL_END",
        "TEXT_MESSAGE_START",
        *["TEXT_MESSAGE_CONTENT"] * 3,
        "TEXT_MESSAGE_END",
        "RUN_FINISHED",
    ]
    start, end = events[6], events[7 + len(arguments)]
    assert start["tool_call_name"] == "web_search"
    assert start["tool_call_id"] == end["tool_call_id"]
    if arguments:
        streamed = "".join(e["delta"] for e in events[7:9])
        assert json.loads(streamed) == {"query": "server-sent events AG-UI", "max_results": 3}
        assert {e["tool_call_id"] for e in events[7:9]} == {start["tool_call_id"]}


def test_camel_tool_call_ends_with_ag_ui_tool_call_result(sketricgen, shapes):
    events = stream_events(sketricgen, "search [[tool]] [[camel]] [[words=6]]")

    result = next(e for e in events if e["type"] == "TOOL_CALL_RESULT")
    assert result["toolCallId"] == next(e for e in events if e["type"] == "TOOL_CALL_START")["toolCallId"]
    assert json.loads(result["content"])[0]["title"] == "AG-UI protocol: events"


def test_workspace_directive_sends_the_documented_custom_event(sketricgen, shapes):
    events = stream_events(sketricgen, "take notes [[workspace]] [[words=4]]")

    custom = events[1]
    assert custom["type"] == ("CUSTOM_EVENT" if shapes == "documented" else "CUSTOM")
    assert custom["name"] == "deep_agents_workspace"
    assert custom["value"]["path"].endswith("summary.md")


def test_out_of_credits_ends_the_stream_with_the_documented_terminal_event(sketricgen, shapes):
    events = stream_events(sketricgen, "long one [[credits]] [[words=20]]")

    text = "".join(e.get("delta", "") for e in events)
    assert 0 < len(text.split()) < 20
    if shapes == "documented":
        assert types(events)[-2:] == ["TEXT_MESSAGE_END", "RUN_HALTED_OUT_OF_CREDITS"]
    else:
        assert events[-2] == {
            **events[-2],
            "type": "CUSTOM",
            "name": "run_halted_out_of_credits",
            "value": True,
        }
        assert types(events)[-1] == "RUN_FINISHED"


def test_the_sdk_streams_until_out_of_credits(sketricgen_sdk, shapes):
    events = [
        json.loads(e.data)
        for e in sketricgen_sdk.run_workflow_sync(
            agent_id=AGENT, user_input="credits [[credits]] [[words=10]]", stream=True
        )
    ]

    assert types(events)[-1] == ("RUN_HALTED_OUT_OF_CREDITS" if shapes == "documented" else "RUN_FINISHED")


def test_a_history_free_turn_is_the_first_turn_to_the_agent(sketricgen):
    first = run(sketricgen, {"agent_id": AGENT, "user_input": "one"}).json()
    body = {"agent_id": AGENT, "user_input": "two", "conversation_id": first["conversation_id"]}
    second = run(sketricgen, {**body, "disable_conversation_history": True}).json()
    third = run(sketricgen, body).json()
    refused = run(sketricgen, {**body, "disable_conversation_history": "yes"})

    assert "turn 1" in second["response"]
    assert "turn 3" in third["response"]
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "disable_conversation_history"]


def test_key_access_decides_which_api_answers(sketricgen):
    sketricgen.app.api_keys = {"run-key", "manage-key"}
    sketricgen.app.key_access = {"run-key": "run", "manage-key": "manage"}
    admin = sketricgen.url + "/admin/v1/teamspaces"

    assert run(sketricgen, {"agent_id": AGENT, "user_input": "hi"}, key="run-key").status_code == 201
    assert run(sketricgen, {"agent_id": AGENT, "user_input": "hi"}, key="manage-key").status_code == 403
    assert httpx.get(admin, headers={"Authorization": "Bearer manage-key"}).status_code == 200
    refused = httpx.get(admin, headers={"Authorization": "Bearer run-key"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_role"


# --- Failure modes -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503])
@pytest.mark.parametrize("stream", [True, False])
def test_status_failures_answer_before_streaming(sketricgen, status, stream):
    response = run(sketricgen, {"agent_id": AGENT, "user_input": f"hi [[fail:{status}]]", "stream": stream})

    assert response.status_code == status
    assert isinstance(response.json()["detail"], str)
    assert response.headers.get("retry-after") == ("1" if status == 429 else None)


def test_failure_attribute_applies_to_every_run(sketricgen):
    sketricgen.app.failure = "503"

    assert run(sketricgen, {"agent_id": AGENT, "user_input": "a"}).status_code == 503
    assert run(sketricgen, {"agent_id": AGENT, "user_input": "b", "stream": True}).status_code == 503


def test_drop_ends_the_stream_without_run_finished(sketricgen):
    events = stream_events(sketricgen, "hi [[fail:drop]] [[words=10]]")

    assert types(events).count("TEXT_MESSAGE_CONTENT") == 5
    assert "RUN_FINISHED" not in types(events)


def test_reset_cuts_the_connection(sketricgen):
    with pytest.raises(httpx.RemoteProtocolError):
        run(sketricgen, {"agent_id": AGENT, "user_input": "hi [[fail:reset]] [[words=10]]", "stream": True})


def test_run_error_mid_reply(sketricgen):
    events = stream_events(sketricgen, "hi [[fail:run_error]] [[words=10]]")

    assert types(events)[-1] == "RUN_ERROR"
    assert "Simulated failure" in events[-1]["message"]


def test_run_error_in_json_mode_sets_the_error_flag(sketricgen_sdk):
    reply = sketricgen_sdk.run_workflow_sync(agent_id=AGENT, user_input="hi [[fail:run_error]]")

    assert reply.error is True
    assert "Simulated failure" in reply.response


def test_malformed_frame_mid_reply(sketricgen):
    response = run(
        sketricgen, {"agent_id": AGENT, "user_input": "[[fail:malformed]] [[words=4]]", "stream": True}
    )
    frames = [line[6:] for line in response.text.split("\n") if line.startswith("data: ")]

    bad = []
    for frame in frames:
        try:
            json.loads(frame)
        except ValueError:
            bad.append(frame)
    assert len(bad) == 1
    assert json.loads(frames[-1])["type"] == "RUN_FINISHED"


def test_bom_starts_the_body(sketricgen):
    response = run(sketricgen, {"agent_id": AGENT, "user_input": "[[fail:bom]] [[words=2]]", "stream": True})

    assert response.content.startswith(b"\xef\xbb\xbfdata: {")


def test_heartbeat_sends_comments_and_id_lines_with_blank_lines(sketricgen):
    response = run(
        sketricgen, {"agent_id": AGENT, "user_input": "[[fail:heartbeat]] [[words=3]]", "stream": True}
    )

    assert ": ping\n\n" in response.text
    assert "\nid: 0\n\n\n" in response.text


def test_unknown_event_type_mid_reply(sketricgen):
    events = stream_events(sketricgen, "[[fail:unknown]] [[words=4]]")

    unknown = [e for e in events if e["type"] == "SOMETHING_NEW"]
    assert len(unknown) == 1
    assert "<script>" in unknown[0]["secret"]
    assert types(events)[-1] == "RUN_FINISHED"


def test_huge_event_is_two_mebibytes(sketricgen):
    response = run(sketricgen, {"agent_id": AGENT, "user_input": "[[fail:huge]] [[words=4]]", "stream": True})
    frames = [line for line in response.text.split("\n") if line.startswith("data: ")]

    assert max(len(frame) for frame in frames) > 2 * 1024 * 1024


async def wait_until(condition, seconds=5.0):
    """Poll `condition`: it reads state the fake's server thread changes."""
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition never became true")


async def test_hang_sends_a_few_tokens_then_nothing_until_the_client_leaves(sketricgen):
    fake = sketricgen.app
    body = {"agent_id": AGENT, "user_input": "[[fail:hang]]", "stream": True}
    async with httpx.AsyncClient(timeout=httpx.Timeout(5, read=0.5)) as client:
        received = []
        with pytest.raises(httpx.ReadTimeout):
            async with client.stream(
                "POST", sketricgen.url + "/api/v1/run-workflow", json=body, headers={"api-key": "demo-key"}
            ) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        received.append(json.loads(line[6:])["type"])
                        assert fake.active_runs == 1

    assert received.count("TEXT_MESSAGE_CONTENT") == 3
    await wait_until(lambda: fake.active_runs == 0)


async def test_a_long_stream_stops_when_the_client_leaves(sketricgen):
    fake = sketricgen.app
    body = {"agent_id": AGENT, "user_input": "[[words=5000]] [[delay=0.05]]", "stream": True}
    async with (
        httpx.AsyncClient() as client,
        client.stream(
            "POST", sketricgen.url + "/api/v1/run-workflow", json=body, headers={"api-key": "demo-key"}
        ) as r,
    ):
        async for line in r.aiter_lines():
            if "TEXT_MESSAGE_CONTENT" in line:
                break
        assert fake.active_runs == 1

    await wait_until(lambda: fake.active_runs == 0)


async def test_five_hundred_concurrent_streams(sketricgen):
    body = {"agent_id": AGENT, "user_input": "[[words=10]] [[delay=0.02]]", "stream": True}
    limits = httpx.Limits(max_connections=600, max_keepalive_connections=600)

    async def one(client):
        async with client.stream(
            "POST", sketricgen.url + "/api/v1/run-workflow", json=body, headers={"api-key": "demo-key"}
        ) as response:
            text = (await response.aread()).decode()
        return text.count("TEXT_MESSAGE_CONTENT"), "RUN_FINISHED" in text

    started = time.monotonic()
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        results = await asyncio.gather(*(one(client) for _ in range(500)))

    assert results == [(10, True)] * 500
    assert time.monotonic() - started < 30


# --- Mounting ------------------------------------------------------------------------------


async def inner_app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": f"inner {scope['path']}".encode()})


def test_mount_fakes_routes_the_prefix_to_the_shared_fake():
    fake = FAKES["sketricgen"]
    assert isinstance(fake, SketricGenFake)
    with ServedApp(mount_fakes(inner_app)) as served:
        reply = httpx.post(
            served.url + "/fake/sketricgen/api/v1/run-workflow",
            json={"agent_id": AGENT, "user_input": "mounted"},
            headers={"api-key": "demo-key"},
        )
        other = httpx.get(served.url + "/chat/")
        bare = httpx.get(served.url + "/fake/sketricgen")

    assert reply.status_code == 201
    assert "“mounted”" in reply.json()["response"]
    assert fake.requests[-1]["path"] == "/api/v1/run-workflow"
    assert other.text == "inner /chat/"
    assert bare.text == "inner /fake/sketricgen"


# --- Human in the loop, through the official SDK ----------------------------------------------


async def test_the_sdk_pauses_for_decisions_and_resumes(sketricgen):
    from sketricgen.models.requests import HitlDecision, HitlResume

    sketricgen.app.token_delay = 0
    client = SketricGenClient(api_key="demo-key")
    client._config.base_url = sketricgen.url
    paused = await client.run_workflow(
        agent_id="agent-demo", user_input="mail the team [[hitl]]", enable_hitl=True
    )
    assert paused.run_paused_hitl
    request = paused.hitl_request
    assert [a.name for a in request.action_requests] == ["send_email", "create_ticket"]
    assert request.review_configs[1].allowed_decisions == ["approve", "reject"]

    events = [
        json.loads(event.data)
        async for event in await client.run_workflow(
            agent_id="agent-demo",
            conversation_id=paused.conversation_id,
            enable_hitl=True,
            stream=True,
            hitl_resume=HitlResume(
                request_id=request.request_id,
                decisions=[HitlDecision(type="respond", message="Say 5%"), HitlDecision(type="reject")],
            ),
        )
    ]
    text = "".join(e.get("delta", "") for e in events)
    assert events[-1]["type"] == "RUN_FINISHED"
    assert "send_email answered with 'Say 5%'; create_ticket rejected" in text


async def test_a_stream_pauses_with_the_request_and_a_wrong_resume_is_refused(sketricgen):
    sketricgen.app.token_delay = 0
    async with httpx.AsyncClient(base_url=sketricgen.url, headers={"api-key": "demo-key"}) as client:
        body = {"agent_id": "a", "user_input": "go [[hitl]]", "stream": True, "enable_hitl": True}
        raw = (await client.post("/api/v1/run-workflow", json=body)).text
        events = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: ")]
        assert events[-1]["type"] == "RUN_PAUSED_HITL"
        if sketricgen.app.legacy:
            request = events[-1]["hitl_request"]
        else:  # documented: the request in the custom event, then a bare pause, as the SDK's tests send it
            assert set(events[-1]) <= {"type", "timestamp"}
            assert events[-2]["type"] == "CUSTOM_EVENT"
            assert events[-2]["name"] == "deep_agents_hitl"
            request = events[-2]["value"]
        wrong = {
            "agent_id": "a",
            "user_input": "",
            "conversation_id": request["thread_id"],
            "enable_hitl": True,
            "hitl_resume": {"request_id": request["request_id"], "decisions": [{"type": "approve"}]},
        }
        assert (await client.post("/api/v1/run-workflow", json=wrong)).status_code == 422
