"""A local AG-UI agent for the demo and the relay tests, written with ag-ui-protocol's own types and encoder.

Any POST is a `RunAgentInput` (docs.ag-ui.com/sdk/python/core/types); the
answer is the event stream the protocol describes (docs.ag-ui.com/concepts/events):
RUN_STARTED echoing the thread and run ids, text messages, tool calls (START,
ARGS, END, RESULT), steps, reasoning, and RUN_FINISHED, with an interrupt
outcome when an action needs approval (docs.ag-ui.com/concepts/interrupts);
the run that resumes it carries `resume` entries. The tests also run the real
thing: Pydantic AI's AG-UI server (tests/ag_ui_server.py).

Directives in the last user message, not quoted: `[[tool]]` (a tool call
with its arguments and result), `[[approve]]` (an action that waits for the
user's approval), `[[think]]` (reasoning first), `[[step]]` (two steps),
`[[words=N]]`, `[[delay=S]]`, `[[fail:STATUS]]` (an HTTP error),
`[[fail:run-error]]` (RUN_ERROR mid-reply).
"""

import asyncio
import re
import uuid
from typing import Any

from ag_ui.core import (
    BaseEvent,
    Interrupt,
    ReasoningEndEvent,
    ReasoningMessageContentEvent,
    ReasoningMessageEndEvent,
    ReasoningMessageStartEvent,
    ReasoningStartEvent,
    RunAgentInput,
    RunErrorEvent,
    RunFinishedEvent,
    RunFinishedInterruptOutcome,
    RunStartedEvent,
    StepFinishedEvent,
    StepStartedEvent,
    TextMessageContentEvent,
    TextMessageEndEvent,
    TextMessageStartEvent,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from ag_ui.encoder import EventEncoder
from pydantic import ValidationError

from agents.fakes.base import TOKEN, FakePlatform, Receive, Request, Send, demo_reply, parse_directives

DIRECTIVE = re.compile(
    r"\[\[\s*(?:words\s*=\s*(?P<words>\d{1,9})|delay\s*=\s*(?P<delay>\d{1,5}(?:\.\d*)?)"
    r"|fail\s*:\s*(?P<fail>[45]\d\d|run-error)|(?P<flag>tool|approve|think|step))\s*\]\]",
    re.IGNORECASE,
)
APPROVAL_PREFIX = "approval-"


def user_text(message: Any) -> str:
    content = getattr(message, "content", "")
    if isinstance(content, str):
        return content
    return " ".join(
        getattr(part, "text", "") for part in content or [] if getattr(part, "type", "") == "text"
    )


def image_count(messages: list[Any]) -> int:
    return sum(
        1
        for message in messages
        if message.role == "user" and not isinstance(message.content, str)
        for part in message.content
        if part.type == "image"
    )


class AGUIFake(FakePlatform):
    """An AG-UI agent as an ASGI application. See the module docstring."""

    def reset(self) -> None:
        self.requests.clear()
        self.token_delay = 0.02
        self.api_key = ""  # when set, a Bearer token the agent requires
        self.actions_run: list[str] = []

    async def too_large(self, send: Send) -> None:
        await self._json(send, 413, {"detail": "Request body too large"})

    async def route(self, request: Request, receive: Receive, send: Send) -> None:
        if request.method != "POST":
            await self._json(send, 405, {"detail": "Method Not Allowed"})
            return
        if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
            await self._json(send, 401, {"detail": "Not authenticated"})
            return
        try:
            run = RunAgentInput.model_validate(request.body)
        except ValidationError as exc:
            await self._json(send, 422, {"detail": exc.errors(include_url=False, include_context=False)})
            return
        users = [m for m in run.messages if m.role == "user"]
        last = user_text(users[-1]) if users and not run.resume else ""
        text, asked = parse_directives(DIRECTIVE, last)
        if str(asked.get("fail", "")).isdigit():
            await self._json(send, int(asked["fail"]), {"detail": "Simulated failure"})
            return
        encoder = EventEncoder()
        headers = [(b"content-type", encoder.get_content_type().encode()), (b"cache-control", b"no-cache")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        disconnected = asyncio.Event()
        watcher = asyncio.create_task(self._watch_disconnect(receive, disconnected))
        delay = asked.get("delay", self.token_delay)

        async def emit(*events: BaseEvent) -> bool:
            """Send events; False when the client went away."""
            body = "".join(encoder.encode(event) for event in events).encode()
            await send({"type": "http.response.body", "body": body, "more_body": True})
            return not (delay and await self._wait(disconnected, delay))

        try:
            await self.run(run, text, asked, emit, earlier=len(run.messages) - (0 if run.resume else 1))
        finally:
            watcher.cancel()
            if not disconnected.is_set():
                await send({"type": "http.response.body", "body": b""})

    async def run(
        self, run: RunAgentInput, text: str, asked: dict[str, Any], emit: Any, earlier: int
    ) -> None:
        ids = {"thread_id": run.thread_id, "run_id": run.run_id}
        if not await emit(RunStartedEvent(**ids, protocol_version="1.0")):
            return
        if run.resume:
            await self.resumed(run, emit)
            return
        if asked.get("think"):
            thought = "r-" + uuid.uuid4().hex[:8]
            await emit(
                ReasoningStartEvent(message_id=thought),
                ReasoningMessageStartEvent(message_id=thought),
                ReasoningMessageContentEvent(
                    message_id=thought, delta="The user wants a demo reply; keep it short."
                ),
                ReasoningMessageEndEvent(message_id=thought),
                ReasoningEndEvent(message_id=thought),
            )
        if asked.get("step"):
            await emit(
                StepStartedEvent(step_name="Reading the question"),
                StepFinishedEvent(step_name="Reading the question"),
            )
        if asked.get("tool"):
            call = "call_" + uuid.uuid4().hex[:8]
            await emit(
                ToolCallStartEvent(tool_call_id=call, tool_call_name="lookup_opening_hours"),
                ToolCallArgsEvent(tool_call_id=call, delta='{"day": "today"}'),
                ToolCallEndEvent(tool_call_id=call),
                ToolCallResultEvent(
                    message_id=f"{call}-result", tool_call_id=call, content='{"open": "9:00-18:00"}'
                ),
            )
        if asked.get("approve"):
            call = "call_" + uuid.uuid4().hex[:8]
            interrupt = Interrupt(
                id=APPROVAL_PREFIX + call,
                reason="tool_call",
                message='Approve send_email({"to": "team@example.com"})?',
                tool_call_id=call,
            )
            await emit(
                ToolCallStartEvent(tool_call_id=call, tool_call_name="send_email"),
                ToolCallArgsEvent(tool_call_id=call, delta='{"to": "team@example.com"}'),
                ToolCallEndEvent(tool_call_id=call),
                RunFinishedEvent(**ids, outcome=RunFinishedInterruptOutcome(interrupts=[interrupt])),
            )
            return
        reply = demo_reply(
            text,
            sum(1 for m in run.messages if m.role == "user"),
            asked.get("words"),
            intro="This is a simulated AG-UI agent, not a real model.",
            noun="thread",
            bullets=[f"{earlier} earlier message(s) came with yours", f"this thread is `{run.thread_id}`"]
            + ([f"{image_count(run.messages)} image(s) in the thread"] if image_count(run.messages) else []),
        )
        message = "msg-" + uuid.uuid4().hex[:8]
        if not await emit(TextMessageStartEvent(message_id=message, role="assistant")):
            return
        tokens = TOKEN.findall(reply)
        for index, token in enumerate(tokens):
            if asked.get("fail") == "run-error" and index == len(tokens) // 2:
                await emit(
                    RunErrorEvent(message="Simulated failure: the agent's model did not answer.", code="FAKE")
                )
                return
            if not await emit(TextMessageContentEvent(message_id=message, delta=token)):
                return
        await emit(TextMessageEndEvent(message_id=message), RunFinishedEvent(**ids))

    async def resumed(self, run: RunAgentInput, emit: Any) -> None:
        """The run after an approval: the action runs if it was approved."""
        ids = {"thread_id": run.thread_id, "run_id": run.run_id}
        for entry in run.resume or []:
            call = entry.interrupt_id.removeprefix(APPROVAL_PREFIX)
            approved = (
                entry.status == "resolved"
                and isinstance(entry.payload, dict)
                and entry.payload.get("approved")
            )
            message = "msg-" + uuid.uuid4().hex[:8]
            if approved:
                self.actions_run.append(call)
                await emit(
                    ToolCallResultEvent(
                        message_id=f"{call}-result", tool_call_id=call, content='{"sent": true}'
                    )
                )
            said = "Approved: the email was sent." if approved else "Not approved: nothing was sent."
            await emit(
                TextMessageStartEvent(message_id=message, role="assistant"),
                TextMessageContentEvent(message_id=message, delta=said),
                TextMessageEndEvent(message_id=message),
            )
        await emit(RunFinishedEvent(**ids))
