from asgiref.sync import async_to_sync
from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest

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
            cleaned["base_url"] = provider_class(cleaned["platform"]).default_base_url
            self.instance.base_url = cleaned["base_url"]
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
        fields = ["name", "slug", "description", "credential", "upstream_agent_id", "options", "enabled"]

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
    actions = ["test_connection"]

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
        "updated_at",
    ]
    list_filter = ["enabled", "credential__platform", "credential"]
    list_editable = ["enabled"]
    list_select_related = ["credential"]
    search_fields = ["name", "slug", "description", "upstream_agent_id"]
    prepopulated_fields = {"slug": ["name"]}
    actions = ["test_connection"]

    @admin.display(description="Platform", ordering="credential__platform")
    def platform_name(self, agent: Agent) -> str:
        return provider_class(agent.platform).label
