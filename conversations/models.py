import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone
from ulid import ULID

from agents.models import Agent
from conversations.rendering import RENDERER_VERSION, render_markdown

TITLE_LENGTH = 80


def new_public_id() -> str:
    return str(ULID()).lower()


def title_from(text: str) -> str:
    words = " ".join(text.split())
    if len(words) <= TITLE_LENGTH:
        return words or "New conversation"
    return words[: TITLE_LENGTH - 1].rsplit(" ", 1)[0] + "…"


class Conversation(models.Model):
    id = models.CharField(primary_key=True, max_length=26, default=new_public_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="conversations")
    title = models.CharField(max_length=200, blank=True)
    upstream_conversation_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    # Pinned conversations head the sidebar; archived ones leave it (search still finds them).
    pinned_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.title or "New conversation"

    def get_absolute_url(self) -> str:
        return reverse("conversation", args=[self.id])

    @property
    def group_name(self) -> str:
        return f"conversation-{self.id}"

    def set_pinned(self, pinned: bool) -> None:
        """Pin or unpin; the order of the conversation among others (`updated_at`) is kept."""
        self.pinned_at = timezone.now() if pinned else None
        type(self).objects.filter(pk=self.pk).update(pinned_at=self.pinned_at)

    def set_archived(self, archived: bool) -> None:
        """Archive (which also unpins) or restore, keeping `updated_at`."""
        self.archived_at = timezone.now() if archived else None
        if archived:
            self.pinned_at = None
        type(self).objects.filter(pk=self.pk).update(archived_at=self.archived_at, pinned_at=self.pinned_at)


def rendered_key_for(content: str) -> str:
    """What a cached rendering is valid for: this text through this version of the renderer."""
    return hashlib.sha256(f"{RENDERER_VERSION}\0{content}".encode()).hexdigest()


class RenderedMarkdown(models.Model):
    """A row whose `content` Markdown is rendered once and kept.

    The cache is keyed on a hash of the content it was rendered from, so text
    changed by any path (relay `.update()` calls included) is re-rendered on
    next use, never served stale. Subclasses define `content`.
    """

    rendered_html = models.TextField(blank=True, editable=False)
    rendered_key = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        abstract = True

    def html(self) -> str:
        """The content as sanitised HTML, from the cache when it was rendered from this content."""
        key = rendered_key_for(self.content)
        if self.rendered_key != key:
            self.rendered_html, self.rendered_key = render_markdown(self.content), key
            self._rendered_unsaved = True
        return self.rendered_html

    def save_rendered_html(self) -> None:
        """Store a rendering `html()` made; the pair is written together so it always matches."""
        if getattr(self, "_rendered_unsaved", False):
            type(self).objects.filter(pk=self.pk).update(
                rendered_html=self.rendered_html, rendered_key=self.rendered_key
            )
            self._rendered_unsaved = False


class Message(RenderedMarkdown):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        STREAMING = "streaming"
        COMPLETE = "complete"
        STOPPED = "stopped"
        ERROR = "error"
        INTERRUPTED = "interrupted"
        # Waiting for the user's decisions (`approval`); the reply then continues.
        PAUSED = "paused"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    error = models.TextField(blank=True)
    tool_calls = models.JSONField(default=list, blank=True)
    # A run's request for decisions: {"request_id", "actions", "status", "decisions"}.
    approval = models.JSONField(default=dict, blank=True)
    upstream_message_id = models.CharField(max_length=255, blank=True)
    upstream_run_id = models.CharField(max_length=255, blank=True)
    # Where the platform can replay a streaming reply from (agents.providers.events.ResumePoint).
    upstream_resume = models.JSONField(default=dict, blank=True, editable=False)
    # Sequence number of the last reply event reflected in `content`.
    seq = models.PositiveIntegerField(default=0)
    # The channel of the process relaying this reply while it streams.
    relay_channel = models.CharField(max_length=200, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # A reply's first words and its end, for the usage figures (time to first words, to the end).
    first_text_at = models.DateTimeField(null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["created_at"], name="message_created_at")]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"

    @property
    def is_finished(self) -> bool:
        return self.status != self.Status.STREAMING


def attachment_path(attachment: "Attachment", filename: str) -> str:
    """Stored under a generated name; the user's file name is kept only in `name`."""
    return f"attachments/{attachment.conversation_id}/{attachment.id}"


class Attachment(models.Model):
    """A file a user attached. Pending (no message) from upload until the message it goes with is saved."""

    id = models.CharField(primary_key=True, max_length=26, default=new_public_id, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="attachments")
    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="attachments", null=True, blank=True
    )
    file = models.FileField(upload_to=attachment_path, max_length=255)
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")


# token_urlsafe(n) gives ceil(4n/3) characters: a 12-character key, a 32-character (192-bit) secret.
SHARE_KEY_BYTES = 9
SHARE_KEY_LENGTH = 12
SHARE_SECRET_BYTES = 24


def share_group_name(link_id: int) -> str:
    """The channel-layer group of the sockets watching a live link."""
    return f"share-{link_id}"


