"""The admin forms for credentials and agents.

Each platform declares the settings it reads (`Provider.credential_options`,
`Provider.agent_options`); a form gets one field per setting of its platform
and stores exactly those in the model's `options`.
"""

import re
from functools import cache
from typing import Any

from django import forms
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_variables

from agents.models import Agent, Credential
from agents.platforms import PLATFORMS
from agents.providers import provider_class
from agents.providers.addresses import url_problem
from agents.providers.base import Option

PREFIX = "option_"


def option_label(name: str) -> str:
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).replace("_", " ")
    return words[:1].upper() + words[1:].lower()


def option_field(option: Option, label: str) -> forms.Field:
    common = {"required": False, "label": label, "help_text": option.help}
    if option.kind == "flag":
        return forms.BooleanField(initial=bool(option.default), **common)
    if option.kind == "choice":
        choices = [("", gettext_lazy("(platform default)")), *option.choices.items()]
        return forms.ChoiceField(choices=choices, **common)
    if option.kind == "json":
        return forms.JSONField(**common)
    if option.kind == "url":
        return forms.URLField(assume_scheme="https", **common)
    return forms.CharField(max_length=255, **common)


def declared_options(platform: str | None, attribute: str) -> dict[str, Option]:
    if platform not in PLATFORMS:
        return {}
    return getattr(provider_class(platform), attribute)


