from collections.abc import Callable
from typing import Any

import httpx
from asgiref.sync import async_to_sync
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from agents.crypto import UndecryptableKey
from agents.forms import PlatformOptionsForm, agent_form_for, credential_form_for
from agents.models import Agent, Credential
from agents.platforms import PLATFORMS
from agents.providers import UpstreamError, provider_class
from conversations.feedback import feedback_counts

# What an admin action may meet when it calls a platform: its refusal, an answer
# that does not decode, a failed request, or a stored key the site cannot decrypt.
PLATFORM_FAILURES = (UpstreamError, httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, ValueError)


class PlatformCallFailed(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@sensitive_variables()
def call_platform(obj: Agent | Credential, method: str) -> Any:
    """`obj.provider().<method>()` from a sync admin view; every failure becomes PlatformCallFailed.

    Only the adapter's own messages (UpstreamError) are shown as they are: a
    library's error text may quote what the platform sent.
    """
    try:
        return async_to_sync(getattr(obj.provider(), method))()
    except PLATFORM_FAILURES as exc:
        raise PlatformCallFailed(failure_message(exc)) from exc


def failure_message(exc: Exception) -> str:
    if isinstance(exc, UpstreamError | UndecryptableKey):
        return str(exc)
    if isinstance(exc, httpx.DecodingError):
        return _("The platform's answer could not be decoded (a broken or mislabelled compressed body).")
    if isinstance(exc, httpx.HTTPError | httpx.InvalidURL | httpx.StreamError):
        return _("The request to the platform failed (%(error)s).") % {"error": type(exc).__name__}
    return _("The platform's answer could not be read (%(error)s).") % {"error": type(exc).__name__}


def unique_agent_slug(name: str) -> str:
    base = slugify(name)[:90] or "agent"
    slug, n = base, 2
    while Agent.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


class PlatformOptionsMixin:
    """Shows the settings of the object's platform as their own fields (agents.forms)."""

    base_fields: list[str]
    # Form fields that are never shown back, not even read-only.
    write_only_fields: tuple[str, ...] = ()
    form_for: Callable[[str | None], type[PlatformOptionsForm]]

    def platform_for(self, request: HttpRequest, obj) -> str | None:
        raise NotImplementedError

    def get_form(self, request: HttpRequest, obj=None, change=False, **kwargs):
        kwargs["form"] = type(self).form_for(self.platform_for(request, obj))
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj=None):
        if obj is not None and not self.has_change_permission(request, obj):
            # Every field of a viewer's page is read-only: the stored options as they are, no key.
            shown = [name for name in self.base_fields if name not in self.write_only_fields]
            return [(None, {"fields": [*shown, "options"]})]
        platform = self.platform_for(request, obj)
        form = type(self).form_for(platform)
        if platform:
            label = provider_class(platform).label
            options = {
                "fields": form.option_field_names(),
                "description": _("The settings %(platform)s reads.") % {"platform": label}
                if form.declared()
                else _("%(platform)s takes no further settings.") % {"platform": label},
            }
        else:
            options = {
                "fields": [],
                "description": _("Choose the platform and save: its settings appear here."),
            }
        return [
            (None, {"fields": [*self.base_fields, "options_platform"]}),
            (_("Platform settings"), options),
        ]

    def save_form(self, request: HttpRequest, form, change: bool):
        if form.options_reset:
            self.message_user(
                request,
                _("%(platform)s settings start at their defaults: review them below.")
                % {"platform": provider_class(form.platform).label},
                messages.INFO,
            )
            request.options_reset = True
        return super().save_form(request, form, change)

    def response_add(self, request: HttpRequest, obj, post_url_continue=None):
        if getattr(request, "options_reset", False):
            request.POST = request.POST.copy()
            request.POST["_continue"] = "1"
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj):
        if getattr(request, "options_reset", False):
            request.POST = request.POST.copy()
            request.POST["_continue"] = "1"
        return super().response_change(request, obj)


