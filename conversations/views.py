"""The chat pages. Replies stream over the websocket (docs/websocket.md); these views render history."""

import functools
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agents.models import Agent
from agents.providers import provider_class
from conversations import access, attachments, exports, feedback, history, protocol, relay, services, versions
from conversations.attachments import AttachmentUrl, file_response
from conversations.models import Attachment, Conversation, Message, SharedMessage, ShareLink
from conversations.reply_parts import decided_requests, rendered_parts
from conversations.search import hit_json, search_results
from conversations.templatetags.avatars import avatar_hue, avatar_initial

# A page shows this many messages; older ones load as the reader scrolls up.
MESSAGES_PER_PAGE = 40
SEARCH_RESULTS = 50
LIVE_SEARCH_RESULTS = 12
DEFAULT_ERRORS = {
    Message.Status.ERROR: gettext_lazy("The reply failed."),
    Message.Status.INTERRUPTED: gettext_lazy("The reply was interrupted."),
}


@login_required
@require_GET
def chat(request: HttpRequest) -> HttpResponse:
    """Home: pick an agent to start a conversation with."""
    return render(
        request,
        "conversations/home.html",
        {
            "agents": [agent_card(agent) for agent in access.visible_agents(request.user)],
            **sidebar(request),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def new_conversation(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: an empty chat with the agent. POST: create the conversation the first message goes to."""
    agent = get_object_or_404(access.visible_agents(request.user), slug=slug)
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
    found = access.owned_conversation(request.user, conversation_id)
    available = access.visible_agents(request.user).filter(pk=found.agent_id).exists()
    linked = request.GET.get("message", "")
    return chat_page(
        request,
        found.agent,
        conversation=found,
        agent_available=available,
        linked_message_id=int(linked) if linked.isdigit() else None,
    )


@login_required
@require_POST
def upload_attachment(request: HttpRequest, conversation_id: str) -> JsonResponse:
    """One file for the next message (multipart `file`, optional `name`); 201 with the stored file."""
    conversation = access.owned_conversation(request.user, conversation_id)
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
    conversation = access.owned_conversation(request.user, conversation_id)
    found = get_object_or_404(Attachment, pk=attachment_id, conversation=conversation)
    if request.method == "GET":
        return attachments.file_response(found)
    if found.message_id is not None:
        return JsonResponse({"error": _("This file was sent with a message and stays with it.")}, status=409)
    found.delete()
    return HttpResponse(status=204)


def chat_page(
    request: HttpRequest,
    agent: Agent,
    conversation: Conversation | None,
    agent_available: bool,
    linked_message_id: int | None = None,
) -> HttpResponse:
    """The chat: the newest page of messages, or everything from `linked_message_id` on (a search result)."""
    if conversation:
        ordered = conversation.chosen_path().select_related("feedback")
        messages, has_earlier = history.last_page(ordered, MESSAGES_PER_PAGE)
        if linked_message_id is not None and all(m.pk != linked_message_id for m in messages):
            messages, has_earlier = history.page_from(ordered, linked_message_id) or (messages, has_earlier)
    else:
        messages, has_earlier = [], False
    shown = message_views(messages)
    add_versions(shown, messages)
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
            "thread_messages": shown,
            "earlier_url": earlier_url("conversation_messages", conversation.id, messages)
            if has_earlier
            else None,
            "raw_texts": {str(message.pk): message.content for message in messages},
            "blank_user": {"role": Message.Role.USER},
            "blank_assistant": {"role": Message.Role.ASSISTANT, "status": Message.Status.STREAMING},
            "blank_versions": versions.Versions(index=1, count=2, previous_id=None, next_id=None),
            "agent_available": agent_available,
            "can_rate": conversation is None or conversation.owner_id == request.user.pk,
            "allow_public_links": settings.ALLOW_PUBLIC_LINKS,
            "config": config,
            **sidebar(request, current=conversation),
        },
    )


def earlier_url(view_name: str, key: str, page: list[Message] | list[SharedMessage]) -> str:
    """Where the page before `page` loads from (the oldest message shown is the cursor)."""
    return f"{reverse(view_name, args=[key])}?before={history.page_cursor(page[0])}"


def message_views(
    messages: list[Message] | list[SharedMessage], attachment_url: AttachmentUrl = attachments.owner_url
) -> list[dict[str, Any]]:
    """The template views of consecutive messages; renderings made on the way are kept."""
    views = [
        message_view(message, is_last=i == len(messages) - 1, attachment_url=attachment_url)
        for i, message in enumerate(messages)
    ]
    for message in messages:
        if message.status != Message.Status.STREAMING:
            message.save_rendered_html()
    return views


def earlier_messages_response(
    shown: QuerySet[Message] | QuerySet[SharedMessage],
    cursor: str,
    url_name: str,
    key: str,
    context: dict[str, Any],
    attachment_url: AttachmentUrl = attachments.owner_url,
    show_ids: bool = True,
    show_versions: bool = False,
) -> JsonResponse:
    """The page before `cursor` as server-rendered HTML, with its raw texts and the next page's address."""
    try:
        page, has_earlier = history.last_page(history.messages_before(shown, cursor), MESSAGES_PER_PAGE)
    except history.NoSuchCursor:
        raise Http404("No such message.") from None
    views = message_views(page, attachment_url)
    if show_versions:
        add_versions(views, page)
    for view in views:
        view["is_last"] = False
        if not show_ids:
            view["id"] = None
    html = render_to_string("conversations/_messages.html", {"thread_messages": views, **context})
    return JsonResponse(
        {
            "html": html,
            "texts": {str(m.pk): m.content for m in page} if show_ids else {},
            "earlier_url": earlier_url(url_name, key, page) if has_earlier else None,
        }
    )


def messages_from_response(
    shown: QuerySet[Message],
    message_id: int | str,
    context: dict[str, Any],
    attachment_url: AttachmentUrl = attachments.owner_url,
    show_versions: bool = False,
) -> dict[str, Any]:
    """Message `message_id` of `shown` and every one after it, as HTML with their raw texts.

    What a page puts in place of another version of that turn and of everything after it.
    """
    page = history.page_from(shown, int(message_id)) if str(message_id).isdigit() else None
    if page is None:
        raise Http404("No such message.")
    messages = page[0]
    views = message_views(messages, attachment_url)
    if show_versions:
        add_versions(views, messages)
    return {
        "html": render_to_string("conversations/_messages.html", {"thread_messages": views, **context}),
        "texts": {str(m.pk): m.content for m in messages},
    }


def owner_context(conversation: Conversation) -> dict[str, Any]:
    """What the owner's message template needs besides the messages."""
    return {"agent": agent_card(conversation.agent), "can_rate": True}


@login_required
@require_GET
def conversation_messages(request: HttpRequest, conversation_id: str) -> JsonResponse:
    """The page of messages before `?before=<message id>`, for the chat page's "load earlier";
    with `?from=<message id>`, that message and every one after it (another tab chose its version)."""
    found = access.owned_conversation(request.user, conversation_id)
    if "from" in request.GET:
        shown = found.chosen_path().select_related("feedback")
        answer = messages_from_response(shown, request.GET["from"], owner_context(found), show_versions=True)
        return JsonResponse({**answer, "title": found.title})
    return earlier_messages_response(
        found.chosen_path().select_related("feedback"),
        request.GET.get("before", ""),
        "conversation_messages",
        found.id,
        owner_context(found),
        show_versions=True,
    )


@login_required
@require_POST
def choose_version(request: HttpRequest, conversation_id: str, message_id: int) -> JsonResponse:
    """Show version `message_id` of its turn: the conversation from it on as HTML (as "load earlier"
    gives it), which the page puts in place of the version it showed, and the title (it may follow)."""
    found = access.owned_conversation(request.user, conversation_id)
    try:
        chosen, replaced_id = versions.choose_version(found.id, request.user.pk, message_id)
    except versions.VersionRefused as exc:
        return JsonResponse({"error": str(exc)}, status=409)
    if replaced_id is not None:
        # The conversation's other pages (tabs, live share viewers), in any process, show it too.
        frame = protocol.version_chosen(message_id=message_id, replaces=replaced_id)
        async_to_sync(relay.tell_every_socket)(found.id, frame)
    shown = chosen.chosen_path().select_related("feedback")
    answer = messages_from_response(shown, message_id, owner_context(found), show_versions=True)
    return JsonResponse({**answer, "title": chosen.title})


def add_versions(views: list[dict[str, Any]], shown: list[Message]) -> None:
    """Tell each view of the owner's page where its message stands among its versions, if it has any."""
    found = versions.versions_of(shown)
    for view in views:
        view["versions"] = found.get(view["id"])


def files_config(agent: Agent) -> dict[str, Any]:
    """What the composer may attach for this agent's platform."""
    provider = provider_class(agent.platform)
    accepted = sorted(provider.accepted_file_types)
    if not accepted:
        note = _("%(platform)s agents take no files.") % {"platform": provider.label}
    elif provider.takes_only_images():
        note = _("%(platform)s agents take images only.") % {"platform": provider.label}
    else:
        note = ""
    return {
        "accepted": accepted,
        "imagesOnly": provider.takes_only_images(),
        "maxFiles": provider.max_files,
        "maxBytes": provider.max_file_bytes,
        "note": note,
    }


def pretty_json(value: Any) -> str:
    """A tool call's arguments or result, indented when it is JSON, as it is otherwise."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        return json.dumps(json.loads(value), indent=2, ensure_ascii=False)
    except ValueError:
        return value


def reply_html(message: Message | SharedMessage) -> tuple[str, list[dict[str, Any]]]:
    """(a reply's current part as HTML, its earlier parts); a reply without parts from its kept rendering."""
    if not decided_requests(message.approval, message.earlier_approvals):
        return message.html(), []
    return rendered_parts(message.content, message.approval, message.earlier_approvals)


def message_view(
    message: Message | SharedMessage,
    is_last: bool,
    attachment_url: AttachmentUrl = attachments.owner_url,
) -> dict[str, Any]:
    """What the message template shows of a saved message.

    `attachment_url` gives the address a viewer fetches each attached file from
    (the owner's download view unless a page that shows the conversation to
    others says otherwise).
    """
    calls = [call for call in message.tool_calls if isinstance(call, dict)] if message.tool_calls else []
    html, parts = reply_html(message) if message.role == Message.Role.ASSISTANT else ("", [])
    return {
        "id": message.pk,
        "role": message.role,
        "status": message.status,
        "seq": message.seq,
        "content": message.content,
        "html": html,
        "parts": [{"html": part["html"], "approval_json": json.dumps(part["approval"])} for part in parts],
        "approval_json": json.dumps(message.approval) if message.approval else "",
        # A shared copy keeps no usage.
        "usage_text": protocol.usage_text(getattr(message, "usage", None) or {}),
        "error": shown_error(message),
        "tool_calls": [
            {
                "id": str(call.get("id", "")),
                "name": str(call.get("name", "tool")),
                "status": call.get("status"),
                "arguments": pretty_json(call.get("arguments")),
                "result": pretty_json(call.get("result")),
            }
            for call in calls
        ],
        "attachments": [attachments.attachment_view(a, attachment_url) for a in message.attachments.all()],
        "feedback": loaded_feedback(message),
        "created_at": message.created_at,
        "is_last": is_last,
    }


def loaded_feedback(message: Message | SharedMessage):
    """The feedback loaded with the message (`select_related`), else None: never a query of its own."""
    if isinstance(message, Message) and Message.feedback.is_cached(message):
        return getattr(message, "feedback", None)
    return None


def agent_card(agent: Agent) -> dict[str, Any]:
    return {
        "name": agent.name,
        "slug": agent.slug,
        "description": agent.description,
        "initial": avatar_initial(agent),
        "hue": avatar_hue(agent),
        "url": reverse("new_conversation", args=[agent.slug]),
    }


def sidebar(request: HttpRequest, current: Conversation | None = None) -> dict[str, Any]:
    """What every page with the sidebar shows: the conversation list, and the top bar's agent picker."""
    return {
        **sidebar_context(request.user, current.id if current else None),
        "picker_agents": [agent_card(agent) for agent in access.visible_agents(request.user)],
    }


def sidebar_context(user, current_id: str | None) -> dict[str, Any]:
    """The sidebar's list: pinned conversations (last pinned first), then the others by age; none archived."""
    mine = services.conversations_for(user)
    shown = list(mine.filter(archived_at__isnull=True))
    pinned = sorted((c for c in shown if c.pinned_at), key=lambda c: c.pinned_at, reverse=True)
    return {
        "pinned_conversations": pinned,
        "conversation_groups": group_by_age([c for c in shown if not c.pinned_at], timezone.localtime()),
        "current_conversation_id": current_id,
        "has_archived": mine.filter(archived_at__isnull=False).exists(),
    }


@login_required
@require_GET
def sidebar_list(request: HttpRequest) -> HttpResponse:
    """The sidebar's list as HTML, for the page to swap in after pinning or archiving (`?current=<id>`)."""
    context = sidebar_context(request.user, request.GET.get("current") or None)
    return render(request, "conversations/_conversation_list.html", context)


def group_by_age(conversations: list[Conversation], now: datetime) -> list[tuple[str, list[Conversation]]]:
    """Sidebar sections (Today, Yesterday, ...), keeping the newest-first order."""
    today = now.date()
    limits = [
        (gettext_noop("Today"), today),
        (gettext_noop("Yesterday"), today - timedelta(days=1)),
        (gettext_noop("Previous 7 days"), today - timedelta(days=7)),
        (gettext_noop("Previous 30 days"), today - timedelta(days=30)),
    ]
    groups: list[tuple[str, list[Conversation]]] = []
    for conversation in conversations:
        day = timezone.localtime(conversation.updated_at).date()
        label = next((name for name, since in limits if day >= since), gettext_noop("Older"))
        if not groups or groups[-1][0] != label:
            groups.append((label, []))
        groups[-1][1].append(conversation)
    return groups


def websocket_path(conversation: Conversation) -> str:
    return f"/ws/conversations/{conversation.id}/"


def websocket_url(request: HttpRequest, conversation: Conversation) -> str:
    scheme = "wss" if request.is_secure() else "ws"
    return f"{scheme}://{request.get_host()}{websocket_path(conversation)}"


# Managing one's conversations.


@login_required
@require_POST
def rename_conversation(request: HttpRequest, conversation_id: str) -> HttpResponse:
    found = access.owned_conversation(request.user, conversation_id)
    try:
        services.rename_conversation(found, request.POST.get("title", ""))
    except services.TitleRefused as exc:
        if wants_json(request):
            return JsonResponse({"error": str(exc)}, status=400)
        messages.error(request, str(exc))
    if wants_json(request):
        return JsonResponse({"title": found.title})
    return redirect(found)


@login_required
@require_POST
def message_feedback(request: HttpRequest, conversation_id: str, message_id: int) -> JsonResponse:
    """Thumbs up or down (`rating`) and an optional `comment` on a finished reply; sent again, it changes."""
    found = access.owned_conversation(request.user, conversation_id)
    try:
        given = feedback.give_feedback(
            found, message_id, request.POST.get("rating", ""), request.POST.get("comment", "")
        )
    except Message.DoesNotExist:
        raise Http404("No such reply.") from None
    except feedback.FeedbackRefused as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"rating": given.rating, "comment": given.comment})


@login_required
@require_POST
def pin_conversation(request: HttpRequest, conversation_id: str) -> JsonResponse:
    """`pinned=1` pins the conversation to the top of the sidebar, `pinned=0` unpins it."""
    found = access.owned_conversation(request.user, conversation_id)
    found.set_pinned(request.POST.get("pinned") == "1")
    return JsonResponse({"pinned": found.pinned_at is not None})


@login_required
@require_POST
def archive_conversation(request: HttpRequest, conversation_id: str) -> HttpResponse:
    """`archived=1` takes the conversation out of the sidebar (search still finds it), `archived=0` back."""
    found = access.owned_conversation(request.user, conversation_id)
    archived = request.POST.get("archived") == "1"
    found.set_archived(archived)
    if wants_json(request):
        return JsonResponse({"archived": archived})
    if archived:
        messages.success(request, _("Archived “%(title)s”.") % {"title": found})
    else:
        messages.success(request, _("“%(title)s” is back in your conversations.") % {"title": found})
    return redirect("archived_conversations")


@login_required
@require_GET
def archived_conversations(request: HttpRequest) -> HttpResponse:
    archived = services.conversations_for(request.user).filter(archived_at__isnull=False)
    return render(
        request,
        "conversations/archived.html",
        {"archived": archived.order_by("-archived_at"), **sidebar(request)},
    )


@login_required
@require_POST
def delete_conversation(request: HttpRequest, conversation_id: str) -> HttpResponse:
    found = access.owned_conversation(request.user, conversation_id)
    title = str(found)
    services.delete_conversation(found)
    if wants_json(request):
        return JsonResponse({"deleted": True})
    messages.success(request, _("Deleted “%(title)s”.") % {"title": title})
    return redirect("chat")


@login_required
@require_GET
def export_conversation(request: HttpRequest, conversation_id: str, file_format: str) -> HttpResponse:
    found = access.owned_conversation(request.user, conversation_id)
    if file_format not in ("md", "json"):
        raise Http404("No such format.")
    if file_format == "md":
        body, content_type = exports.as_markdown(found), "text/markdown; charset=utf-8"
    else:
        body, content_type = exports.as_json(found), "application/json"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=exports.export_filename(found, file_format)
    )
    return response


@login_required
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """Results as a page, or as JSON for the sidebar's search as you type (`Accept: application/json`)."""
    query = request.GET.get("q", "")[:200]
    if wants_json(request):
        hits = search_results(request.user, query, LIVE_SEARCH_RESULTS, as_typed=True)
        return JsonResponse({"query": query.strip(), "results": [hit_json(hit) for hit in hits]})
    hits = search_results(request.user, query, SEARCH_RESULTS)
    return render(
        request,
        "conversations/search.html",
        {"query": query.strip(), "results": hits, **sidebar(request)},
    )


# Sharing.


@login_required
@require_http_methods(["GET", "POST"])
def share_conversation(request: HttpRequest, conversation_id: str) -> HttpResponse:
    """GET: the conversation's working links (JSON). POST: a link as asked, or the one it already has."""
    found = access.owned_conversation(request.user, conversation_id)
    if request.method == "GET":
        links = services.share_links_for(request.user).active().filter(conversation=found)
        return JsonResponse({"links": [share_link_view(request, link) for link in links]})
    audience, live = request.POST.get("access", ""), request.POST.get("live") in ("1", "on", "true")
    try:
        services.check_share_settings(audience, live)
        existing = services.matching_share_link(request.user, found, audience, live)
        if existing is not None:
            if wants_json(request):
                return JsonResponse({**share_link_view(request, existing), "reused": True})
            messages.info(request, _("This conversation already has a link like that: it is listed here."))
            return redirect("shared_links")
        link = services.share_conversation(request.user, found, access=audience, live=live)
    except services.ShareRefused as exc:
        if wants_json(request):
            return JsonResponse({"error": str(exc)}, status=400)
        messages.error(request, str(exc))
        return redirect(found)
    if wants_json(request):
        return JsonResponse({**share_link_view(request, link), "reused": False}, status=201)
    messages.success(request, _("Link created. Copy it below."))
    return redirect("shared_links")


def share_link_view(request: HttpRequest, link: ShareLink) -> dict[str, Any]:
    """A link as the share dialog lists it."""
    return {
        "id": link.pk,
        "url": request.build_absolute_uri(link.get_absolute_url()),
        "access": link.access,
        "access_label": link.get_access_display(),
        "live": link.live,
        "updated_at": link.updated_at.isoformat(),
        "stale": services.share_link_is_stale(link),
        "update_url": reverse("update_share_link", args=[link.pk]),
        "revoke_url": reverse("revoke_share_link", args=[link.pk]),
    }


@login_required
@require_GET
def shared_links(request: HttpRequest) -> HttpResponse:
    links = [
        {"link": link, "url": request.build_absolute_uri(link.get_absolute_url())}
        for link in services.share_links_for(request.user)
    ]
    return render(request, "conversations/shared_links.html", {"links": links, **sidebar(request)})


@login_required
@require_POST
def update_share_link(request: HttpRequest, link_id: int) -> HttpResponse:
    link = services.get_share_link_for(request.user, link_id)
    if link.is_revoked:
        raise Http404("No such link.")
    services.update_share_link(link)
    if wants_json(request):
        return JsonResponse(share_link_view(request, link))
    messages.success(
        request, _("The link to “%(title)s” now shows the conversation as it is now.") % {"title": link}
    )
    return redirect("shared_links")


@login_required
@require_POST
def revoke_share_link(request: HttpRequest, link_id: int) -> HttpResponse:
    link = services.get_share_link_for(request.user, link_id)
    if not link.is_revoked:
        services.revoke_share_link(link)
    if wants_json(request):
        return JsonResponse({"revoked": True})
    messages.success(request, _("The link to “%(title)s” no longer works.") % {"title": link})
    return redirect("shared_links")


def share_page_or_sign_in(view):
    """Run `view` with the link the token names; send visitors to sign in for a members-only link."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, token: str, *args, **kwargs) -> HttpResponse:
        try:
            link = services.open_share_link(request.user, token)
        except services.SignInRequired:
            return redirect_to_login(request.get_full_path())
        return view(request, link, *args, **kwargs)

    return wrapped


@never_cache
@require_GET
@share_page_or_sign_in
def shared_conversation(request: HttpRequest, link: ShareLink) -> HttpResponse:
    """The read-only page a share link opens: no internal ids, nothing of the owner's account but a name."""
    agent = link.conversation.agent
    shown, has_earlier = history.last_page(link.messages(), MESSAGES_PER_PAGE)
    views = message_views(shown, shared_file_url(link))
    for view in views:
        view["is_last"] = False
        if not link.live:
            view["id"] = None  # ids are only needed to follow a live conversation
    first_question = link.messages().filter(role=Message.Role.USER).values_list("content", flat=True).first()
    signed_in = request.user.is_authenticated
    can_continue = signed_in and access.may_use_agent(request.user, agent)
    config = {
        "wsPath": f"/ws/share/{link.token}/" if link.live else None,
        "messagesUrl": reverse("shared_messages", args=[link.token]) if link.live else None,
        "agentName": agent.name,
    }
    response = render(
        request,
        "conversations/shared.html",
        {
            "link": link,
            "title": link.title or _("Shared conversation"),
            "description": description_of(first_question or "", agent.name),
            "page_url": request.build_absolute_uri(),
            "shared_by": shared_by(link),
            "user_said": user_said(link),
            "agent": agent_card(agent),
            "thread_messages": views,
            "earlier_url": earlier_url("shared_messages", link.token, shown) if has_earlier else None,
            "raw_texts": {str(m.pk): m.content for m in shown} if link.live else {},
            "blank_user": {"role": Message.Role.USER},
            "blank_assistant": {"role": Message.Role.ASSISTANT, "status": Message.Status.STREAMING},
            "config": config,
            "signed_in": signed_in,
            "can_continue": can_continue,
        },
    )
    response["X-Robots-Tag"] = "noindex"
    return response


@never_cache
@require_GET
@share_page_or_sign_in
def shared_messages(request: HttpRequest, link: ShareLink) -> JsonResponse:
    """The page of messages before `?before=` on a share page: a message id when live, else a position.

    A live link's page also asks, with `?from=<message id>`, for that message and every one after it
    (the owner chose another version of its turn).
    """
    context = {"agent": agent_card(link.conversation.agent), "user_label": user_said(link)}
    if "from" in request.GET:
        if not link.live:
            raise Http404("No such message.")
        return JsonResponse(
            messages_from_response(
                link.messages(), request.GET["from"], context, attachment_url=shared_file_url(link)
            )
        )
    return earlier_messages_response(
        link.messages(),
        request.GET.get("before", ""),
        "shared_messages",
        link.token,
        context,
        attachment_url=shared_file_url(link),
        show_ids=link.live,
    )


@never_cache
@require_GET
@share_page_or_sign_in
def shared_file(request: HttpRequest, link: ShareLink, attachment_id: str) -> HttpResponse:
    """A file of a message the link shows; any other file is a 404."""
    if link.live:
        shown = Attachment.objects.filter(message__conversation=link.conversation, message__in_history=True)
    else:
        shown = Attachment.objects.filter(shared_copies__link=link)
    attachment = get_object_or_404(shown.distinct(), pk=attachment_id, conversation=link.conversation)
    return file_response(attachment)


@login_required
@require_POST
@share_page_or_sign_in
def continue_shared(request: HttpRequest, link: ShareLink) -> HttpResponse:
    try:
        copy = services.continue_shared_conversation(request.user, link)
    except attachments.StorageFailed:
        messages.error(request, _("The conversation's files could not be copied. Try again."))
        return redirect(link)
    messages.info(
        request, _("This is your own copy. The agent starts a fresh conversation and has not seen it.")
    )
    return redirect(copy)


def shared_by(link: ShareLink) -> str:
    return link.created_by.get_full_name() or link.created_by.get_username()


def user_said(link: ShareLink) -> str:
    """The heading (for screen readers) over each message of the person who shared the link."""
    return _("%(name)s said:") % {"name": shared_by(link)}


def shown_error(message: Message) -> str:
    """A failed reply's error in the reader's language (the site's own words; a platform's stay as sent)."""
    if message.error:
        return _(message.error)
    return str(DEFAULT_ERRORS.get(message.status, ""))


def shared_file_url(link: ShareLink) -> Callable[[Attachment], str]:
    """Where a share page links a file: under the link's token, never the conversation's own address."""
    return lambda attachment: reverse("shared_file", args=[link.token, attachment.pk])


def description_of(text: str, agent_name: str) -> str:
    words = " ".join(text.split())
    intro = _("A conversation with %(agent)s") % {"agent": agent_name}
    if not words:
        return intro + "."
    return f"{intro}: “{words[:150]}{'…' if len(words) > 150 else ''}”"


def wants_json(request: HttpRequest) -> bool:
    return request.headers.get("Accept", "").startswith("application/json")
