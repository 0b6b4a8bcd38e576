import secrets
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from agents.models import Agent, Credential, Platform

DEMO_USERNAME = "demo"


@dataclass(frozen=True)
class DemoAgent:
    platform: Platform
    slug: str
    name: str
    upstream_id: str
    description: str
    credential_options: dict[str, str] = field(default_factory=dict)
    agent_options: dict = field(default_factory=dict)


TRY = "Try [[fail:500]] in a message to see an error, [[words=300]] for a long reply."
DEMO_AGENTS = [
    DemoAgent(
        Platform.SKETRICGEN,
        "sketricgen-demo",
        "SketricGen demo",
        "agent-demo",
        "A simulated SketricGen agent. Add [[tool]] to a message to see a tool call, "
        f"[[hitl]] to be asked to approve its actions, [[credits]] to run out of credits. {TRY}",
        {
            "admin_base_url": "{fake}/admin/v1",
            "upload_init_url": "{fake}/publicAssetsUploadInit",
            "upload_complete_url": "{fake}/publicAssetsUploadComplete",
        },
        {"enable_hitl": True},
    ),
    DemoAgent(
        Platform.WORKFLOW_CHAT,
        "workflow-demo",
        "Workflow chat demo",
        "caddie",
        "A simulated B3OS workflow agent. Add [[workflow]] to get a workflow back, "
        "[[ask]] to be asked a question, [[plan]] to see a plan, "
        f"[[tool]] for a tool call, [[fail:drop@5]] to watch a dropped stream resume. {TRY}",
    ),
    DemoAgent(
        Platform.SLUG_CHAT,
        "slug-chat-demo",
        "Agent Chat API demo",
        "support-agent",
        f"A simulated agent on the slug-based Agent Chat API. {TRY}",
    ),
    DemoAgent(
        Platform.AGENTWEAVE,
        "agentweave-demo",
        "AgentWeave demo",
        "agent-demo",
        "A simulated AgentWeave agent. Add [[completed-differs]] to see the final text "
        f"replace what streamed. {TRY}",
        {"upload_url": "{fake}/upload_file"},
    ),
]


class Command(BaseCommand):
    help = (
        "Create the demo login (with a new password, printed) and one demo agent per platform, "
        "each talking to its fake platform served by this site under /fake/."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", default="8000", help="Port the site is served on.")
        parser.add_argument("--password", help="Password for the demo login (default: a new random one).")

    def handle(self, *args, port: str, password: str | None, **options):
        site = f"http://127.0.0.1:{port}"
        for demo in DEMO_AGENTS:
            fake = f"{site}/fake/{demo.platform.value}"
            credential, _ = Credential.objects.get_or_create(
                name=f"{demo.platform.label} demo (simulated)",
                defaults={"platform": demo.platform, "base_url": fake},
            )
            credential.platform = demo.platform
            credential.base_url = fake
            credential.options = {
                key: value.format(fake=fake) for key, value in demo.credential_options.items()
            }
            credential.set_api_key("demo-key")
            credential.save()
            Agent.objects.update_or_create(
                slug=demo.slug,
                defaults={
                    "name": demo.name,
                    "description": demo.description,
                    "credential": credential,
                    "upstream_agent_id": demo.upstream_id,
                    "options": demo.agent_options,
                    "enabled": True,
                },
            )

        password = password or secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=DEMO_USERNAME)
        user.is_staff = True
        user.is_superuser = True
        user.set_password(password)
        user.save()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo login: username {DEMO_USERNAME!r}, password {password!r} "
                f"(also the admin at {site}/admin/)"
            )
        )
