"""OpenAI-compatible chat completions: OpenAI, vLLM, Ollama, LiteLLM and most model hosts.

`POST {base}/chat/completions` with a Bearer key, `{model, messages, stream,
stream_options: {include_usage: true}}` (OpenAI API reference, "Create chat
completion"). The client owns the history: every turn sends the
conversation's earlier messages (`Turn.history`, trimmed to the agent's
budget) and the new one. A stream is `data: <chat.completion.chunk>` events
ending with `data: [DONE]`; with `include_usage` the last chunk before it has
empty `choices` and the `usage`. Errors are `{"error": {"message", "type",
"param", "code"}}` with an HTTP status; some servers (vLLM, LiteLLM) send the
same object as an event inside a stream that already began.

The agent's upstream id is the model name. "Test connection" and "Import
agents" read `GET {base}/models`.
"""

import base64
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from agents.platforms import platform_label
from agents.providers.base import (
    HISTORY_OPTIONS,
    IMAGE_TYPES,
    HistoryMessage,
    Option,
    Provider,
    Turn,
    TurnFile,
    UpstreamAgent,
    UpstreamError,
    history_option_problems,
)
from agents.providers.events import Activity, ReplyEvent, RunFinished, RunStarted, TextDelta, Usage
from agents.providers.http import (
    as_text,
    iter_sse,
    open_stream,
    parse_json_object,
    read_capped,
    request_json,
    upstream_timeout,
)

PLATFORM = "openai_compatible"
LABEL = platform_label(PLATFORM)
DONE = "[DONE]"
MAX_LISTED_MODELS = 500
# Why a completion stopped, when that is not the model finishing its answer.
UNFINISHED = {
    "length": gettext_lazy("The model reached its length limit; the reply is cut off there."),
    "content_filter": gettext_lazy("The model's content filter stopped the reply."),
}


def usage_of(usage: Any) -> Usage | None:
    """The tokens a completion used (None when the server did not say)."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return Usage(input_tokens=prompt, output_tokens=completion)


def stream_error(data: dict[str, Any]) -> UpstreamError:
    error = data.get("error")
    said = as_text(error.get("message")) if isinstance(error, dict) else as_text(error)
    return UpstreamError(
        _("%(platform)s reported an error while answering: %(detail)s")
        % {"platform": LABEL, "detail": said[:300] or _("no details given")}
    )


async def image_part(file: TurnFile) -> dict[str, Any]:
    """An image as a chat content part: a base64 data URL (OpenAI API reference, "image_url")."""
    data = base64.b64encode(await file.load()).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:{file.content_type};base64,{data}"}}


async def user_content(text: str, images: tuple[TurnFile, ...]) -> str | list[dict[str, Any]]:
    """A user message's `content`: the text alone, or content parts when it has images."""
    if not images:
        return text
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for image in images:
        parts.append(await image_part(image))
    return parts


@dataclass
class StreamState:
    """What one streamed completion has said so far."""

    finish_reason: str = ""
    usage: Usage | None = None
    done: bool = False


def chunk_events(data: dict[str, Any], state: StreamState) -> Iterator[ReplyEvent]:
    """The normalised events of one `chat.completion.chunk` (only choice 0 is shown)."""
    if data.get("error"):
        raise stream_error(data)
    choices = data.get("choices") if isinstance(data.get("choices"), list) else []
    for choice in choices:
        if not isinstance(choice, dict) or choice.get("index", 0) != 0:
            continue
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
        # vLLM, DeepSeek and Ollama stream a model's reasoning beside its answer.
        if as_text(delta.get("reasoning_content")) or as_text(delta.get("reasoning")):
            yield Activity(text=_("Thinking…"))
        content = as_text(delta.get("content"))
        if content:
            yield TextDelta(text=content)
        state.finish_reason = as_text(choice.get("finish_reason")) or state.finish_reason
    state.usage = usage_of(data.get("usage")) or state.usage


def ending(state: StreamState) -> list[ReplyEvent]:
    """The last events of a completion that ended: its usage, then the end (or why it was cut off)."""
    if state.finish_reason in UNFINISHED:
        raise UpstreamError(str(UNFINISHED[state.finish_reason]))
    return [state.usage, RunFinished()] if state.usage else [RunFinished()]


