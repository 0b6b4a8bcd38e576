from asgiref.sync import async_to_sync
from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.text import slugify

from agents.models import Agent, Credential
from agents.providers import PROVIDERS, UpstreamError, provider_class


class CredentialForm(forms.ModelForm):
    api_key = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted and never shown again. Leave empty to keep the current key.",
    )

    class Meta:
        model = Credential
        fields = ["name", "platform", "base_url", "api_key", "options"]
        help_texts = {"base_url": "Leave empty for the platform's usual address."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.api_key_last4:
            self.fields["api_key"].help_text = (
                f"Current key ends in {self.instance.masked_key}. " + self.fields["api_key"].help_text
            )
        if not self.instance.pk:
            self.fields["api_key"].required = True
        self.fields["base_url"].required = False

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("base_url") and cleaned.get("platform"):
            default = provider_class(cleaned["platform"]).default_base_url
            if default:
                cleaned["base_url"] = self.instance.base_url = default
            else:
                self.add_error("base_url", "This platform has no usual address: enter its base URL.")
        new_key = cleaned.get("api_key")
        if self.instance.pk and not new_key:
            if "base_url" in self.changed_data:
                self.add_error(
                    "api_key",
                    "The base URL changed: enter the API key again, so that a key is only "
                    "ever sent to the host it was entered for.",
                )
            if "platform" in self.changed_data:
                self.add_error("api_key", "The platform changed: enter the API key for the new platform.")
        return cleaned

    def save(self, commit=True):
        credential = super().save(commit=False)
        if self.cleaned_data.get("api_key"):
            credential.set_api_key(self.cleaned_data["api_key"])
        if commit:
            credential.save()
        return credential


class AgentForm(forms.ModelForm):
    class Meta:
        model = Agent
        fields = [
            "name",
            "slug",
            "description",
            "credential",
            "upstream_agent_id",
            "options",
            "enabled",
            "groups",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        lines = [
            f"{provider_class(platform).label}: "
            + (
                "; ".join(f"{name} ({help})" for name, help in provider_class(platform).agent_options.items())
                or "none"
            )
            for platform in PROVIDERS
        ]
        self.fields["options"].help_text = "A JSON object. Options by platform: " + " | ".join(lines)

    def clean(self):
        cleaned = super().clean()
        credential, options = cleaned.get("credential"), cleaned.get("options")
        if credential is not None and isinstance(options, dict):
            for problem in provider_class(credential.platform).agent_option_problems(options):
                self.add_error("options", problem)
        elif options is not None and not isinstance(options, dict):
            self.add_error("options", "Options must be a JSON object.")
        return cleaned


def unique_agent_slug(name: str) -> str:
    base = slugify(name)[:90] or "agent"
    slug, n = base, 2
    while Agent.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


class TestConnectionMixin:
    """The "Test connection" action, for models whose `provider()` gives their adapter."""

    @admin.action(description="Test connection")
    def test_connection(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            try:
                result = async_to_sync(obj.provider().check_connection)()
            except UpstreamError as exc:
                self.message_user(request, f"{obj.name}: {exc.message}", messages.ERROR)
            except ValueError as exc:  # the stored key cannot be decrypted
                self.message_user(request, f"{obj.name}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{obj.name}: {result}", messages.SUCCESS)


@admin.register(Credential)
class CredentialAdmin(TestConnectionMixin, admin.ModelAdmin):
    form = CredentialForm
    list_display = ["name", "platform", "base_url", "masked_key", "agent_count", "updated_at"]
    list_filter = ["platform"]
    search_fields = ["name", "base_url"]
    readonly_fields = ["masked_key", "created_at", "updated_at"]
    actions = ["test_connection", "import_agents"]

    def get_urls(self):
        return [
            path(
                "<path:object_id>/import-agents/",
                self.admin_site.admin_view(self.import_agents_view),
                name="agents_credential_import",
            ),
            *super().get_urls(),
        ]

    @admin.action(description="Import agents from the platform")
    def import_agents(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Choose one credential to import agents from.", messages.WARNING)
            return None
        return redirect("admin:agents_credential_import", queryset.get().pk)

    def import_agents_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        credential = self.get_object(request, object_id)
        if credential is None:
            raise Http404("No such credential.")
        if not (self.has_view_permission(request, credential) and request.user.has_perm("agents.add_agent")):
            raise PermissionDenied
        try:
            upstream_agents = async_to_sync(credential.provider().list_agents)()
        except (UpstreamError, ValueError) as exc:
            self.message_user(request, f"{credential.name}: {exc}", messages.ERROR)
            return redirect("admin:agents_credential_changelist")
        existing = set(credential.agents.values_list("upstream_agent_id", flat=True))
        if request.method == "POST":
            chosen = set(request.POST.getlist("agent_id")) - existing
            created = [
                Agent.objects.create(
                    name=found.name[:100],
                    slug=unique_agent_slug(found.name),
                    description=found.description,
                    credential=credential,
                    upstream_agent_id=found.id,
                )
                for found in upstream_agents
                if found.id in chosen
            ]
            names = ", ".join(agent.name for agent in created) or "nothing"
            self.message_user(request, f"Imported {names}.", messages.SUCCESS)
            return redirect("admin:agents_agent_changelist")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Import agents from {credential.name}",
            "credential": credential,
            "upstream_agents": upstream_agents,
            "existing": existing,
        }
        return render(request, "admin/agents/import_agents.html", context)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(agent_total=Count("agents"))

    @admin.display(description="API key")
    def masked_key(self, credential: Credential) -> str:
        return credential.masked_key

    @admin.display(description="Agents", ordering="agent_total")
    def agent_count(self, credential: Credential) -> int:
        return credential.agent_total


@admin.register(Agent)
class AgentAdmin(TestConnectionMixin, admin.ModelAdmin):
    form = AgentForm
    list_display = [
        "name",
        "slug",
        "platform_name",
        "credential",
        "upstream_agent_id",
        "enabled",
        "group_names",
        "updated_at",
    ]
    list_filter = ["enabled", "credential__platform", "credential", "groups"]
    list_editable = ["enabled"]
    list_select_related = ["credential"]
    search_fields = ["name", "slug", "description", "upstream_agent_id"]
    prepopulated_fields = {"slug": ["name"]}
    filter_horizontal = ["groups"]
    actions = ["test_connection"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="Groups")
    def group_names(self, agent: Agent) -> str:
        return ", ".join(group.name for group in agent.groups.all()) or "Everyone"

    @admin.display(description="Platform", ordering="credential__platform")
    def platform_name(self, agent: Agent) -> str:
        return provider_class(agent.platform).label
