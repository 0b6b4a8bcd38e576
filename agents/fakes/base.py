"""What every fake platform shares: the ASGI plumbing, the request log, JSON replies and pauses."""

import asyncio
import contextlib
import json
import re
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

MAX_RECORDED_REQUESTS = 200
MAX_DIRECTIVE_WORDS = 150_000
MAX_DIRECTIVE_DELAY = 30.0
# Pauses up to this long are plain sleeps (cheap with hundreds of streams); a
# disconnect is then noticed at the next piece of the reply.
SHORT_PAUSE = 0.25
# A reply streams one of these at a time: a word with the spaces before it.
TOKEN = re.compile(r"\s*\S+")
FILLER_TEXT = (
    "agents answer in small pieces so the page can show each word as it arrives while the "
    "platform keeps thinking about the rest of the reply and nothing here comes from a real "
    "model it is all made up on the spot to look like a plausible answer"
)
FILLER = FILLER_TEXT.split()
QUOTE_CHARS = 300
PYTHON_SAMPLE = ("python", 'def reply(message: str) -> str:\n    return f"You said: {message}"')


@dataclass(frozen=True)
class Request:
    scope: Scope
    method: str
    path: str  # without the root path the fake is mounted under
    headers: dict[str, str]  # names in lower case
    raw: bytes
    body: Any  # the JSON body, or None


def demo_reply(
    message: str,
    turn: int,
    words: int | None,
    *,
    intro: str,
    noun: str,
    bullets: list[str],
    heading: str = "Here is some formatting to show off:",
    code: tuple[str, str] = PYTHON_SAMPLE,
) -> str:
    """A fake's whole reply: deterministic from its arguments, in Markdown that shows off rendering.

    `words` asks for exactly that many tokens: the reply cut short, or made longer with filler.
    """
    quote = " ".join(message.split())
    if len(quote) > QUOTE_CHARS:
        quote = quote[: QUOTE_CHARS - 1] + "…"
    chars, count = len(message), len(message.split())
    language, sample = code
    text = (
        f"{intro} This is turn {turn} of this {noun}. You said: “{quote}”\n\n"
        f"{heading}\n\n"
        + "".join(f"- {bullet}\n" for bullet in [*bullets, "nothing here came from a language model"])
        + f"\n```{language}\n{sample}\n```\n\n"
        "| Turn | Characters | Words |\n"
        "|-----:|-----------:|------:|\n"
        f"| {turn} | {chars} | {count} |"
    )
    if words is None:
        return text
    tokens = TOKEN.findall(text)
    if words <= len(tokens):
        return "".join(tokens[:words])
    return text + "\n\n" + " ".join(filler_words(message, words - len(tokens)))


def message_size(message: str) -> str:
    return f"your message has {len(message)} characters and {len(message.split())} words"


def filler_words(seed: str, count: int) -> list[str]:
    """`count` words of made-up prose, the same for the same `seed`, a sentence every twelve."""
    start = zlib.crc32(seed.encode()) % len(FILLER)
    words = []
    for i in range(count):
        word = FILLER[(start + i) % len(FILLER)]
        words.append(word.capitalize() if i % 12 == 0 else word)
        if i % 12 == 11 or i == count - 1:
            words[-1] += "."
    return words


def parse_directives(pattern: re.Pattern, text: str) -> tuple[str, dict[str, Any]]:
    """`text` without the directives `pattern` finds, and what they ask for.

    The pattern's named groups: `flag` (a name, true when given), `words` (a count),
    `delay` (seconds), and any other (a value, in lower case without spaces).
    """
    found: dict[str, Any] = {}

    def take(match: re.Match) -> str:
        for name, value in match.groupdict().items():
            if value is None:
                continue
            if name == "flag":
                found[value.lower().replace("-", "_")] = True
            elif name == "words":
                found["words"] = max(1, min(int(value), MAX_DIRECTIVE_WORDS))
            elif name == "delay":
                found["delay"] = min(float(value), MAX_DIRECTIVE_DELAY)
            else:
                found[name] = re.sub(r"\s+", "", value.lower())
        return ""

    return re.sub(r"[ \t]{2,}", " ", pattern.sub(take, text)).strip(), found


class FakePlatform:
    """A platform as an ASGI application. Subclasses implement:

    - `reset()`: every setting back to its default, conversations and the request log forgotten;
    - `route(request, receive, send)`: answer one HTTP request;
    - `too_large(send)`: the platform's answer to a body over `body_limit(path)`.
    """

    max_body_bytes: ClassVar[int] = 1024 * 1024
    json_content_type: ClassVar[bytes] = b"application/json"

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.reset()

    def reset(self) -> None:
        raise NotImplementedError

    async def route(self, request: Request, receive: Receive, send: Send) -> None:
        raise NotImplementedError

    async def too_large(self, send: Send) -> None:
        raise NotImplementedError

    def body_limit(self, path: str) -> int:
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1000})
            return
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root + "/"):
            path = path[len(root) :]
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
        }
        raw = await self._read_body(receive, self.body_limit(path))
        if raw is None:
            await self.too_large(send)
            return
        body = self._record(scope, path, headers, raw)
        await self.route(Request(scope, scope["method"], path, headers, raw, body), receive, send)

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    @staticmethod
    async def _read_body(receive: Receive, limit: int) -> bytes | None:
        """The whole request body, or None when it is over `limit` bytes."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _record(self, scope: Scope, path: str, headers: dict[str, str], raw: bytes) -> Any:
        """Log the request (tests read `requests`) and return its JSON body, or None."""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self.requests.append(
            {
                "method": scope["method"],
                "path": path,
                "query": scope.get("query_string", b"").decode("latin-1"),
                "headers": headers,
                "body": body,
            }
        )
        if len(self.requests) > MAX_RECORDED_REQUESTS:
            del self.requests[: len(self.requests) - MAX_RECORDED_REQUESTS]
        return body

    async def _json(
        self, send: Send, status: int, data: Any, extra_headers: Iterable[tuple[bytes, bytes]] = ()
    ) -> None:
        payload = json.dumps(data).encode()
        headers = [
            (b"content-type", self.json_content_type),
            (b"content-length", str(len(payload)).encode()),
            *extra_headers,
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    @staticmethod
    async def _watch_disconnect(receive: Receive, disconnected: asyncio.Event) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected.set()
                return

    @staticmethod
    async def _wait(disconnected: asyncio.Event, seconds: float) -> bool:
        """Sleep `seconds`; True when the client went away meanwhile."""
        if seconds <= SHORT_PAUSE:
            await asyncio.sleep(max(seconds, 0))
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(disconnected.wait(), seconds)
        return disconnected.is_set()
