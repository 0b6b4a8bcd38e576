from django.contrib.auth.models import Group
from django.core.validators import URLValidator
from django.db import models
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from agents import crypto
from agents.platforms import ENTRIES, platform_choices, validate_platform
from agents.providers import AgentSpec, Connection, Provider, provider_class

http_url = URLValidator(schemes=["http", "https"])


# The registered platforms as choices, e.g. `Platform.SKETRICGEN`; made from the registry, not kept apart.
Platform = models.TextChoices("Platform", [(entry.id.upper(), (entry.id, entry.label)) for entry in ENTRIES])


class Credential(models.Model):
    """An API key for one platform account. The key is stored encrypted."""

    platform = models.CharField(
        _("platform"), max_length=32, choices=platform_choices, validators=[validate_platform]
    )
    name = models.CharField(_("name"), max_length=100, unique=True)
    base_url = models.CharField(
        _("base URL"),
        max_length=500,
        validators=[http_url],
        help_text=_(
            "The platform's API address. The site sends requests, with this key, to "
            "whatever host is named here: point it only at the platform itself."
        ),
    )
    api_key_encrypted = models.TextField(_("API key (encrypted)"), editable=False)
    api_key_last4 = models.CharField(_("API key's last four characters"), max_length=4, editable=False)
    options = models.JSONField(_("options"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("credential")
        verbose_name_plural = _("credentials")
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_platform_display()})"

    @property
    def api_key(self) -> str:
        """The key; "" for an agent server that needs none."""
        return crypto.decrypt(self.api_key_encrypted) if self.api_key_encrypted else ""

    @method_decorator(sensitive_variables("raw_key"))
    def set_api_key(self, raw_key: str) -> None:
        self.api_key_encrypted = crypto.encrypt(raw_key)
        self.api_key_last4 = raw_key[-4:]

    def remove_api_key(self) -> None:
        self.api_key_encrypted = self.api_key_last4 = ""

    @property
    def masked_key(self) -> str:
        return f"…{self.api_key_last4}" if self.api_key_last4 else ""

    def connection(self) -> Connection:
        return Connection(base_url=self.base_url, api_key=self.api_key, options=self.options)

    def provider(self) -> Provider:
        """The platform adapter, for calls that need no agent (test connection, import)."""
        return provider_class(self.platform)(self.connection())


def open_to(user_id: int | models.F) -> models.Q:
    """Agents open to everyone, or limited to groups one of which the user `user_id` is in.

    `user_id` may be an `OuterRef`, for asking this in a subquery.
    """
    return models.Q(groups__isnull=True) | models.Q(groups__user=user_id)


class AgentQuerySet(models.QuerySet):
    def enabled(self) -> "AgentQuerySet":
        return self.filter(enabled=True)

    def usable_by(self, user) -> "AgentQuerySet":
        """Enabled agents `user` may chat with: an agent limited to groups is for their members only."""
        if not getattr(user, "is_active", False):
            return self.none()
        return self.enabled().filter(open_to(user.pk)).distinct()


class Agent(models.Model):
    """An agent that lives on an upstream platform, as the team sees it."""

    name = models.CharField(_("name"), max_length=100)
    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True)
    credential = models.ForeignKey(
        Credential, verbose_name=_("credential"), on_delete=models.PROTECT, related_name="agents"
    )
    upstream_agent_id = models.CharField(
        _("agent id on the platform"), max_length=255, help_text=_("The agent's id on its platform.")
    )
    options = models.JSONField(
        _("options"), default=dict, blank=True, help_text=_("Platform options for this agent.")
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    groups = models.ManyToManyField(
        Group,
        verbose_name=_("groups"),
        blank=True,
        related_name="agents",
        help_text=_("Only members of these groups may use the agent. None chosen: every member."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = AgentQuerySet.as_manager()

    class Meta:
        verbose_name = _("agent")
        verbose_name_plural = _("agents")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("new_conversation", args=[self.slug])

    @property
    def platform(self) -> str:
        return self.credential.platform

    def provider(self) -> Provider:
        """The platform adapter for this agent. Reads the credential: call it outside the event loop."""
        spec = AgentSpec(upstream_id=self.upstream_agent_id, options=self.options)
        return provider_class(self.platform)(self.credential.connection(), spec)
