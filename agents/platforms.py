"""The platforms the site can talk to: one entry each, the only place a platform is registered.

An entry names the platform's id (stored on credentials), the label people
see, its adapter (agents.providers), its fake (agents.fakes, for the demo and
the tests) and the demo agent `seed_demo` makes for it. Adding a platform is
those modules plus one entry here (docs/adding-a-platform.md); the database
needs no migration, as the credential's field takes its choices from here.
"""

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.module_loading import import_string

TRY = "Try [[fail:500]] in a message to see an error, [[words=300]] for a long reply."


@dataclass(frozen=True)
class DemoAgent:
    """The simulated agent the demo offers on a platform; `{fake}` in an option is the fake's URL."""

    slug: str
    name: str
    upstream_id: str
    description: str
    credential_options: dict[str, str] = field(default_factory=dict)
    agent_options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PlatformEntry:
    id: str
    label: str
    # Dotted paths, imported when first used: the adapter and the fake import much of the site.
    adapter: str
    fake: str
    demo: DemoAgent


ENTRIES = [
    PlatformEntry(
        id="sketricgen",
        label="SketricGen",
        adapter="agents.providers.sketricgen.SketricGenProvider",
        fake="agents.fakes.sketricgen.SketricGenFake",
        demo=DemoAgent(
            slug="sketricgen-demo",
            name="SketricGen demo",
            upstream_id="agent-demo",
            description="A simulated SketricGen agent. Add [[tool]] to a message to see a tool call, "
            f"[[hitl]] to be asked to approve its actions, [[credits]] to run out of credits. {TRY}",
            credential_options={
                "admin_base_url": "{fake}/admin/v1",
                "upload_init_url": "{fake}/publicAssetsUploadInit",
                "upload_complete_url": "{fake}/publicAssetsUploadComplete",
            },
            agent_options={"enable_hitl": True},
        ),
    ),
    PlatformEntry(
        id="workflow_chat",
        label="Workflow chat",
        adapter="agents.providers.workflow_chat.WorkflowChatProvider",
        fake="agents.fakes.workflow_chat.WorkflowChatFake",
        demo=DemoAgent(
            slug="workflow-demo",
            name="Workflow chat demo",
            upstream_id="caddie",
            description="A simulated B3OS workflow agent. Add [[workflow]] to get a workflow back, "
            "[[ask]] to be asked a question, [[plan]] to see a plan, "
            f"[[tool]] for a tool call, [[fail:drop@5]] to watch a dropped stream resume. {TRY}",
        ),
    ),
    PlatformEntry(
        id="slug_chat",
        label="Agent Chat API",
        adapter="agents.providers.slug_chat.SlugChatProvider",
        fake="agents.fakes.slug_chat.SlugChatFake",
        demo=DemoAgent(
            slug="slug-chat-demo",
            name="Agent Chat API demo",
            upstream_id="support-agent",
            description=f"A simulated agent on the slug-based Agent Chat API. {TRY}",
        ),
    ),
    PlatformEntry(
        id="agentweave",
        label="AgentWeave",
        adapter="agents.providers.agentweave.AgentWeaveProvider",
        fake="agents.fakes.agentweave.AgentWeaveFake",
        demo=DemoAgent(
            slug="agentweave-demo",
            name="AgentWeave demo",
            upstream_id="agent-demo",
            description="A simulated AgentWeave agent. Add [[completed-differs]] to see the final text "
            f"replace what streamed. {TRY}",
            credential_options={"upload_url": "{fake}/upload_file"},
        ),
    ),
    PlatformEntry(
        id="openai_compatible",
        label="OpenAI-compatible chat",
        adapter="agents.providers.openai_compatible.OpenAICompatibleProvider",
        fake="agents.fakes.openai_compatible.OpenAICompatibleFake",
        demo=DemoAgent(
            slug="openai-compatible-demo",
            name="OpenAI-compatible demo",
            upstream_id="fake-vision",
            description="A simulated model behind an OpenAI-compatible API: it is sent the whole "
            f"conversation each turn and says how much of it came along, and it reads images. {TRY}",
            agent_options={"images": True},
        ),
    ),
    PlatformEntry(
        id="ag_ui",
        label="AG-UI agent",
        adapter="agents.providers.ag_ui.AGUIProvider",
        fake="agents.fakes.ag_ui.AGUIFake",
        demo=DemoAgent(
            slug="ag-ui-demo",
            name="AG-UI demo",
            upstream_id="agent",
            description="A simulated agent speaking AG-UI, sent the whole conversation each turn. "
            "Add [[tool]] to a message for a tool call, [[approve]] to be asked to approve an action, "
            f"[[think]] to see its reasoning, [[step]] for steps. {TRY}",
        ),
    ),
    PlatformEntry(
        id="a2a",
        label="A2A agent",
        adapter="agents.providers.a2a.A2AProvider",
        fake="agents.fakes.a2a.A2AFake",
        demo=DemoAgent(
            slug="a2a-demo",
            name="A2A demo",
            upstream_id="agent",
            description="A scripted agent on the official A2A SDK's server. Add [[ask]] to be asked a "
            "question, [[file]] to get a file back, [[fail]] to see its task fail, [[words=300]] for a "
            "long reply.",
        ),
    ),
]

PLATFORMS: dict[str, PlatformEntry] = {entry.id: entry for entry in ENTRIES}


def platform_choices() -> list[tuple[str, str]]:
    """(id, label) of every platform, for the credential's field and forms."""
    return [(entry.id, entry.label) for entry in ENTRIES]


def platform_label(platform: str) -> str:
    """The name people see for `platform`, in the admin and in the adapter's messages."""
    return PLATFORMS[platform].label


def validate_platform(value: str) -> None:
    if value not in PLATFORMS:
        raise ValidationError("“%(value)s” is not a platform this site knows.", params={"value": value})


def adapter_class(platform: str) -> Any:
    """The adapter (a `Provider` subclass) of `platform`; KeyError for a platform not registered."""
    return import_string(PLATFORMS[platform].adapter)


def make_fakes() -> dict[str, Any]:
    """A new instance of every platform's fake (an ASGI app), by platform id."""
    return {entry.id: import_string(entry.fake)() for entry in ENTRIES}
