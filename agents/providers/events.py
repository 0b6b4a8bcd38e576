"""The one vocabulary of reply events.

Every platform adapter turns its wire format into these events; the relay
numbers them and sends them to the browser as JSON (`to_dict`). The browser
never sees a platform's raw format.
"""

from dataclasses import asdict, dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class ReplyEvent:
    kind: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True, slots=True)
class RunStarted(ReplyEvent):
    """The platform accepted the turn. Ids are the platform's, kept for the next turn."""

    kind: ClassVar[str] = "run_started"
    conversation_id: str = ""
    run_id: str = ""


@dataclass(frozen=True, slots=True)
class ResumePoint(ReplyEvent):
    """Where the platform can replay this reply from, were the process relaying it to die.

    Saved with the reply's checkpoints; another process that takes the reply
    over hands it back to the adapter as `Turn.resume_from`.
    """

    kind: ClassVar[str] = "resume_point"
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TextDelta(ReplyEvent):
    kind: ClassVar[str] = "text_delta"
    text: str


@dataclass(frozen=True, slots=True)
class TextReplace(ReplyEvent):
    """The platform's full text for the reply so far, replacing what came before."""

    kind: ClassVar[str] = "text_replace"
    text: str


@dataclass(frozen=True, slots=True)
class ToolStarted(ReplyEvent):
    kind: ClassVar[str] = "tool_started"
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class ToolFinished(ReplyEvent):
    """A tool call ended. `arguments` and `result` are the platform's text (usually JSON), "" when not sent.

    A platform that sends the result after the end sends this event again for
    the same `id`, with the result.
    """

    kind: ClassVar[str] = "tool_finished"
    id: str
    arguments: str = ""
    result: str = ""


@dataclass(frozen=True, slots=True)
class Activity(ReplyEvent):
    """Something the agent is doing that is not reply text (thinking, a step)."""

    kind: ClassVar[str] = "activity"
    text: str


@dataclass(frozen=True, slots=True)
class Retrying(ReplyEvent):
    kind: ClassVar[str] = "retrying"
    attempt: int
    delay: float
    reason: str


@dataclass(frozen=True, slots=True)
class RunFinished(ReplyEvent):
    kind: ClassVar[str] = "run_finished"


@dataclass(frozen=True, slots=True)
class ApprovalRequested(ReplyEvent):
    """The run paused until the user decides on each action.

    `actions` holds `{"name", "args", "allowed"}` per action, `allowed` being
    some of "approve", "reject", "respond". The reply continues after a turn
    whose `Turn.approval` carries the decisions.
    """

    kind: ClassVar[str] = "approval_requested"
    request_id: str
    actions: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Usage(ReplyEvent):
    """The tokens the platform says the reply used (prompt and history in, reply out)."""

    kind: ClassVar[str] = "usage"
    input_tokens: int
    output_tokens: int