class TestConnectionMixin:
    """The "Test connection" action, for models whose `provider()` gives their adapter.

    It never runs an agent turn that may cost the account credits; that is
    "Test with one real message", which asks the admin to confirm first.
    """

    @admin.action(description=gettext_lazy("Test connection"))
    @method_decorator(sensitive_variables())
    def test_connection(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.report_checks(request, queryset, real_turn=False)

    @admin.action(description=gettext_lazy("Test with one real message (may cost credits)"))
    @method_decorator(sensitive_variables())
    def test_with_a_real_message(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        if request.POST.get("confirmed") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("Test with one real message?"),
                "objects": queryset,
                "paid": [obj for obj in queryset if provider_class(obj.platform).real_turn_check],
                "free": [obj for obj in queryset if not provider_class(obj.platform).real_turn_check],
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }
            return render(request, "admin/agents/confirm_real_message.html", context)
        self.report_checks(request, queryset, real_turn=True)
        return None

    def report_checks(self, request: HttpRequest, queryset: QuerySet, *, real_turn: bool) -> None:
        method = "check_with_real_turn" if real_turn else "check_connection"
        for obj in queryset:
            try:
                result = call_platform(obj, method)
            except PlatformCallFailed as exc:
                self.message_user(request, f"{obj.name}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{obj.name}: {result}", messages.SUCCESS)


@admin.register(Credential)
class CredentialAdmin(PlatformOptionsMixin, TestConnectionMixin, admin.ModelAdmin):
    form_for = staticmethod(credential_form_for)
    base_fields = ["name", "platform", "base_url", "api_key", "masked_key"]
    write_only_fields = ("api_key",)
    list_display = ["name", "platform", "base_url", "masked_key", "agent_count", "updated_at"]
    list_filter = ["platform"]
    search_fields = ["name", "base_url"]
    readonly_fields = ["masked_key", "created_at", "updated_at"]
    actions = ["test_connection", "import_agents"]

    @method_decorator(sensitive_post_parameters("api_key"))
    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        if request.method == "GET" and request.GET.get("platform") not in PLATFORMS:
            return self.choose_platform_view(request)
        return super().add_view(request, form_url, extra_context)

    def choose_platform_view(self, request: HttpRequest) -> HttpResponse:
        """The first step of adding a credential: its platform decides every field that follows."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        platforms = [(entry, provider_class(entry.id).default_base_url) for entry in PLATFORMS.values()]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Add credential: choose its platform"),
            "platforms": platforms,
        }
        return render(request, "admin/agents/credential/choose_platform.html", context)

    def get_fieldsets(self, request: HttpRequest, obj=None):
        # A new credential has no key to mask yet: its only "API key" is the field to enter it.
        fieldsets = super().get_fieldsets(request, obj)
        first = fieldsets[0][1]
        if obj is None:
            first["fields"] = [name for name in first["fields"] if name != "masked_key"]
        elif obj.api_key_encrypted and "api_key" in first["fields"]:
            platform = self.platform_for(request, obj)
            if platform in PLATFORMS and not provider_class(platform).needs_key:
                at = first["fields"].index("api_key") + 1
                first["fields"] = [*first["fields"][:at], "remove_api_key", *first["fields"][at:]]
        return fieldsets

    @method_decorator(sensitive_post_parameters("api_key"))
    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/import-agents/",
                self.admin_site.admin_view(self.import_agents_view),
                name="agents_credential_import",
            ),
            *super().get_urls(),
        ]

    @admin.action(description=gettext_lazy("Import agents from the platform"))
    def import_agents(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, _("Choose one credential to import agents from."), messages.WARNING)
            return None
        return redirect("admin:agents_credential_import", queryset.get().pk)

    @method_decorator(sensitive_variables())
    def import_agents_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        credential = self.get_object(request, object_id)
        if credential is None:
            raise Http404("No such credential.")
        if not (self.has_view_permission(request, credential) and request.user.has_perm("agents.add_agent")):
            raise PermissionDenied
        try:
            upstream_agents = call_platform(credential, "list_agents")
        except PlatformCallFailed as exc:
            self.message_user(request, f"{credential.name}: {exc.message}", messages.ERROR)
            return redirect("admin:agents_credential_changelist")
        existing = set(credential.agents.values_list("upstream_agent_id", flat=True))
        if request.method == "POST":
            chosen = set(request.POST.getlist("agent_id")) - existing
            created = [
                Agent.objects.create(
                    name=found.name[:100],
                    slug=unique_agent_slug(found.name),
                    # Members read the description; the platform's is metadata ("workflow published"),
                    # so it is left for the admin to write.
                    description="",
                    credential=credential,
                    upstream_agent_id=found.id,
                )
                for found in upstream_agents
                if found.id in chosen
            ]
            names = ", ".join(agent.name for agent in created) or _("nothing")
            self.message_user(request, _("Imported %(names)s.") % {"names": names}, messages.SUCCESS)
            return redirect("admin:agents_agent_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Import agents from %(credential)s") % {"credential": credential.name},
            "credential": credential,
            "upstream_agents": upstream_agents,
            "existing": existing,
        }
        return render(request, "admin/agents/import_agents.html", context)

    def platform_for(self, request: HttpRequest, credential: Credential | None) -> str | None:
        chosen = request.POST.get("platform") or request.GET.get("platform")
        return chosen or (credential.platform if credential else None)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(agent_total=Count("agents"))

    @admin.display(description=gettext_lazy("API key"))
    def masked_key(self, credential: Credential) -> str:
        return credential.masked_key

    @admin.display(description=gettext_lazy("Agents"), ordering="agent_total")
    def agent_count(self, credential: Credential) -> int:
        return credential.agent_total


@admin.register(Agent)
class AgentAdmin(PlatformOptionsMixin, TestConnectionMixin, admin.ModelAdmin):
    form_for = staticmethod(agent_form_for)
    base_fields = ["name", "slug", "description", "credential", "upstream_agent_id", "groups", "enabled"]
    list_display = [
        "name",
        "slug",
        "platform_name",
        "credential",
        "upstream_agent_id",
        "enabled",
        "group_names",
        "feedback_given",
        "updated_at",
    ]
    list_filter = ["enabled", "credential__platform", "credential", "groups"]
    list_editable = ["enabled"]
    list_select_related = ["credential"]
    search_fields = ["name", "slug", "description", "upstream_agent_id"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["groups"]
    actions = ["test_connection", "test_with_a_real_message"]

    def platform_for(self, request: HttpRequest, agent: Agent | None) -> str | None:
        chosen = request.POST.get("credential") or request.GET.get("credential")
        if chosen:
            return Credential.objects.filter(pk=chosen).values_list("platform", flat=True).first()
        return agent.platform if agent else None

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("groups").annotate(**feedback_counts())

    @admin.display(description=gettext_lazy("Feedback"), ordering="feedback_up")
    def feedback_given(self, agent: Agent) -> str:
        up, down = getattr(agent, "feedback_up", 0), getattr(agent, "feedback_down", 0)
        if not up and not down:
            return "–"
        url = reverse("admin:conversations_feedback_changelist") + f"?agent__id__exact={agent.pk}"
        return format_html('<a href="{}">👍 {} · 👎 {}</a>', url, up, down)

    @admin.display(description=gettext_lazy("Groups"))
    def group_names(self, agent: Agent) -> str:
        return ", ".join(group.name for group in agent.groups.all()) or _("Everyone")

    @admin.display(description=gettext_lazy("Platform"), ordering="credential__platform")
    def platform_name(self, agent: Agent) -> str:
        return provider_class(agent.platform).label
