"""Platform adapters, looked up by the platform name stored on a credential.

Adding a platform is one module in this package plus one line here.
"""

from django.utils.module_loading import import_string

from agents.providers.base import AgentSpec, Connection, Provider, Turn, UpstreamError, UserRef

PROVIDERS: dict[str, str] = {
    "sketricgen": "agents.providers.sketricgen.SketricGenProvider",
    "workflow_chat": "agents.providers.workflow_chat.WorkflowChatProvider",
    "slug_chat": "agents.providers.slug_chat.SlugChatProvider",
    "agentweave": "agents.providers.agentweave.AgentWeaveProvider",
}


def provider_class(platform: str) -> type[Provider]:
    try:
        return import_string(PROVIDERS[platform])
    except KeyError:
        raise UpstreamError(f"No adapter is installed for the platform “{platform}”.") from None


__all__ = [
    "PROVIDERS",
    "AgentSpec",
    "Connection",
    "Provider",
    "Turn",
    "UpstreamError",
    "UserRef",
    "provider_class",
]
