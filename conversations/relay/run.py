"""A reply being streamed in this process: its state, and the frame each upstream event makes."""

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
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
    Usage,
)
from conversations import protocol, reply_parts
from conversations.rendering import StreamingMarkdown, render_markdown

if TYPE_CHECKING:
    from conversations.relay.fanout import Hub

# A tool call's arguments and result are kept up to this length each.
MAX_TOOL_DETAIL_CHARS = 20_000

# The open block (the Markdown block being written) is rendered at most this often per reply,
LIVE_RENDER_SECONDS = 0.1
# and less often when it is slow to render (a long code block) or the process is busy: its renders take at
# most this share of the time (as the clock runs, so a busy process renders less often), but it is
# rendered at least every LIVE_RENDER_MAX_SECONDS. A render not due when the text
# changed is made once the reply has been quiet for LIVE_QUIET_SECONDS.
LIVE_RENDER_SHARE = 0.0005
LIVE_RENDER_MAX_SECONDS = 1.0
LIVE_QUIET_SECONDS = 0.25


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
    earlier_approvals: list[dict[str, Any]] = field(default_factory=list)
    # The parts before the decisions the run went on after (conversations.reply_parts), rendered, and
    # where the current part's blocks start in `markdown.committed_html`.
    part_html: list[str] = field(default_factory=list)
    part_start: int = 0
    usage: dict[str, int] = field(default_factory=dict)
    remote_watchers: set[str] = field(default_factory=set)
    outbox: list[str] = field(default_factory=list)
    flusher: asyncio.Task | None = None
    first_text_at: datetime | None = None
    # The platform's last `ResumePoint`: saved with checkpoints, for a process taking the reply over.
    resume_point: dict[str, Any] = field(default_factory=dict)
    # What the last checkpoint saved, and when (monotonic seconds).
    saved_seq: int = 0
    saved_at: float = field(default_factory=time.monotonic)
    # The open block's live rendering: whether the text changed since the last one, when the next
    # may be made, when the text last changed (monotonic seconds), and the render made once quiet.
    live_stale: bool = False
    live_due: float = 0.0
    rendered_at: float = 0.0
    changed_at: float = 0.0
    live_timer: asyncio.TimerHandle | None = None
    concluded: bool = False
    # Held while a frame is numbered and published, so that frames go out in `seq` order.
    publishing: asyncio.Lock = field(default_factory=asyncio.Lock)
    # The reply is this process's while its row says `streaming` and names this channel (empty: any).
    relay_channel: str = ""
    # When a write that required that last succeeded (monotonic seconds, taken before the write);
    # `lost` once one failed: another process's sweep interrupted or took over the reply.
    owned_at: float = field(default_factory=time.monotonic)
    lost: bool = False

    def ownership_stale(self) -> bool:
        """Whether another process may have taken the reply since this one last knew it was its own.

        A running process refreshes its row at least every REPLY_ALIVE_SECONDS / 3 plus a checkpoint
        interval; a longer silence means this process was stalled (stopped, starved) and another's
        sweep may have found the row abandoned.
        """
        return time.monotonic() - self.owned_at > settings.REPLY_ALIVE_SECONDS * 0.75

    def load(self, text: str, approval: dict[str, Any], earlier_approvals: list[dict[str, Any]]) -> None:
        """Take up a saved reply's text and requests: its parts rendered once, its current part open."""
        self.approval, self.earlier_approvals = approval, earlier_approvals
        requests = reply_parts.decided_requests(approval, earlier_approvals)
        before, current = reply_parts.split_text(text, requests)
        self.markdown, self.part_html = StreamingMarkdown(), []
        for part in before:
            start = len(self.markdown.committed_html)
            self.markdown.feed(part)
            self.part_html.append(self.markdown.committed_html[start:])
        self.part_start = len(self.markdown.committed_html)
        self.markdown.feed(current)

    def parts(self) -> list[dict[str, Any]]:
        requests = reply_parts.decided_requests(self.approval, self.earlier_approvals)
        return [
            {"html": html, "approval": request}
            for html, request in zip(self.part_html, requests, strict=False)
        ]

    def snapshot(self) -> str:
        return protocol.reply_snapshot(
            message_id=self.message_id,
            seq=self.seq,
            text=self.markdown.text,
            html=self.markdown.committed_html[self.part_start :],
            tail=self.markdown.tail,
            live=render_markdown(self.markdown.tail),
            tool_calls=self.tool_calls,
            approval=self.approval,
            parts=self.parts(),
        )

    def rendered(self) -> tuple[str, list[dict[str, Any]]]:
        """(the current part's HTML, the earlier parts) of the whole text, each rendered whole."""
        return reply_parts.rendered_parts(self.markdown.text, self.approval, self.earlier_approvals)

    def ended(
        self, status: str, error: str, *, rendered: tuple[str, list[dict[str, Any]]] | None = None
    ) -> str:
        """The `reply.ended` frame; `rendered` is what `rendered()` gives, when it is already made."""
        html, parts = rendered or self.rendered()
        return protocol.reply_ended(
            message_id=self.message_id,
            seq=self.seq,
            status=status,
            text=self.markdown.text,
            html=html,
            error=error,
            tool_calls=self.tool_calls,
            approval=self.approval,
            usage=self.usage,
            parts=parts,
        )

    def apply(self, event: ReplyEvent) -> str | None:
        """Fold `event` into the reply; the frame to send, or None for nothing to show."""
        if isinstance(event, TextDelta | TextReplace) and self.first_text_at is None:
            self.first_text_at = timezone.now()
        if isinstance(event, TextDelta):
            self.seq += 1
            commit = self.markdown.feed(event.text)
            if commit is not None:  # a new block is open: its first rendering waits only the minimum
                self.live_due = min(self.live_due, self.rendered_at + LIVE_RENDER_SECONDS)
            return protocol.text_delta(
                message_id=self.message_id,
                seq=self.seq,
                text=event.text,
                commit=commit,
                live=self.live_if_due(),
            )
        if isinstance(event, TextReplace):
            self.seq += 1
            html, tail = self.markdown.replace(event.text)
            self.live_stale = True
            return protocol.text_replace(
                message_id=self.message_id, seq=self.seq, html=html, tail=tail, live=self.render_live()
            )
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
        elif isinstance(event, Usage):
            # Shown with the reply's end; a resumed run adds its own tokens.
            self.usage = {
                "input_tokens": self.usage.get("input_tokens", 0) + event.input_tokens,
                "output_tokens": self.usage.get("output_tokens", 0) + event.output_tokens,
            }
            return None
        elif isinstance(event, ResumePoint):
            # With the reply's state at this point: a checkpoint may fall between a frame's events.
            self.resume_point = {**event.data, "seq": self.seq, "text_length": len(self.markdown.text)}
            return None
        elif isinstance(event, ApprovalRequested):
            if "at" in self.approval:  # the run pauses again: the request it went on after stays a part
                self.earlier_approvals = [*self.earlier_approvals, self.approval]
            self.approval = {"request_id": event.request_id, "actions": event.actions, "status": "pending"}
        elif not isinstance(event, Activity | Retrying | ApprovalRequested):
            return None
        self.seq += 1
        return protocol.reply_event(event, message_id=self.message_id, seq=self.seq)

    # The open block, rendered while it is written.

    def live_if_due(self) -> str | None:
        """The open block rendered, if a render is due; None leaves it to a later frame."""
        now = time.monotonic()
        self.changed_at = now
        self.live_stale = True
        if not self.markdown.has_tail:
            return self.render_live()
        if now < self.live_due:
            self.render_when_quiet()
            return None
        return self.render_live()

    def render_live(self) -> str:
        """The open block as sanitised HTML, by the renderer every finished block goes through."""
        self.live_stale = False
        if not self.markdown.has_tail:
            return ""
        started = time.monotonic()
        html = render_markdown(self.markdown.tail)
        self.rendered_at = time.monotonic()
        interval = (self.rendered_at - started) / LIVE_RENDER_SHARE
        self.live_due = self.rendered_at + min(max(LIVE_RENDER_SECONDS, interval), LIVE_RENDER_MAX_SECONDS)
        return html

    def render_when_quiet(self) -> None:
        if self.live_timer is None:
            self.live_timer = asyncio.get_running_loop().call_later(LIVE_QUIET_SECONDS, self._quiet_check)

    def _quiet_check(self) -> None:
        self.live_timer = None
        if not self.live_stale or self.concluded:
            return
        wait = max(self.live_due, self.changed_at + LIVE_QUIET_SECONDS) - time.monotonic()
        if wait > 0:
            self.live_timer = asyncio.get_running_loop().call_later(wait, self._quiet_check)
            return
        self.hub.spawn(self.publish_live(), f"reply-live-{self.message_id}")

    async def publish_live(self) -> None:
        async with self.publishing:
            if not self.live_stale or self.concluded or self.lost or self.ownership_stale():
                return
            self.seq += 1
            frame = protocol.text_live(message_id=self.message_id, seq=self.seq, html=self.render_live())
            await self.hub.publish(self, frame)

    def stop_live(self) -> None:
        self.concluded = True
        if self.live_timer is not None:
            self.live_timer.cancel()
            self.live_timer = None
