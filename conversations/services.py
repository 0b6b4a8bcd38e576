"""What a user may see and start, shared by the views and the websocket."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from agents.models import Agent
from conversations import access, attachments, relay
from conversations.models import Attachment, Conversation, Message, ShareLink, share_group_name

SEARCH_CONFIG = "english"


def conversations_for(user) -> QuerySet[Conversation]:
    """The user's conversations for the sidebar, newest first; ones never sent a message have no title."""
    return (
        Conversation.objects.filter(owner=user)
        .exclude(title="")
        .select_related("agent")
        .order_by("-updated_at")
    )


def create_conversation(user, agent: Agent) -> Conversation:
    """An empty conversation with `agent`; it shows in the sidebar once its first message is saved."""
    if not access.may_use_agent(user, agent):
        raise access.NotFound("No such agent.")
    return Conversation.objects.create(owner=user, agent=agent)


class TitleRefused(Exception):
    """A title a conversation cannot have; the message says why."""


def rename_conversation(conversation: Conversation, title: str) -> None:
    title = " ".join(title.split())[: Conversation._meta.get_field("title").max_length]
    if not title:
        raise TitleRefused("A title cannot be empty.")
    conversation.title = title
    conversation.save(update_fields=["title", "updated_at"])


def delete_conversation(conversation: Conversation) -> None:
    """Delete the conversation with its messages, files and share links; live viewers are sent away."""
    link_ids = list(conversation.share_links.active().values_list("pk", flat=True))
    if conversation.messages.filter(status=Message.Status.STREAMING).exists():
        async_to_sync(relay.stop_reply)(conversation.id)
    conversation.delete()
    for link_id in link_ids:
        tell_viewers_link_closed(link_id)


def search_conversations(user, query: str) -> QuerySet[Conversation]:
    """The user's conversations whose title or messages match `query`, newest first.

    PostgreSQL: full-text search (English stemming, web-search syntax). Elsewhere: every word as a substring.
    """
    query = query.strip()
    mine = conversations_for(user)
    if not query:
        return mine.none()
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector

        wanted = SearchQuery(query, config=SEARCH_CONFIG, search_type="websearch")
        in_messages = (
            Message.objects.filter(conversation__owner_id=user.pk, in_history=True)
            .annotate(document=SearchVector("content", config=SEARCH_CONFIG))
            .filter(document=wanted)
            .values("conversation_id")
        )
        return mine.annotate(title_document=SearchVector("title", config=SEARCH_CONFIG)).filter(
            Q(title_document=wanted) | Q(pk__in=in_messages)
        )
    # Every word, each in the title or in a message (as PostgreSQL's web-search syntax reads plain words).
    for word in query.split():
        in_messages = Message.objects.filter(
            conversation__owner_id=user.pk, in_history=True, content__icontains=word
        )
        mine = mine.filter(Q(title__icontains=word) | Q(pk__in=in_messages.values("conversation_id")))
    return mine


# Share links.


class ShareRefused(Exception):
    """A share link that cannot be made as asked; the message says why."""


def share_conversation(user, conversation: Conversation, access: str, live: bool) -> ShareLink:
    """A new link to `conversation` (which the caller checked is the user's) showing it as it is now."""
    check_share_settings(access, live)
    if not conversation.messages.exists():
        raise ShareRefused(_("Send a message first: there is nothing to share yet."))
    link = ShareLink(conversation=conversation, created_by=user, access=access, live=live)
    link.take_snapshot()
    return link


def check_share_settings(access: str, live: bool) -> None:
    """Refuse (`ShareRefused`) a link this site does not allow."""
    if access not in ShareLink.Access.values:
        raise ShareRefused(_("Choose who may open the link."))
    if access == ShareLink.Access.PUBLIC and not settings.ALLOW_PUBLIC_LINKS:
        raise ShareRefused(_("Links for anyone are switched off on this site; share with members only."))
    if live and access == ShareLink.Access.PUBLIC:
        raise ShareRefused(_("Only links for signed-in members can be live."))


