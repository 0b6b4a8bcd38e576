"""Platform adapters, looked up in the platform registry (agents.platforms) by a credential's platform."""

from django.utils.translation import gettext as _

from agents.platforms import adapter_class
from agents.providers.base import AgentSpec, Connection, Provider, Turn, UpstreamError, UserRef


def provider_class(platform: str) -> type[Provider]:
    try:
        return adapter_class(platform)
    except KeyError:
        raise UpstreamError(
            _("No adapter is installed for the platform “%(platform)s”.") % {"platform": platform}
        ) from None


__all__ = [
    "AgentSpec",
    "Connection",
    "Provider",
    "Turn",
    "UpstreamError",
    "UserRef",
    "provider_class",
]
