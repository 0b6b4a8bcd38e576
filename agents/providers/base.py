"""What every platform adapter implements, and the one error type they raise."""

import abc
import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from django.utils.formats import number_format
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from agents.platforms import platform_label
from agents.providers.events import ReplyEvent

if TYPE_CHECKING:
    import httpx


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

    `kind` is "text", "url", "flag" (true/false), "choice" (one of `choices`, the
    values the platform takes with the words the admin reads for each; empty
    means the platform's default) or "json" (an object).
    """

    help: str
    kind: str = "text"
    choices: Mapping[str, str] = field(default_factory=dict)
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
class HistoryMessage:
    """An earlier message of the conversation, for platforms where the client owns the history.

    `role` is "user" or "assistant"; `images` are the user's image attachments;
    `tool_calls` are the reply's `{"id", "name", "arguments"?, "result"?}`.
    """

    role: str
    text: str
    id: str = ""
    images: tuple[TurnFile, ...] = ()
    tool_calls: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class Turn:
    """One user message to send upstream.

    `history` holds the conversation's earlier messages, oldest first, trimmed to
    the agent's budget, and only for a provider with `sends_history`; otherwise
    it stays empty. A turn resuming a paused run has the paused reply last.
    """

    text: str
    user: UserRef
    upstream_conversation_id: str = ""
    timezone: str = ""  # the user's IANA time zone, as their browser reports it
    # Decisions that resume a paused run: {"request_id", "decisions": [{"type", "message"?}]}.
    approval: dict[str, Any] | None = None
    files: tuple[TurnFile, ...] = ()
    history: tuple[HistoryMessage, ...] = ()
    # The last `ResumePoint` of a reply whose process died: continue that reply, send nothing new.
    resume_from: dict[str, Any] | None = None


# Agent options of every provider with `sends_history`: how much of the conversation goes along.
DEFAULT_HISTORY_MESSAGES = 50
DEFAULT_HISTORY_TOKENS = 8000
HISTORY_OPTIONS = {
    "history_messages": Option(
        format_lazy(
            gettext_lazy(
                "The most earlier messages sent with each turn: the newest are kept, older ones left out "
                "(empty: {default}; 0: none, each message stands alone)."
            ),
            default=DEFAULT_HISTORY_MESSAGES,
        ),
        label=gettext_lazy("History: messages"),
    ),
    "history_tokens": Option(
        format_lazy(
            gettext_lazy(
                "About how many tokens of earlier messages are sent with each turn (a token counted as "
                "four characters); the newest messages that fit are kept (empty: {default})."
            ),
            default=DEFAULT_HISTORY_TOKENS,
        ),
        label=gettext_lazy("History: tokens"),
    ),
}


@dataclass(frozen=True)
class HistoryBudget:
    """How much of the conversation a turn carries: at most `messages` messages and about `tokens` tokens."""

    messages: int = DEFAULT_HISTORY_MESSAGES
    tokens: int = DEFAULT_HISTORY_TOKENS

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> "HistoryBudget":
        return cls(
            messages=whole_number(options.get("history_messages"), DEFAULT_HISTORY_MESSAGES),
            tokens=whole_number(options.get("history_tokens"), DEFAULT_HISTORY_TOKENS),
        )


def whole_number(value: Any, default: int) -> int:
    """`value` (an int or a string of digits, as the admin stores it) as an int; `default` when unset."""
    if isinstance(value, bool) or value in (None, ""):
        return default
    if isinstance(value, int):
        return max(0, value)
    text = str(value).strip()
    return int(text) if text.isdigit() else default


def history_option_problems(options: dict[str, Any]) -> list[str]:
    return [
        _("%(option)s must be a whole number (0 or more).") % {"option": name}
        for name in HISTORY_OPTIONS
        if options.get(name) not in (None, "") and not str(options[name]).strip().isdigit()
    ]


class Provider(abc.ABC):
    """One upstream platform.

    A subclass names its registry entry (`class X(Provider, platform="x")`,
    agents.platforms), which gives it its `label`; sets the other class
    attributes; and implements `_stream` and `check_connection`. The public
    `stream_reply` checks the turn once (`turn_problem`) and then runs
    `_stream`, which yields normalised events (agents.providers.events) and
    ends by returning after `RunFinished`, or by raising UpstreamError; it
    never yields a platform's raw event. HTTP goes through `self.client`.
    """

    platform: ClassVar[str]
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
    # Whether each turn carries the conversation's earlier messages (`Turn.history`): the
    # platform keeps no history of its own. Such a provider adds HISTORY_OPTIONS to its agent options.
    sends_history: ClassVar[bool] = False
    # Whether every call needs an API key; False for agent servers that may need no authentication.
    needs_key: ClassVar[bool] = True

    def __init_subclass__(cls, *, platform: str = "", **kwargs: Any):
        super().__init_subclass__(**kwargs)
        if platform:
            cls.platform = platform
            cls.label = platform_label(platform)

    def __init__(
        self,
        connection: Connection,
        agent: AgentSpec | None = None,
        *,
        client: "httpx.AsyncClient | None" = None,
    ):
        """`client` defaults to the process's guarded, pooled client (agents.providers.http)."""
        self.connection = connection
        self.agent = agent
        self._client = client

    @property
    def client(self) -> "httpx.AsyncClient":
        from agents.providers.http import upstream_client

        return self._client or upstream_client()

    @classmethod
    def agent_option_problems(cls, options: dict[str, Any]) -> list[str]:
        """What is wrong with an agent's options for this platform (empty when nothing is)."""
        unknown = sorted(set(options) - set(cls.agent_options))
        problems = []
        if unknown:
            known = ", ".join(cls.agent_options) or _("none")
            problems.append(
                _("%(platform)s agents have no option %(unknown)s (options: %(known)s).")
                % {"platform": cls.label, "unknown": ", ".join(map(repr, unknown)), "known": known}
            )
        return problems + cls.option_value_problems(options)

    @classmethod
    def option_value_problems(cls, options: dict[str, Any]) -> list[str]:
        """What is wrong with the values of the options this platform reads; subclasses check theirs."""
        return []

    @classmethod
    def takes_only_images(cls) -> bool:
        return bool(cls.accepted_file_types) and all(t.startswith("image/") for t in cls.accepted_file_types)

    def input_problem(self, text: str, file_count: int = 0) -> str | None:
        """Why `text` (with `file_count` files) cannot be sent to this platform, or None when it can."""
        if not text.strip() and not (file_count and self.files_without_text):
            return (
                _("Write a message first.") if not file_count else _("Write a message to go with the files.")
            )
        if file_count > self.max_files:
            return ngettext(
                "%(platform)s takes at most %(count)d file with one message.",
                "%(platform)s takes at most %(count)d files with one message.",
                self.max_files,
            ) % {"platform": self.label, "count": self.max_files}
        if self.max_input_chars is not None and len(text) > self.max_input_chars:
            return _(
                "This message is %(length)s characters long; %(platform)s takes at most %(limit)s. "
                "Shorten it and send again."
            ) % {
                "length": number_format(len(text), force_grouping=True),
                "platform": self.label,
                "limit": number_format(self.max_input_chars, force_grouping=True),
            }
        return None

    def turn_problem(self, turn: Turn) -> str | None:
        """Why `turn` cannot be sent with this agent (its text, files or the agent's settings), or None."""
        if turn.approval is None and turn.resume_from is None:  # decisions and takeovers carry no message
            problem = self.input_problem(turn.text, len(turn.files))
            if problem:
                return problem
        for file in turn.files:
            if file.content_type not in self.accepted_file_types:
                if self.takes_only_images():
                    return _("%(platform)s takes only images; “%(file)s” is not one.") % {
                        "platform": self.label,
                        "file": file.name,
                    }
                return _("%(platform)s does not take “%(file)s” (%(type)s).") % {
                    "platform": self.label,
                    "file": file.name,
                    "type": file.content_type,
                }
        problems = self.option_value_problems(self.agent.options) if self.agent else []
        if problems:
            return _("This agent's %(platform)s settings need fixing by an admin: %(problems)s") % {
                "platform": self.label,
                "problems": " ".join(problems),
            }
        return None

    async def stream_reply(self, turn: Turn) -> AsyncIterator[ReplyEvent]:
        """Send `turn` and yield the reply as it arrives; UpstreamError for a turn that cannot be sent."""
        problem = self.turn_problem(turn)
        if problem:
            raise UpstreamError(problem)
        async with aclosing(self._stream(turn)) as events:
            async for event in events:
                yield event

    @abc.abstractmethod
    def _stream(self, turn: Turn) -> AsyncIterator[ReplyEvent]:
        """Send the checked `turn` and yield the reply as it arrives."""

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
        raise UpstreamError(
            _("%(platform)s has no way to list an account's agents.") % {"platform": self.label}
        )
