from django.conf import settings
from django.db import models
from django.urls import reverse
from ulid import ULID

from agents.models import Agent

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

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.title or "New conversation"

    def get_absolute_url(self) -> str:
        return reverse("conversation", args=[self.id])

    @property
    def group_name(self) -> str:
        return f"conversation-{self.id}"


class Message(models.Model):
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
    # Sequence number of the last reply event reflected in `content`.
    seq = models.PositiveIntegerField(default=0)
    # The channel of the process relaying this reply while it streams.
    relay_channel = models.CharField(max_length=200, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"

    @property
    def is_finished(self) -> bool:
        return self.status != self.Status.STREAMING
