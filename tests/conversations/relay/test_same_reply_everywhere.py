"""One scripted reply, written in each platform's wire format, gives the user the same thing.

The script is text, one tool call, more text. Slug chat, AgentWeave,
OpenAI-compatible chat and A2A have no tool events in what they stream to a
chat client, so there the script is the text alone; the tool frames must then
be the only difference.
"""

import json

import pytest
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    Artifact,
    Part,
    StreamResponse,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from asgiref.sync import sync_to_async
from google.protobuf.json_format import MessageToDict

from agents.models import Agent, Credential
from conversations.models import Conversation
from tests.conversations.sockets import frames_until, messages_of
from tests.fakes import ServedApp, verbatim_app

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ["Checking ", "the **calendar**", "…"]
AFTER = ["\n\nWe are open ", "until 6pm."]
TOOL = "calendar_lookup"
REPLY = "".join(BEFORE + AFTER)


def sse(*events: dict | str) -> bytes:
    return b"".join(
        b"data: " + (event if isinstance(event, str) else json.dumps(event)).encode() + b"\n\n"
        for event in events
    )


def sketricgen_wire() -> bytes:
    def content(delta):
        return {"type": "TEXT_MESSAGE_CONTENT", "message_id": "m1", "delta": delta}

    return sse(
        {"type": "RUN_STARTED", "thread_id": "conv_1", "run_id": "run_1"},
        {"type": "TEXT_MESSAGE_START", "message_id": "m1", "role": "assistant"},
        *map(content, BEFORE),
        {"type": "TOOL_CALL_START", "tool_call_id": "call_1", "tool_call_name": TOOL},
        {"type": "TOOL_CALL_END", "tool_call_id": "call_1"},
        *map(content, AFTER),
        {"type": "TEXT_MESSAGE_END", "message_id": "m1"},
        {"type": "RUN_FINISHED", "thread_id": "conv_1", "run_id": "run_1"},
    )


def workflow_chat_wire() -> bytes:
    events = [
        *({"type": "chunk", "data": text} for text in BEFORE),
        {"type": "tool_start", "toolName": TOOL},
        {"type": "tool_result", "toolName": TOOL, "result": {"open": True}},
        *({"type": "chunk", "data": text} for text in AFTER),
        {"type": "done", "data": {"type": "message", "message": REPLY}},
    ]
    return b"".join(
        f"id: {index}\n".encode() + sse({**event, "index": index}) for index, event in enumerate(events, 1)
    )


def slug_chat_wire() -> bytes:
    return sse({"conversationId": "conv_1"}, *({"chunk": text} for text in BEFORE + AFTER), "[DONE]")


def agentweave_wire() -> bytes:
    def frame(action, content):
        message = {
            "content": content,
            "from": "assistant",
            "thread_id": "01JCONV0000000000000000000",
            "type": "text",
        }
        return {"action": action, "message": message, "result": {"code": 201000, "message": "Successfully."}}

    return sse(
        *(frame("send_message.delta", text) for text in BEFORE + AFTER),
        frame("send_message.completed", REPLY),
    )


def ag_ui_wire() -> bytes:
    """Standard AG-UI, camelCase, as ag-ui-protocol's EventEncoder writes it."""

    def content(delta):
        return {"type": "TEXT_MESSAGE_CONTENT", "messageId": "m1", "delta": delta}

    return sse(
        {"type": "RUN_STARTED", "threadId": "conv_1", "runId": "run_1"},
        {"type": "TEXT_MESSAGE_START", "messageId": "m1", "role": "assistant"},
        *map(content, BEFORE),
        {"type": "TOOL_CALL_START", "toolCallId": "call_1", "toolCallName": TOOL},
        {"type": "TOOL_CALL_END", "toolCallId": "call_1"},
        *map(content, AFTER),
        {"type": "TEXT_MESSAGE_END", "messageId": "m1"},
        {"type": "RUN_FINISHED", "threadId": "conv_1", "runId": "run_1", "outcome": {"type": "success"}},
    )


def openai_compatible_wire() -> bytes:
    """`chat.completion.chunk` events as in OpenAI's API reference, usage last, then [DONE]."""

    def chunk(delta, finish_reason=None):
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [choice],
        }

    usage = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
    return sse(
        chunk({"role": "assistant", "content": ""}),
        *(chunk({"content": text}) for text in BEFORE + AFTER),
        chunk({}, "stop"),
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [],
            "usage": usage,
        },
        "[DONE]",
    )


