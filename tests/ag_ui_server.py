"""A real AG-UI server for the tests: Pydantic AI's AG-UI adapter in front of a scripted model (no LLM).

`AGUIAdapter.dispatch_request` (ai.pydantic.dev/ag-ui, "Usage", the second
way) answers each POST. The model is a `FunctionModel` whose script reads the
last user message:

- "weather": calls the tool `get_weather` (its result comes from the tool), then answers;
- "delete": calls `delete_file`, a tool that `requires_approval`, so the run
  ends with an interrupt until the client resumes it with a decision;
- "think": streams a thinking part before the answer;
- "crash": the model raises, which the adapter reports as RUN_ERROR;
- anything else: an answer that quotes the message and counts the earlier messages.
"""

from collections.abc import AsyncIterator

from pydantic_ai import Agent, DeferredToolRequests
from pydantic_ai.messages import ModelMessage, ModelRequest, ToolReturnPart, UserPromptPart
from pydantic_ai.models.function import AgentInfo, DeltaThinkingPart, DeltaToolCall, FunctionModel
from pydantic_ai.ui.ag_ui import AGUIAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

DELETED: list[str] = []


def last_user_text(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    content = part.content
                    return (
                        content
                        if isinstance(content, str)
                        else " ".join(c for c in content if isinstance(c, str))
                    )
    return ""


def tool_results(messages: list[ModelMessage]) -> list[ToolReturnPart]:
    last = messages[-1] if messages else None
    if not isinstance(last, ModelRequest):
        return []
    return [part for part in last.parts if isinstance(part, ToolReturnPart)]


def earlier_messages(messages: list[ModelMessage]) -> int:
    return sum(1 for m in messages[:-1] if not (isinstance(m, ModelRequest) and tool_results([m])))


async def script(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str | dict]:
    text = last_user_text(messages)
    results = tool_results(messages)
    if results:
        for piece in ("The tool said: ", str(results[0].content), ". Done."):
            yield piece
        return
    if "crash" in text:
        raise RuntimeError("The scripted model crashed on purpose.")
    if "weather" in text:
        yield {
            0: DeltaToolCall(name="get_weather", json_args='{"city": "Paris"}', tool_call_id="call_weather")
        }
        return
    if "delete" in text:
        yield {
            0: DeltaToolCall(
                name="delete_file", json_args='{"path": "notes.txt"}', tool_call_id="call_delete"
            )
        }
        return
    if "think" in text:
        yield {0: DeltaThinkingPart(content="Let me think about this carefully.")}
    for piece in (f"You said: “{text}”. ", f"I was sent {len(messages) - 1} earlier message(s)."):
        yield piece


model = FunctionModel(stream_function=script, model_name="scripted")
agent = Agent(model, output_type=[str, DeferredToolRequests])


@agent.tool_plain
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}, 22 °C"


@agent.tool_plain(requires_approval=True)
def delete_file(path: str) -> str:
    """Delete a file (asks the user first)."""
    DELETED.append(path)
    return f"Deleted {path}"


async def run_agent(request: Request) -> Response:
    return await AGUIAdapter.dispatch_request(request, agent=agent)


app = Starlette(routes=[Route("/agent", run_agent, methods=["POST"])])