class PlatformOptionsForm(forms.ModelForm):
    """A model form whose `options` are edited as one field per setting of the platform.

    `options_platform` (hidden) says which platform's fields the user saw. When
    the platform changed since, those fields are not in the submitted data; the
    platform's defaults are stored instead and `options_reset` says so.
    """

    options_attribute: str
    platform: str | None = None
    options_platform = forms.CharField(
        label=gettext_lazy("Platform of these settings"), widget=forms.HiddenInput, required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial["options_platform"] = self.platform or ""
        current = self.instance.options if isinstance(self.instance.options, dict) else {}
        for name in self.declared():
            if name in current:
                self.initial[PREFIX + name] = current[name]
        self.options_reset = False

    @classmethod
    def declared(cls) -> dict[str, Option]:
        return declared_options(cls.platform, cls.options_attribute)

    @classmethod
    def option_field_names(cls) -> list[str]:
        return [PREFIX + name for name in cls.declared()]

    def chosen_options(self) -> dict[str, Any]:
        """The options as the user set them, without empty ones (the platform's default applies)."""
        if self.cleaned_data.get("options_platform") != (self.platform or ""):
            self.options_reset = bool(self.declared())
            return {}
        chosen = {}
        for name, option in self.declared().items():
            value = self.cleaned_data.get(PREFIX + name)
            if option.kind == "flag":
                if value != bool(option.default):
                    chosen[name] = bool(value)
            elif value not in (None, "", {}, []):
                chosen[name] = value
        return chosen

    def add_option_problems(self, problems: list[str]) -> None:
        """Each problem goes next to the first setting it names (or above the form)."""
        for problem in problems:
            named = [(problem.find(name), name) for name in self.declared() if name in problem]
            self.add_error(PREFIX + min(named)[1] if named else None, problem)

    def save(self, commit: bool = True):
        self.instance.options = self.cleaned_options
        return super().save(commit)


def with_platform(form_class: type[PlatformOptionsForm], platform: str | None) -> type[PlatformOptionsForm]:
    """`form_class` with a field for each setting of `platform`."""
    fields = {
        PREFIX + name: option_field(option, option.label or option_label(name))
        for name, option in declared_options(platform, form_class.options_attribute).items()
    }
    name = f"{platform or 'Unknown'}{form_class.__name__}"
    return type(name, (form_class,), {"platform": platform, **fields})


class CredentialForm(PlatformOptionsForm):
    options_attribute = "credential_options"
    api_key = forms.CharField(
        label=gettext_lazy("API key"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=gettext_lazy("Stored encrypted and never shown again."),
    )
    # Shown (CredentialAdmin) only for a stored key of a platform that may need none.
    remove_api_key = forms.BooleanField(
        label=gettext_lazy("Send no key"),
        required=False,
        help_text=gettext_lazy("Remove the stored key: the agent server needs no authentication."),
    )

    class Meta:
        model = Credential
        fields = ["name", "platform", "base_url", "api_key"]
        help_texts = {"base_url": gettext_lazy("Leave empty for the platform's usual address.")}
        labels = {"base_url": gettext_lazy("Base URL")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A viewer's form has no fields at all: everything is shown read-only.
        if "api_key" in self.fields:
            if self.instance.pk and self.instance.api_key_last4:
                self.fields["api_key"].help_text = (
                    _("Current key ends in %(last4)s.") % {"last4": self.instance.masked_key}
                    + " "
                    + str(self.fields["api_key"].help_text)
                    + " "
                    + _("Leave empty to keep the current key.")
                )
            if not self.needs_key:
                self.fields["api_key"].help_text = (
                    str(self.fields["api_key"].help_text)
                    + " "
                    + _("Leave empty when the agent server needs no key.")
                )
            elif not self.instance.pk:
                self.fields["api_key"].required = True
        if "base_url" in self.fields:
            self.fields["base_url"].required = False

    @method_decorator(sensitive_variables("cleaned"))
    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("base_url") and cleaned.get("platform"):
            default = provider_class(cleaned["platform"]).default_base_url
            if default:
                cleaned["base_url"] = self.instance.base_url = default
            else:
                self.add_error("base_url", _("This platform has no usual address: enter its base URL."))
        self.cleaned_options = self.chosen_options()
        for field, url in self.key_addresses(cleaned).items():
            problem = url_problem(url) if url else None
            if problem and field not in self.errors:
                self.add_error(field, problem)
        removing = bool(cleaned.get("remove_api_key")) or "platform" in self.changed_data
        cleaned["remove_api_key"] = False
        if not cleaned.get("api_key"):
            self.check_key_without_a_new_one(cleaned, removing)
        return cleaned

    def check_key_without_a_new_one(self, cleaned: dict[str, Any], removing: bool) -> None:
        """No key was entered: keep the stored one where it may go, remove it, or say a key is needed."""
        if self.instance.pk and self.instance.api_key_encrypted:
            if not self.needs_key and removing:
                # The old key is never sent to a new platform; none is sent at all.
                cleaned["remove_api_key"] = True
            elif "platform" in self.changed_data:
                self.add_error("api_key", _("The platform changed: enter the API key for the new platform."))
            else:
                self.require_key_for_changed_addresses(cleaned)
        elif self.instance.pk and self.needs_key:
            self.add_error("api_key", _("This platform needs an API key: enter it."))

    @property
    def needs_key(self) -> bool:
        """Whether the credential's platform needs a key (an unknown platform is taken to)."""
        return self.platform not in PLATFORMS or provider_class(self.platform).needs_key

    @classmethod
    def url_option_names(cls) -> list[str]:
        """Every URL setting of the platform: the key is sent to each of them."""
        return [name for name, option in cls.declared().items() if option.kind == "url"]

    def key_addresses(self, cleaned: dict[str, Any]) -> dict[str, str]:
        """The addresses the key will be sent to, by form field."""
        addresses = {"base_url": cleaned.get("base_url") or ""}
        for name in self.url_option_names():
            addresses[PREFIX + name] = self.cleaned_options.get(name) or ""
        return addresses

    def require_key_for_changed_addresses(self, cleaned: dict[str, Any]) -> None:
        stored = self.instance.options if isinstance(self.instance.options, dict) else {}
        changed = []
        if "base_url" in self.changed_data:
            changed.append("base_url")
        for name in self.url_option_names():
            if (self.cleaned_options.get(name) or "") != (stored.get(name) or ""):
                changed.append(PREFIX + name)
        for field in changed:
            if field not in self.errors:
                self.add_error(
                    field,
                    _("The key is sent to this address: enter the API key again to change it."),
                )
        if changed:
            labels = ", ".join(str(self.fields[field].label or field) for field in changed)
            self.add_error(
                "api_key",
                _(
                    "Changed: %(fields)s. Enter the API key again, so that a key is only ever sent "
                    "to the hosts it was entered for."
                )
                % {"fields": labels},
            )

    @method_decorator(sensitive_variables())
    def save(self, commit=True):
        if self.cleaned_data.get("api_key"):
            self.instance.set_api_key(self.cleaned_data["api_key"])
        elif self.cleaned_data.get("remove_api_key"):
            self.instance.remove_api_key()
        return super().save(commit)


class AgentForm(PlatformOptionsForm):
    options_attribute = "agent_options"

    class Meta:
        model = Agent
        fields = ["name", "slug", "description", "credential", "upstream_agent_id", "groups", "enabled"]

    def clean(self):
        cleaned = super().clean()
        self.cleaned_options = self.chosen_options()
        if self.platform:
            self.add_option_problems(
                provider_class(self.platform).agent_option_problems(self.cleaned_options)
            )
        return cleaned


@cache
def credential_form_for(platform: str | None) -> type[PlatformOptionsForm]:
    return with_platform(CredentialForm, platform)


@cache
def agent_form_for(platform: str | None) -> type[PlatformOptionsForm]:
    return with_platform(AgentForm, platform)