class ShareLinkQuerySet(models.QuerySet):
    def active(self) -> "ShareLinkQuerySet":
        return self.filter(revoked_at__isnull=True)

    def by_token(self, token: str) -> "ShareLink | None":
        """The active link `token` names; None for an unknown, malformed or revoked token alike."""
        key, secret = token[:SHARE_KEY_LENGTH], token[SHARE_KEY_LENGTH:]
        link = self.active().select_related("conversation__agent", "created_by").filter(key=key).first()
        if link is None or not secret or not hmac.compare_digest(link.secret.encode(), secret.encode()):
            return None
        return link


class ShareLink(models.Model):
    """A link that shows a conversation as it was when the link was made or last updated.

    The URL token is `key` + `secret`: `key` finds the row, `secret` is compared in constant time.
    """

    class Access(models.TextChoices):
        PUBLIC = "public", "Anyone with the link"
        MEMBERS = "members", "Signed-in members only"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="share_links")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="share_links"
    )
    key = models.CharField(max_length=16, unique=True, editable=False)
    secret = models.CharField(max_length=64, editable=False)
    access = models.CharField(max_length=16, choices=Access.choices, default=Access.MEMBERS)
    # Members-only links may be live: viewers watch new messages and running replies.
    live = models.BooleanField(default=False)
    # The newest message the snapshot shows (messages are shown up to and including it).
    last_message_id = models.BigIntegerField(null=True, blank=True)
    title = models.CharField(max_length=200, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ShareLinkQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title or f"Share of {self.conversation_id}"

    def save(self, *args, **kwargs) -> None:
        if not self.key:
            self.key = secrets.token_urlsafe(SHARE_KEY_BYTES)
            self.secret = secrets.token_urlsafe(SHARE_SECRET_BYTES)
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("shared_conversation", args=[self.token])

    @property
    def token(self) -> str:
        return self.key + self.secret

    @property
    def group_name(self) -> str:
        return share_group_name(self.pk)

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_public(self) -> bool:
        return self.access == self.Access.PUBLIC

    def messages(self) -> "models.QuerySet[Message] | models.QuerySet[SharedMessage]":
        """What the link shows, oldest first: every message when live, else the frozen copy."""
        if self.live:
            return self.conversation.messages.order_by("created_at", "id")
        return self.frozen_messages.order_by("position")

    def take_snapshot(self) -> None:
        """Freeze the conversation as it is now: its title, a copy of every message but a streaming reply.

        Saves the link. A copy, not an extent: a paused reply keeps its id while its text grows.
        """
        with transaction.atomic():
            self.title = self.conversation.title
            shown = list(
                self.conversation.messages.exclude(status=Message.Status.STREAMING)
                .order_by("created_at", "id")
                .prefetch_related("attachments")
            )
            self.last_message_id = max((message.pk for message in shown), default=None)
            self.save()
            self.frozen_messages.all().delete()
            frozen = SharedMessage.objects.bulk_create(
                SharedMessage.copy_of(message, link=self, position=position)
                for position, message in enumerate(shown)
            )
            files = SharedMessage.attachments.through
            files.objects.bulk_create(
                files(sharedmessage_id=copy.pk, attachment_id=attachment.pk)
                for copy, message in zip(frozen, shown, strict=True)
                for attachment in message.attachments.all()
            )

    def revoke(self) -> None:
        self.revoked_at = timezone.now()
        self.save(update_fields=["revoked_at", "updated_at"])


class SharedMessage(RenderedMarkdown):
    """A message as a snapshot link showed it when it was made or last updated."""

    link = models.ForeignKey(ShareLink, on_delete=models.CASCADE, related_name="frozen_messages")
    position = models.PositiveIntegerField()
    role = models.CharField(max_length=16, choices=Message.Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Message.Status.choices)
    error = models.TextField(blank=True)
    tool_calls = models.JSONField(default=list, blank=True)
    approval = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    attachments = models.ManyToManyField(Attachment, related_name="shared_copies", blank=True)

    # A frozen copy follows no stream.
    seq = 0

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["link", "position"], name="one_shared_message_per_position")
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"

    @classmethod
    def copy_of(cls, message: Message, link: ShareLink, position: int) -> "SharedMessage":
        """An unsaved copy of what `message` shows now, its kept rendering included."""
        return cls(
            link=link,
            position=position,
            role=message.role,
            content=message.content,
            status=message.status,
            error=message.error,
            tool_calls=message.tool_calls,
            approval=message.approval,
            created_at=message.created_at,
            rendered_html=message.rendered_html,
            rendered_key=message.rendered_key,
        )


class Feedback(models.Model):
    """The owner's verdict on one finished reply: thumbs up or down and an optional comment.

    One per reply; giving feedback again changes it.
    """

    class Rating(models.TextChoices):
        UP = "up", "Thumbs up"
        DOWN = "down", "Thumbs down"

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="feedback")
    # Kept on the row so the admin filters and counts by agent without joining through the conversation.
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feedback")
    rating = models.CharField(max_length=8, choices=Rating.choices)
    comment = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        verbose_name_plural = "feedback"

    def __str__(self) -> str:
        return f"{self.get_rating_display()} on reply {self.message_id}"