class OpenAICompatibleProvider(Provider, platform=PLATFORM):
    default_base_url = "https://api.openai.com/v1"
    sends_history = True
    needs_key = False
    accepted_file_types = IMAGE_TYPES
    agent_options = {
        "system_prompt": Option(
            gettext_lazy("Instructions sent first, as the system message of every turn (optional)."),
            label=gettext_lazy("System prompt"),
        ),
        "images": Option(
            gettext_lazy(
                "The model reads images: attached images are sent as image_url content parts "
                "(off: messages with images are refused)."
            ),
            "flag",
            default=False,
            label=gettext_lazy("Takes images"),
        ),
        "stream": Option(
            gettext_lazy("Stream the reply as it is written (off: one JSON reply)."),
            "flag",
            default=True,
            label=gettext_lazy("Stream"),
        ),
        **HISTORY_OPTIONS,
    }

    @classmethod
    def option_value_problems(cls, options: dict[str, Any]) -> list[str]:
        return history_option_problems(options)

    @property
    def takes_images(self) -> bool:
        return bool(self.agent and self.agent.options.get("images"))

    def input_problem(self, text: str, file_count: int = 0) -> str | None:
        if file_count and not self.takes_images:
            return _("This model does not take images. Send the message without them.")
        return super().input_problem(text, file_count)

    @property
    def model(self) -> str:
        return self.agent.upstream_id if self.agent else ""

    def url(self, path: str) -> str:
        return self.connection.base_url.rstrip("/") + path

    def headers(self, accept: str = "application/json") -> dict[str, str]:
        headers = {"Accept": accept}
        if self.connection.api_key:
            headers["Authorization"] = f"Bearer {self.connection.api_key}"
        return headers

    async def history_messages(self, history: tuple[HistoryMessage, ...]) -> list[dict[str, Any]]:
        messages = []
        for message in history:
            if message.role == "user":
                images = message.images if self.takes_images else ()
                messages.append({"role": "user", "content": await user_content(message.text, images)})
            elif message.text:
                messages.append({"role": "assistant", "content": message.text})
        return messages

    async def request_body(self, turn: Turn, *, stream: bool) -> dict[str, Any]:
        assert self.agent is not None
        messages: list[dict[str, Any]] = []
        system_prompt = as_text(self.agent.options.get("system_prompt")).strip()
        if system_prompt:
            messages.append({"role": "system", "content": system_prompt})
        messages += await self.history_messages(turn.history)
        images = turn.files if self.takes_images else ()
        messages.append({"role": "user", "content": await user_content(turn.text, images)})
        body: dict[str, Any] = {"model": self.model, "messages": messages, "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    async def _stream(self, turn: Turn) -> AsyncIterator[ReplyEvent]:
        stream = self.agent is None or self.agent.options.get("stream", True) is not False
        body = await self.request_body(turn, stream=stream)
        accept = "text/event-stream" if stream else "application/json"
        async with open_stream(
            "POST",
            self.url("/chat/completions"),
            platform=LABEL,
            client=self.client,
            json=body,
            headers=self.headers(accept),
        ) as response:
            if not stream or "json" in response.headers.get("content-type", "").lower():
                await read_capped(response, platform=LABEL)
                for event in self.completion_events(response.text):
                    yield event
                return
            yield RunStarted()
            state = StreamState()
            async for sse in iter_sse(response):
                if sse.data.strip() == DONE:
                    state.done = True
                    break
                data = parse_json_object(sse.data)
                if data is None:
                    raise UpstreamError(
                        _("%(platform)s sent an event that is not valid JSON; the reply was cut off.")
                        % {"platform": LABEL}
                    )
                for event in chunk_events(data, state):
                    yield event
        if not state.done and not state.finish_reason:
            raise UpstreamError(
                _("%(platform)s closed the stream before the reply finished; the reply is incomplete.")
                % {"platform": LABEL}
            )
        for event in ending(state):
            yield event

    def completion_events(self, body: str) -> list[ReplyEvent]:
        """The events of a whole `chat.completion` object (a reply not streamed)."""
        data = parse_json_object(body)
        if data is None:
            raise UpstreamError(_("%(platform)s sent a reply that is not JSON.") % {"platform": LABEL})
        if data.get("error"):
            raise stream_error(data)
        choices = data.get("choices") if isinstance(data.get("choices"), list) else []
        first = choices[0] if choices and isinstance(choices[0], dict) else {}
        message = first.get("message") if isinstance(first.get("message"), dict) else {}
        refusal = as_text(message.get("refusal"))
        text = as_text(message.get("content")) or refusal
        if not first:
            raise UpstreamError(_("%(platform)s sent a reply without a message.") % {"platform": LABEL})
        state = StreamState(
            finish_reason=as_text(first.get("finish_reason")), usage=usage_of(data.get("usage"))
        )
        events: list[ReplyEvent] = [RunStarted()]
        if text:
            events.append(TextDelta(text=text))
        return events + ending(state)

    async def models(self) -> list[dict[str, Any]]:
        data = await request_json(
            "GET",
            self.url("/models"),
            platform=LABEL,
            client=self.client,
            headers=self.headers(),
            timeout=upstream_timeout(read=30),
        )
        listed = data.get("data")
        if not isinstance(listed, list):
            raise UpstreamError(
                _("%(platform)s answered /models without a list of models.") % {"platform": LABEL}
            )
        return [m for m in listed[:MAX_LISTED_MODELS] if isinstance(m, dict) and as_text(m.get("id"))]

    async def check_connection(self) -> str:
        """List the models (`GET /models`): it checks the address and the key and runs no completion."""
        models = await self.models()
        names = [m["id"] for m in models]
        shown = ", ".join(names[:5]) + (" …" if len(names) > 5 else "")
        said = ngettext(
            "Connected to %(platform)s: the key was accepted and %(count)d model is listed (%(shown)s).",
            "Connected to %(platform)s: the key was accepted and %(count)d models are listed (%(shown)s).",
            len(names),
        ) % {"platform": LABEL, "count": len(names), "shown": shown}
        if self.agent is not None and self.model not in names:
            raise UpstreamError(
                said + " " + _("The model “%(model)s” is not among them.") % {"model": self.model}
            )
        return said

    can_list_agents = True

    async def list_agents(self) -> list[UpstreamAgent]:
        return [
            UpstreamAgent(id=m["id"], name=m["id"], description=as_text(m.get("owned_by")))
            for m in await self.models()
        ]