def matching_share_link(user, conversation: Conversation, access: str, live: bool) -> ShareLink | None:
    """The user's active link to `conversation` made with these settings, if there is one (to reuse it)."""
    return (
        share_links_for(user)
        .active()
        .filter(conversation=conversation, access=access, live=live)
        .order_by("-created_at")
        .first()
    )


def share_link_is_stale(link: ShareLink) -> bool:
    """A snapshot that does not end with the conversation's newest finished message (a live link never is).

    Also when another version was chosen since: the chosen path then ends elsewhere.
    """
    if link.live:
        return False
    newest = link.conversation.chosen_path().exclude(status=Message.Status.STREAMING).last()
    return (newest.pk if newest else None) != link.last_message_id


def share_links_for(user) -> QuerySet[ShareLink]:
    return ShareLink.objects.filter(created_by=user, conversation__owner=user).select_related(
        "conversation__agent"
    )


def get_share_link_for(user, link_id: int) -> ShareLink:
    """One of the user's own share links; anyone else's is a 404."""
    link = share_links_for(user).filter(pk=link_id).first()
    if link is None:
        raise access.NotFound("No such link.")
    return link


def update_share_link(link: ShareLink) -> None:
    """Show the conversation as it is now, under the same address."""
    link.take_snapshot()


def revoke_share_link(link: ShareLink) -> None:
    link.revoke()
    tell_viewers_link_closed(link.pk)


def tell_viewers_link_closed(link_id: int) -> None:
    """Close the sockets watching a live link, once the change is committed."""

    def send() -> None:
        async_to_sync(get_channel_layer().group_send)(share_group_name(link_id), {"type": "share.closed"})

    transaction.on_commit(send)


def open_share_link(user, token: str) -> ShareLink:
    """The link `token` names, if `user` may open it.

    Unknown and revoked tokens are a 404 alike. A members-only link (and, when links for anyone
    are switched off, a public one) needs a signed-in user: `SignInRequired` otherwise.
    """
    link = ShareLink.objects.by_token(token)
    if link is None:
        raise access.NotFound("No such link.")
    members_only = link.access == ShareLink.Access.MEMBERS or not settings.ALLOW_PUBLIC_LINKS
    if members_only and not (user.is_authenticated and user.is_active):
        raise SignInRequired
    return link


class SignInRequired(Exception):
    """The page is for signed-in members."""


def continue_shared_conversation(user, link: ShareLink) -> Conversation:
    """A copy of what the link shows, owned by `user`; the agent starts a fresh platform conversation."""
    source = link.conversation
    if not access.visible_agents(user).filter(pk=source.agent_id).exists():
        raise access.NotFound("No such agent.")
    # A paused reply waits on the owner's platform run, which the copy cannot continue;
    # a streaming one is not finished yet.
    copied_statuses = {
        Message.Status.PAUSED: Message.Status.STOPPED,
        Message.Status.STREAMING: None,
    }
    copied_files: list[Attachment] = []
    try:
        with transaction.atomic():
            copy = Conversation.objects.create(
                owner=user, agent=source.agent, title=link.title or source.title or _("Shared conversation")
            )
            shown = link.messages().prefetch_related("attachments")
            previous = None
            for message in shown:
                status = copied_statuses.get(message.status, message.status)
                if status is None:
                    continue
                copied = Message.objects.create(
                    conversation=copy,
                    role=message.role,
                    content=message.content,
                    status=status,
                    error=message.error,
                    tool_calls=message.tool_calls,
                    parent=previous,
                )
                previous = copied
                for attachment in message.attachments.all():
                    copied_files.append(attachments.copy_attachment(attachment, copied))
    except Exception:
        for attachment in copied_files:
            attachments.delete_stored_file(attachment.file.storage, attachment.file.name)
        raise
    return copy
