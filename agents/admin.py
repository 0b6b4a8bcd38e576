from asgiref.sync import async_to_sync
from django import forms
from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from agents.models import Agent, Credential
from agents.providers import UpstreamError, provider_class


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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.api_key_last4:
            self.fields["api_key"].help_text = (
                f"Current key ends in {self.instance.masked_key}. " + self.fields["api_key"].help_text
            )
        if not self.instance.pk:
            self.fields["api_key"].required = True

    def clean(self):
        cleaned = super().clean()
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

