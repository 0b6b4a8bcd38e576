"""One conversation as a file the owner can keep: Markdown to read, JSON for tools."""

import json
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from conversations import reply_parts
from conversations.models import Conversation, Message


def export_filename(conversation: Conversation, extension: str) -> str:
    return f"{slugify(conversation.title)[:60] or 'conversation'}.{extension}"


def messages_in_order(conversation: Conversation) -> list[Message]:
    return list(conversation.chosen_path().prefetch_related("attachments"))


def as_markdown(conversation: Conversation, now: datetime | None = None) -> str:
    now = now or timezone.now()
    lines = [
        f"# {conversation}",
        "",
        _("Agent: %(agent)s") % {"agent": conversation.agent.name} + "  ",
        _("Started: %(when)s") % {"when": f"{timezone.localtime(conversation.created_at):%Y-%m-%d %H:%M %Z}"}
        + "  ",
        _("Exported: %(when)s") % {"when": f"{timezone.localtime(now):%Y-%m-%d %H:%M %Z}"},
    ]
    for message in messages_in_order(conversation):
        author = _("You") if message.role == Message.Role.USER else conversation.agent.name
        when = timezone.localtime(message.created_at)
        lines += ["", "---", "", f"## {author} · {when:%Y-%m-%d %H:%M}", "", *reply_lines(message)]
        files = [f"{a.name} ({a.content_type}, {a.size:,} bytes)" for a in message.attachments.all()]
        if files:
            lines += ["", _("Attached: %(files)s") % {"files": "; ".join(files)}]
        if message.status not in (Message.Status.COMPLETE, Message.Status.STREAMING):
            lines += [
                "",
                f"*({message.get_status_display()}{': ' + message.error if message.error else ''})*",
            ]
    return "\n".join(lines) + "\n"


def reply_lines(message: Message) -> list[str]:
    """A message's text; a reply that paused for decisions with each part's decisions after its text."""
    requests = reply_parts.decided_requests(message.approval, message.earlier_approvals)
    before, current = reply_parts.split_text(message.content, requests)
    lines: list[str] = []
    for text, request in zip(before, requests, strict=True):
        if text.strip():
            lines += [text.strip(), ""]
        lines += [f"> {decisions_text(request)}", ""]
    return [*lines, current.strip()]


def decisions_text(request: dict[str, Any]) -> str:
    said = {"approve": _("approved"), "reject": _("rejected"), "respond": _("answered")}
    decided = _("decided")
    decisions = request.get("decisions") if isinstance(request.get("decisions"), list) else []
    shown = []
    for action, decision in zip(request.get("actions") or [], decisions, strict=False):
        words = f"{action.get('name', '')}: {said.get(decision.get('type'), decided)}"
        if decision.get("message"):
            words += f" ({decision['message']})"
        shown.append(words)
    return _("Your decisions: %(decisions)s") % {"decisions": "; ".join(shown)}


def as_json(conversation: Conversation, now: datetime | None = None) -> str:
    now = now or timezone.now()
    document = {
        "title": str(conversation),
        "agent": conversation.agent.name,
        "created_at": conversation.created_at.isoformat(),
        "exported_at": now.isoformat(),
        "messages": [
            {
                "role": message.role,
                "content": message.content,
                "status": message.status,
                "error": message.error,
                "tools": [call.get("name", "") for call in message.tool_calls if isinstance(call, dict)],
                # Each request for decisions the reply went on after; `at`: where in `content` it came.
                "decisions": reply_parts.decided_requests(message.approval, message.earlier_approvals),
                "attachments": [
                    {"name": a.name, "content_type": a.content_type, "size": a.size}
                    for a in message.attachments.all()
                ],
                "created_at": message.created_at.isoformat(),
            }
            for message in messages_in_order(conversation)
        ],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
