import hashlib
import hmac
import secrets

from django.conf import settings
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from ulid import ULID

from agents.models import Agent
from conversations.rendering import RENDERER_VERSION, render_markdown

TITLE_LENGTH = 80


def new_public_id() -> str:
    return str(ULID()).lower()


def title_from(text: str) -> str:
    words = " ".join(text.split())
    if len(words) <= TITLE_LENGTH:
        return words or _("New conversation")
    return words[: TITLE_LENGTH - 1].rsplit(" ", 1)[0] + "…"


class Conversation(models.Model):
    id = models.CharField(primary_key=True, max_length=26, default=new_public_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=gettext_lazy("owner"),
        on_delete=models.CASCADE,
        related_name="conversations",
    )
    agent = models.ForeignKey(
        Agent, verbose_name=gettext_lazy("agent"), on_delete=models.PROTECT, related_name="conversations"
    )
    title = models.CharField(gettext_lazy("title"), max_length=200, blank=True)
    upstream_conversation_id = models.CharField(
        gettext_lazy("conversation id on the platform"), max_length=255, blank=True
    )
    created_at = models.DateTimeField(gettext_lazy("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(gettext_lazy("updated at"), auto_now=True, db_index=True)
    # Pinned conversations head the sidebar; archived ones leave it (search still finds them).
    pinned_at = models.DateTimeField(gettext_lazy("pinned at"), null=True, blank=True)
    archived_at = models.DateTimeField(gettext_lazy("archived at"), null=True, blank=True)

    class Meta:
        verbose_name = gettext_lazy("conversation")
        verbose_name_plural = gettext_lazy("conversations")
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.title or _("New conversation")

    def get_absolute_url(self) -> str:
        return reverse("conversation", args=[self.id])

    @property
    def group_name(self) -> str:
        return f"conversation-{self.id}"

    def set_pinned(self, pinned: bool) -> None:
        """Pin or unpin; the order of the conversation among others (`updated_at`) is kept."""
        self.pinned_at = timezone.now() if pinned else None
        type(self).objects.filter(pk=self.pk).update(pinned_at=self.pinned_at)

    def chosen_path(self) -> "models.QuerySet[Message]":
        """The conversation's history: the chosen version of each turn, oldest first (see `Message`)."""
        return self.messages.filter(in_history=True).order_by("created_at", "id")

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
    """One message of a conversation, with the earlier versions of a turn kept.

    Messages form a tree: each follows its `parent` (the reply before a user
    message, the user message a reply answers; null for a first message).
    Regenerating a reply or editing a user message adds a version: a message
    with the same parent whose `first_version` is the turn's first message
    (null on that first one), so a turn's versions are its first version and
    the messages naming it. Each version keeps what followed it.

    `chosen` marks the version shown among its versions, and is remembered
    while another branch is shown. `in_history` marks the chosen path: the
    messages whose own and every earlier version is chosen. It is what history,
    share pages, exports, search and the platform's turns read
    (`Conversation.chosen_path()`), kept in step by `versions.choose_version`.
    """

    class Role(models.TextChoices):
        USER = "user", gettext_lazy("User")
        ASSISTANT = "assistant", gettext_lazy("Assistant")

    class Status(models.TextChoices):
        STREAMING = "streaming", gettext_lazy("Streaming")
        COMPLETE = "complete", gettext_lazy("Complete")
        STOPPED = "stopped", gettext_lazy("Stopped")
        ERROR = "error", gettext_lazy("Error")
        INTERRUPTED = "interrupted", gettext_lazy("Interrupted")
        # Waiting for the user's decisions (`approval`); the reply then continues.
        PAUSED = "paused", gettext_lazy("Paused")

    conversation = models.ForeignKey(
        Conversation,
        verbose_name=gettext_lazy("conversation"),
        on_delete=models.CASCADE,
        related_name="messages",
    )
    role = models.CharField(gettext_lazy("role"), max_length=16, choices=Role.choices)
    content = models.TextField(gettext_lazy("content"), blank=True)
    status = models.CharField(
        gettext_lazy("status"), max_length=16, choices=Status.choices, default=Status.COMPLETE
    )
    error = models.TextField(gettext_lazy("error"), blank=True)
    tool_calls = models.JSONField(gettext_lazy("tool calls"), default=list, blank=True)
    # A run's last request for decisions: {"request_id", "actions", "status", "decisions", "at"}; `at`
    # (once the run went on after it) is the length of the text before it (conversations.reply_parts).
    approval = models.JSONField(gettext_lazy("approval"), default=dict, blank=True)
    # The requests before the last one, of a reply that paused more than once, in order.
    earlier_approvals = models.JSONField(
        gettext_lazy("earlier approvals"), default=list, db_default=[], blank=True
    )
    upstream_message_id = models.CharField(
        gettext_lazy("message id on the platform"), max_length=255, blank=True
    )
    upstream_run_id = models.CharField(gettext_lazy("run id on the platform"), max_length=255, blank=True)
    # Where the platform can replay a streaming reply from (agents.providers.events.ResumePoint).
    upstream_resume = models.JSONField(
        gettext_lazy("where the platform can replay the reply from"), default=dict, blank=True, editable=False
    )
    # Sequence number of the last reply event reflected in `content`.
    seq = models.PositiveIntegerField(gettext_lazy("event number"), default=0)
    # The channel of the process relaying this reply while it streams.
    relay_channel = models.CharField(
        gettext_lazy("relay channel"), max_length=200, blank=True, editable=False
    )
    created_at = models.DateTimeField(gettext_lazy("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(gettext_lazy("updated at"), auto_now=True)
    # The tokens the platform says the reply used: {"input_tokens", "output_tokens"}; {} if not said.
    usage = models.JSONField(gettext_lazy("tokens used"), default=dict, blank=True)
    # A reply's first words and its end, for the usage figures (time to first words, to the end).
    first_text_at = models.DateTimeField(
        gettext_lazy("first words at"), null=True, blank=True, editable=False
    )
    finished_at = models.DateTimeField(gettext_lazy("finished at"), null=True, blank=True, editable=False)
    parent = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="children",
        editable=False,
        verbose_name=gettext_lazy("previous message"),
    )
    first_version = models.ForeignKey(
        "self",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="later_versions",
        editable=False,
        verbose_name=gettext_lazy("first version"),
    )
    chosen = models.BooleanField(gettext_lazy("chosen version"), default=True, editable=False)
    in_history = models.BooleanField(gettext_lazy("on the chosen path"), default=True, editable=False)

    class Meta:
        verbose_name = gettext_lazy("message")
        verbose_name_plural = gettext_lazy("messages")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["created_at"], name="message_created_at")]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.content[:40]}"

    @property
    def is_finished(self) -> bool:
        return self.status != self.Status.STREAMING


