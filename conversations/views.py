"""The chat pages. Replies stream over the websocket (docs/websocket.md); these views render history."""

import json
import zlib
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents.models import Agent
from agents.providers import provider_class
from conversations import attachments, services
from conversations.attachments import AttachmentUrl
from conversations.models import Attachment, Conversation, Message

AVATAR_HUES = 6
DEFAULT_ERRORS = {
    Message.Status.ERROR: "The reply failed.",
    Message.Status.INTERRUPTED: "The reply was interrupted.",
}


@login_required
@require_GET
def chat(request: HttpRequest) -> HttpResponse:
    """Home: pick an agent to start a conversation with."""
    return render(
        request,
        "conversations/home.html",
        {
            "agents": [agent_card(agent) for agent in services.visible_agents(request.user)],
            **sidebar(request),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def new_conversation(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: an empty chat with the agent. POST: create the conversation the first message goes to."""
    agent = get_object_or_404(services.visible_agents(request.user), slug=slug)
    if request.method == "POST":
        conversation = services.create_conversation(request.user, agent)
        return JsonResponse(
            {
                "id": conversation.id,
                "url": conversation.get_absolute_url(),
                "ws_url": websocket_url(request, conversation),
            },
            status=201,
        )
    return chat_page(request, agent, conversation=None, agent_available=True)


@login_required
@require_GET
def conversation(request: HttpRequest, conversation_id: str) -> HttpResponse:
    found = services.get_conversation_for(request.user, conversation_id)
    available = services.visible_agents(request.user).filter(pk=found.agent_id).exists()
    return chat_page(request, found.agent, conversation=found, agent_available=available)


@login_required
@require_POST
def upload_attachment(request: HttpRequest, conversation_id: str) -> JsonResponse:
    """One file for the next message (multipart `file`, optional `name`); 201 with the stored file."""
    conversation = services.get_conversation_for(request.user, conversation_id)
    provider = provider_class(conversation.agent.platform)
    form = attachments.AttachmentForm(
        request.POST,
        request.FILES,
        provider=provider,
        pending_count=attachments.pending_count(conversation),
    )
    if not form.is_valid():
        return JsonResponse({"error": form.first_error()}, status=400)
    try:
        stored = attachments.store_attachment(conversation, form)
    except attachments.StorageFailed as exc:
        return JsonResponse({"error": str(exc)}, status=503)
    return JsonResponse(attachments.attachment_view(stored), status=201)


@login_required
@require_http_methods(["GET", "POST", "DELETE"])
def attachment(request: HttpRequest, conversation_id: str, attachment_id: str) -> HttpResponse:
    """GET: the file. DELETE (or POST): remove a file not yet sent."""
    conversation = services.get_conversation_for(request.user, conversation_id)
    found = get_object_or_404(Attachment, pk=attachment_id, conversation=conversation)
    if request.method == "GET":
        return attachments.file_response(found)
    if found.message_id is not None:
        return JsonResponse({"error": "This file was sent with a message and stays with it."}, status=409)
    found.delete()
    return HttpResponse(status=204)


def chat_page(
    request: HttpRequest, agent: Agent, conversation: Conversation | None, agent_available: bool
) -> HttpResponse:
    messages = list(conversation.messages.prefetch_related("attachments")) if conversation else []
    shown = [message_view(message, is_last=i == len(messages) - 1) for i, message in enumerate(messages)]
    config = {
        "conversationId": conversation.id if conversation else None,
        "wsPath": websocket_path(conversation) if conversation else None,
        "newConversationUrl": None if conversation else reverse("new_conversation", args=[agent.slug]),
        "csrfToken": get_token(request),
        "agentName": agent.name,
        "agentAvailable": agent_available,
        "files": files_config(agent),
        "pendingFiles": attachments.pending_views(conversation) if conversation else [],
    }
    return render(
        request,
        "conversations/chat.html",
        {
            "agent": agent_card(agent),
            "conversation": conversation,
            "messages": shown,
            "raw_texts": {str(message.pk): message.content for message in messages},
            "blank_user": {"role": Message.Role.USER},
            "blank_assistant": {"role": Message.Role.ASSISTANT, "status": Message.Status.STREAMING},
            "agent_available": agent_available,
            "config": config,
            **sidebar(request, current=conversation),
        },
    )


def files_config(agent: Agent) -> dict[str, Any]:
    """What the composer may attach for this agent's platform."""
    provider = provider_class(agent.platform)
    accepted = sorted(provider.accepted_file_types)
    if not accepted:
        note = f"{provider.label} agents take no files."
    elif provider.takes_only_images():
        note = f"{provider.label} agents take images only."
    else:
        note = ""
    return {
        "accepted": accepted,
        "imagesOnly": provider.takes_only_images(),
        "maxFiles": provider.max_files,
        "maxBytes": provider.max_file_bytes,
        "note": note,
    }


def message_view(
    message: Message, is_last: bool, attachment_url: AttachmentUrl = attachments.owner_url
) -> dict[str, Any]:
    """What the message template shows of a saved message.

    `attachment_url` gives the address a viewer fetches each attached file from
    (the owner's download view unless a page that shows the conversation to
    others says otherwise).
    """
    calls = [call for call in message.tool_calls if isinstance(call, dict)] if message.tool_calls else []
    return {
        "id": message.pk,
        "role": message.role,
        "status": message.status,
        "seq": message.seq,
        "content": message.content,
        "html": services.message_html(message) if message.role == Message.Role.ASSISTANT else "",
        "approval_json": json.dumps(message.approval) if message.approval else "",
        "error": message.error or DEFAULT_ERRORS.get(message.status, ""),
        "tool_calls": [
            {
                "id": str(call.get("id", "")),
                "name": str(call.get("name", "tool")),
                "status": call.get("status"),
            }
            for call in calls
        ],
        "attachments": [attachments.attachment_view(a, attachment_url) for a in message.attachments.all()],
        "created_at": message.created_at,
        "is_last": is_last,
    }


def agent_card(agent: Agent) -> dict[str, Any]:
    return {
        "name": agent.name,
        "slug": agent.slug,
        "description": agent.description,
        "initial": (agent.name[:1] or "?").upper(),
        "hue": zlib.crc32(agent.slug.encode()) % AVATAR_HUES,
        "url": reverse("new_conversation", args=[agent.slug]),
    }


def sidebar(request: HttpRequest, current: Conversation | None = None) -> dict[str, Any]:
    conversations = list(services.conversations_for(request.user))
    return {
        "conversation_groups": group_by_age(conversations, timezone.localtime()),
        "current_conversation_id": current.id if current else None,
    }


def group_by_age(conversations: list[Conversation], now: datetime) -> list[tuple[str, list[Conversation]]]:
    """Sidebar sections (Today, Yesterday, ...), keeping the newest-first order."""
    today = now.date()
    limits = [
        ("Today", today),
        ("Yesterday", today - timedelta(days=1)),
        ("Previous 7 days", today - timedelta(days=7)),
        ("Previous 30 days", today - timedelta(days=30)),
    ]
    groups: list[tuple[str, list[Conversation]]] = []
    for conversation in conversations:
        day = timezone.localtime(conversation.updated_at).date()
        label = next((name for name, since in limits if day >= since), "Older")
        if not groups or groups[-1][0] != label:
            groups.append((label, []))
        groups[-1][1].append(conversation)
    return groups


def websocket_path(conversation: Conversation) -> str:
    return f"/ws/conversations/{conversation.id}/"


def websocket_url(request: HttpRequest, conversation: Conversation) -> str:
    scheme = "wss" if request.is_secure() else "ws"
    return f"{scheme}://{request.get_host()}{websocket_path(conversation)}"