def a2a_wire() -> bytes:
    """A2A 1.0 `SendStreamingMessage` events, written with the official SDK's types."""
    task, context = "task-1", "ctx-1"

    def result(event: StreamResponse) -> dict:
        return {"jsonrpc": "2.0", "id": "1", "result": MessageToDict(event)}

    def chunk(index: int, text: str) -> dict:
        artifact = Artifact(artifact_id="a1", name="reply", parts=[Part(text=text)])
        update = TaskArtifactUpdateEvent(
            task_id=task, context_id=context, artifact=artifact, append=index > 0
        )
        return result(StreamResponse(artifact_update=update))

    def status(state: TaskState) -> dict:
        update = TaskStatusUpdateEvent(task_id=task, context_id=context, status=TaskStatus(state=state))
        return result(StreamResponse(status_update=update))

    submitted = Task(id=task, context_id=context, status=TaskStatus(state=TaskState.TASK_STATE_SUBMITTED))
    return sse(
        result(StreamResponse(task=submitted)),
        status(TaskState.TASK_STATE_WORKING),
        *(chunk(index, text) for index, text in enumerate(BEFORE + AFTER)),
        status(TaskState.TASK_STATE_COMPLETED),
    )


def a2a_app(wire: bytes):
    """The agent's card on GET (its JSON-RPC interface on the same address), the wire on POST."""
    streams = verbatim_app(wire)

    async def app(scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "GET":
            host = dict(scope["headers"])[b"host"].decode()
            card = AgentCard(
                name="Scripted",
                supported_interfaces=[
                    AgentInterface(url=f"http://{host}/", protocol_binding="JSONRPC", protocol_version="1.0")
                ],
                capabilities=AgentCapabilities(streaming=True),
            )
            await verbatim_app(json.dumps(MessageToDict(card)).encode(), b"application/json")(
                scope, receive, send
            )
            return
        await streams(scope, receive, send)

    return app


WIRES = {
    "sketricgen": (sketricgen_wire, True),
    "workflow_chat": (workflow_chat_wire, True),
    "slug_chat": (slug_chat_wire, False),
    "agentweave": (agentweave_wire, False),
    "ag_ui": (ag_ui_wire, True),
    "openai_compatible": (openai_compatible_wire, False),
    "a2a": (a2a_wire, False),
}


def what_the_user_sees(frames: list[dict]) -> list[tuple]:
    """The reply frames without ids, sequence numbers and timings."""
    seen = []
    for frame in frames:
        kind = frame["type"]
        if kind == "text_delta":
            seen.append((kind, frame["text"]))
        elif kind == "tool_started":
            seen.append((kind, frame["name"]))
        elif kind == "tool_finished":
            seen.append((kind,))
        elif kind == "reply.ended":
            seen.append((kind, frame["status"], frame["text"], [c["name"] for c in frame["tool_calls"]]))
    return seen


async def reply_on(platform: str, alice, connect) -> tuple[list[tuple], object]:
    wire, _ = WIRES[platform]
    app = a2a_app(wire()) if platform == "a2a" else verbatim_app(wire())
    with ServedApp(app) as served:

        def setup() -> Conversation:
            credential = Credential(platform=platform, name=platform, base_url=served.url)
            credential.set_api_key("demo-key")
            credential.save()
            agent = Agent.objects.create(
                name=platform, slug=platform.replace("_", "-"), credential=credential, upstream_agent_id="a1"
            )
            return Conversation.objects.create(owner=alice, agent=agent)

        conversation = await sync_to_async(setup)()
        _, ws = await connect(alice, conversation.id)
        await ws.send_json_to({"type": "send", "text": "When are you open?"})
        frames = await frames_until(ws, "reply.ended")
        await ws.disconnect()
    return what_the_user_sees(frames), (await messages_of(conversation))[-1]


async def test_the_same_scripted_reply_looks_the_same_on_every_platform(alice, connect):
    seen = {platform: await reply_on(platform, alice, connect) for platform in WIRES}

    with_tools = [platform for platform, (_, has_tools) in WIRES.items() if has_tools]
    reference_frames = seen["sketricgen"][0]
    assert reference_frames == [
        *(("text_delta", text) for text in BEFORE),
        ("tool_started", TOOL),
        ("tool_finished",),
        *(("text_delta", text) for text in AFTER),
        ("reply.ended", "complete", REPLY, [TOOL]),
    ]
    for platform, (frames, message) in seen.items():
        assert message.status == "complete", platform
        assert message.content == REPLY, platform
        if platform in with_tools:
            assert frames == reference_frames, platform
            assert [(c["name"], c["status"]) for c in message.tool_calls] == [(TOOL, "done")], platform
        else:
            without_tools = [f for f in reference_frames if not f[0].startswith("tool_")]
            assert frames == [*without_tools[:-1], ("reply.ended", "complete", REPLY, [])], platform
            assert message.tool_calls == [], platform