def attachment_path(attachment: "Attachment", filename: str) -> str:
    """Stored under a generated name; the user's file name is kept only in `name`."""
    return f"attachments/{attachment.conversation_id}/{attachment.id}"


class Attachment(models.Model):
    """A file a user attached. Pending (no message) from upload until the message it goes with is saved."""

    id = models.CharField(primary_key=True, max_length=26, default=new_public_id, editable=False)
    conversation = models.ForeignKey(
        Conversation,
        verbose_name=gettext_lazy("conversation"),
        on_delete=models.CASCADE,
        related_name="attachments",
    )
    message = models.ForeignKey(
        Message,
        verbose_name=gettext_lazy("message"),
        on_delete=models.CASCADE,
        related_name="attachments",
        null=True,
        blank=True,
    )
    file = models.FileField(gettext_lazy("file"), upload_to=attachment_path, max_length=255)
    name = models.CharField(gettext_lazy("name"), max_length=255)
    content_type = models.CharField(gettext_lazy("content type"), max_length=100)
    size = models.PositiveBigIntegerField(gettext_lazy("size"))
    sha256 = models.CharField(gettext_lazy("SHA-256"), max_length=64)
    created_at = models.DateTimeField(gettext_lazy("created at"), auto_now_add=True)

    class Meta:
        verbose_name = gettext_lazy("attachment")
        verbose_name_plural = gettext_lazy("attachments")
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
        PUBLIC = "public", gettext_lazy("Anyone with the link")
        MEMBERS = "members", gettext_lazy("Signed-in members only")

    conversation = models.ForeignKey(
        Conversation,
        verbose_name=gettext_lazy("conversation"),
        on_delete=models.CASCADE,
        related_name="share_links",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=gettext_lazy("created by"),
        on_delete=models.CASCADE,
        related_name="share_links",
    )
    key = models.CharField(gettext_lazy("key"), max_length=16, unique=True, editable=False)
    secret = models.CharField(gettext_lazy("secret"), max_length=64, editable=False)
    access = models.CharField(
        gettext_lazy("access"), max_length=16, choices=Access.choices, default=Access.MEMBERS
    )
    # Members-only links may be live: viewers watch new messages and running replies.
    live = models.BooleanField(gettext_lazy("live"), default=False)
    # The newest message the snapshot shows (messages are shown up to and including it).
    last_message_id = models.BigIntegerField(gettext_lazy("last message id"), null=True, blank=True)
    title = models.CharField(gettext_lazy("title"), max_length=200, blank=True)
    revoked_at = models.DateTimeField(gettext_lazy("revoked at"), null=True, blank=True)
    created_at = models.DateTimeField(gettext_lazy("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(gettext_lazy("updated at"), auto_now=True)

    objects = ShareLinkQuerySet.as_manager()

    class Meta:
        verbose_name = gettext_lazy("share link")
        verbose_name_plural = gettext_lazy("share links")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title or _("Share of %(conversation)s") % {"conversation": self.conversation_id}

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
        """What the link shows, oldest first: the chosen path when live, else the frozen copy."""
        if self.live:
            return self.conversation.chosen_path()
        return self.frozen_messages.order_by("position")

    def take_snapshot(self) -> None:
        """Freeze the conversation as it is now: its title, a copy of its chosen path but a streaming reply.

        Saves the link. A copy, not an extent: a paused reply keeps its id while its text grows.
        """
        with transaction.atomic():
            self.title = self.conversation.title
            shown = list(
                self.conversation.chosen_path()
                .exclude(status=Message.Status.STREAMING)
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

    link = models.ForeignKey(
        ShareLink, verbose_name=gettext_lazy("link"), on_delete=models.CASCADE, related_name="frozen_messages"
    )
    position = models.PositiveIntegerField(gettext_lazy("position"))
    role = models.CharField(gettext_lazy("role"), max_length=16, choices=Message.Role.choices)
    content = models.TextField(gettext_lazy("content"), blank=True)
    status = models.CharField(gettext_lazy("status"), max_length=16, choices=Message.Status.choices)
    error = models.TextField(gettext_lazy("error"), blank=True)
    tool_calls = models.JSONField(gettext_lazy("tool calls"), default=list, blank=True)
    approval = models.JSONField(gettext_lazy("approval"), default=dict, blank=True)
    earlier_approvals = models.JSONField(
        gettext_lazy("earlier approvals"), default=list, db_default=[], blank=True
    )
    created_at = models.DateTimeField(gettext_lazy("created at"))
    attachments = models.ManyToManyField(
        Attachment, verbose_name=gettext_lazy("attachments"), related_name="shared_copies", blank=True
    )

    # A frozen copy follows no stream.
    seq = 0

    class Meta:
        verbose_name = gettext_lazy("shared message")
        verbose_name_plural = gettext_lazy("shared messages")
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["link", "position"], name="one_shared_message_per_position")
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.content[:40]}"

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
            earlier_approvals=message.earlier_approvals,
            created_at=message.created_at,
            rendered_html=message.rendered_html,
            rendered_key=message.rendered_key,
        )


