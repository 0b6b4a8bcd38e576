"""What every platform adapter implements, and the one error type they raise."""

import abc
import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from agents.providers.events import ReplyEvent


class UpstreamError(Exception):
    """A platform call failed. `message` is shown to the user as it is.

    `retryable` says the request may be sent again as it is: the platform
    refused it before working on it (rate limit, overload, no connection), so
    sending it again cannot answer the message twice. A failure after the
    platform began answering is never retryable. `retry_after` is the wait in
    seconds the platform asked for, if it said.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


# File types by content, as conversations.attachments sniffs them.
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
# Images, PDFs and plain-text documents: what a chat agent reads.
IMAGE_AND_DOCUMENT_TYPES = IMAGE_TYPES | {
    "application/pdf",
    "text/plain",
    "text/csv",
    "text/markdown",
    "application/json",
}


@dataclass(frozen=True)
class Option:
    """One setting a platform reads, as the admin form offers it.

    `kind` is "text", "url", "flag" (true/false), "choice" (one of `choices`;
    empty means the platform's default) or "json" (an object).
    """

    help: str
    kind: str = "text"
    choices: tuple[str, ...] = ()
    default: Any = None
    label: str = ""


@dataclass(frozen=True)
class Connection:
    """A credential as an adapter sees it: where to call and with which key."""

    base_url: str
    api_key: str = field(repr=False)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AgentSpec:
    upstream_id: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class UserRef:
    id: int
    username: str
    email: str = ""


@dataclass(frozen=True)
class UpstreamAgent:
    """An agent as a platform's account lists it, for importing."""

    id: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class TurnFile:
    """A file attached to a turn, already checked against the platform's `accepted_file_types`.

    `read` returns the bytes; it blocks (storage I/O), so adapters call `load()`.
    """

    id: str
    name: str
    content_type: str
    size: int
    sha256: str
    read: Callable[[], bytes] = field(repr=False, compare=False)

    async def load(self) -> bytes:
        return await asyncio.to_thread(self.read)


@dataclass(frozen=True)
class Turn:
    """One user message to send upstream."""

    text: str
    user: UserRef
    upstream_conversation_id: str = ""
    timezone: str = ""  # the user's IANA time zone, as their browser reports it
    # Decisions that resume a paused run: {"request_id", "decisions": [{"type", "message"?}]}.
    approval: dict[str, Any] | None = None
    files: tuple[TurnFile, ...] = ()
    # The last `ResumePoint` of a reply whose process died: continue that reply, send nothing new.
    resume_from: dict[str, Any] | None = None


class Provider(abc.ABC):
    """One upstream platform.

    Subclasses set the class attributes and implement `stream_reply` and
    `check_connection`. `stream_reply` yields normalised events
    (agents.providers.events) and ends by returning after `RunFinished`, or by
    raising UpstreamError; it never yields a platform's raw event.
    """

    label: ClassVar[str]
    default_base_url: ClassVar[str]
    # Whether the platform replays a reply to another process (`ResumePoint`, `Turn.resume_from`).
    resumable: ClassVar[bool] = False
    max_input_chars: ClassVar[int | None] = None
    # The settings this platform reads, by name: per agent, and per credential.
    agent_options: ClassVar[dict[str, Option]] = {}
    credential_options: ClassVar[dict[str, Option]] = {}
    # MIME types (as sniffed from the content) the platform takes as attachments; empty: no files.
    accepted_file_types: ClassVar[frozenset[str]] = frozenset()
    max_files: ClassVar[int] = 10
    max_file_bytes: ClassVar[int] = 20 * 1024 * 1024
    # Whether a message may be only files, without text.
    files_without_text: ClassVar[bool] = False

    def __init__(self, connection: Connection, agent: AgentSpec | None = None):
        self.connection = connection
        self.agent = agent

    @classmethod
    def agent_option_problems(cls, options: dict[str, Any]) -> list[str]:
        """What is wrong with an agent's options for this platform (empty when nothing is).

        Subclasses extend this with checks of the values.
        """
        unknown = sorted(set(options) - set(cls.agent_options))
        if not unknown:
            return []
        known = ", ".join(cls.agent_options) or "none"
        return [f"{cls.label} agents have no option {', '.join(map(repr, unknown))} (options: {known})."]

    @classmethod
    def takes_only_images(cls) -> bool:
        return bool(cls.accepted_file_types) and all(t.startswith("image/") for t in cls.accepted_file_types)

    def input_problem(self, text: str, file_count: int = 0) -> str | None:
        """Why `text` (with `file_count` files) cannot be sent to this platform, or None when it can."""
        if not text.strip() and not (file_count and self.files_without_text):
            return "Write a message first." if not file_count else "Write a message to go with the files."
        if file_count > self.max_files:
            return f"{self.label} takes at most {self.max_files} file(s) with one message."
        if self.max_input_chars is not None and len(text) > self.max_input_chars:
            return (
                f"This message is {len(text):,} characters long; {self.label} takes at "
                f"most {self.max_input_chars:,}. Shorten it and send again."
            )
        return None

    @abc.abstractmethod
    def stream_reply(self, turn: Turn) -> AsyncIterator[ReplyEvent]:
        """Send `turn` and yield the reply as it arrives."""

    @abc.abstractmethod
    async def check_connection(self) -> str:
        """Make a small real request; return what succeeded, in plain words."""

    # Whether seeing an agent answer takes a real turn, which may cost the account credits: then
    # `check_connection` stays free and `check_with_real_turn` runs only when an admin confirms it.
    real_turn_check: ClassVar[bool] = False

    async def check_with_real_turn(self) -> str:
        """Run one short real agent turn and say what came back (may cost credits)."""
        return await self.check_connection()

    can_list_agents: ClassVar[bool] = False

    async def list_agents(self) -> list[UpstreamAgent]:
        """The agents the credential's account has, where the platform can list them."""
        raise UpstreamError(f"{self.label} has no way to list an account's agents.")
