"""A reply being streamed in this process: its state, and the frame each upstream event makes."""

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from agents.providers.events import (
    Activity,
    ApprovalRequested,
    ReplyEvent,
    ResumePoint,
    Retrying,
    RunFinished,
    RunStarted,
    TextDelta,
    TextReplace,
    ToolFinished,
    ToolStarted,
)
from conversations import protocol
from conversations.rendering import StreamingMarkdown

if TYPE_CHECKING:
    from conversations.relay.fanout import Hub

# A tool call's arguments and result are kept up to this length each.
MAX_TOOL_DETAIL_CHARS = 20_000


@dataclass(eq=False)
class ReplyRun:
    """A reply being streamed in this process."""

    message_id: int
    conversation_id: str
    hub: "Hub"
    seq: int = 0
    markdown: StreamingMarkdown = field(default_factory=StreamingMarkdown)
    tool_calls: list[dict[str, str]] = field(default_factory=list)
    upstream_conversation_id: str = ""
    upstream_run_id: str = ""
    finished: bool = False
    stop_requested: bool = False
    task: asyncio.Task | None = None
    approval: dict[str, Any] = field(default_factory=dict)
    remote_watchers: set[str] = field(default_factory=set)
    outbox: list[str] = field(default_factory=list)
    flusher: asyncio.Task | None = None
    first_text_at: datetime | None = None
    # The platform's last `ResumePoint`: saved with checkpoints, for a process taking the reply over.
    resume_point: dict[str, Any] = field(default_factory=dict)
    # What the last checkpoint saved, and when (monotonic seconds).
    saved_seq: int = 0
    saved_at: float = field(default_factory=time.monotonic)

    def snapshot(self) -> str:
        return protocol.reply_snapshot(
            message_id=self.message_id,
            seq=self.seq,
            text=self.markdown.text,
            html=self.markdown.committed_html,
            tail=self.markdown.tail,
            tool_calls=self.tool_calls,
        )

    def ended(self, status: str, error: str) -> str:
        return protocol.reply_ended(
            message_id=self.message_id,
            seq=self.seq,
            status=status,
            text=self.markdown.text,
            error=error,
            tool_calls=self.tool_calls,
            approval=self.approval,
        )

    def apply(self, event: ReplyEvent) -> str | None:
        """Fold `event` into the reply; the frame to send, or None for nothing to show."""
        if isinstance(event, TextDelta | TextReplace) and self.first_text_at is None:
            self.first_text_at = timezone.now()
        if isinstance(event, TextDelta):
            self.seq += 1
            commit = self.markdown.feed(event.text)
            return protocol.text_delta(
                message_id=self.message_id, seq=self.seq, text=event.text, commit=commit
            )
        if isinstance(event, TextReplace):
            self.seq += 1
            html, tail = self.markdown.replace(event.text)
            return protocol.text_replace(message_id=self.message_id, seq=self.seq, html=html, tail=tail)
        if isinstance(event, ToolStarted):
            self.tool_calls.append({"id": event.id, "name": event.name, "status": "running"})
        elif isinstance(event, ToolFinished):
            for call in self.tool_calls:
                if call["id"] == event.id:
                    call["status"] = "done"
                    if event.arguments:
                        call["arguments"] = event.arguments[:MAX_TOOL_DETAIL_CHARS]
                    if event.result:
                        call["result"] = event.result[:MAX_TOOL_DETAIL_CHARS]
        elif isinstance(event, RunStarted):
            self.upstream_conversation_id = event.conversation_id or self.upstream_conversation_id
            self.upstream_run_id = event.run_id or self.upstream_run_id
            return None
        elif isinstance(event, RunFinished):
            self.finished = True
            return None
        elif isinstance(event, ResumePoint):
            # With the reply's state at this point: a checkpoint may fall between a frame's events.
            self.resume_point = {**event.data, "seq": self.seq, "text_length": len(self.markdown.text)}
            return None
        elif isinstance(event, ApprovalRequested):
            self.approval = {"request_id": event.request_id, "actions": event.actions, "status": "pending"}
        elif not isinstance(event, Activity | Retrying | ApprovalRequested):
            return None
        self.seq += 1
        return protocol.reply_event(event, message_id=self.message_id, seq=self.seq)