class Feedback(models.Model):
    """The owner's verdict on one finished reply: thumbs up or down and an optional comment.

    One per reply; giving feedback again changes it.
    """

    class Rating(models.TextChoices):
        UP = "up", gettext_lazy("Thumbs up")
        DOWN = "down", gettext_lazy("Thumbs down")

    message = models.OneToOneField(
        Message, verbose_name=gettext_lazy("message"), on_delete=models.CASCADE, related_name="feedback"
    )
    # Kept on the row so the admin filters and counts by agent without joining through the conversation.
    agent = models.ForeignKey(
        Agent, verbose_name=gettext_lazy("agent"), on_delete=models.CASCADE, related_name="feedback"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=gettext_lazy("user"),
        on_delete=models.CASCADE,
        related_name="feedback",
    )
    rating = models.CharField(gettext_lazy("rating"), max_length=8, choices=Rating.choices)
    comment = models.TextField(gettext_lazy("comment"), blank=True, max_length=2000)
    created_at = models.DateTimeField(gettext_lazy("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(gettext_lazy("updated at"), auto_now=True)

    class Meta:
        verbose_name = gettext_lazy("feedback")
        ordering = ["-updated_at"]
        verbose_name_plural = gettext_lazy("feedback")

    def __str__(self) -> str:
        return _("%(rating)s on reply %(reply)s") % {
            "rating": self.get_rating_display(),
            "reply": self.message_id,
        }
