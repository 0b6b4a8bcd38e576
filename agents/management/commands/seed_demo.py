import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from agents.models import Agent, Credential, Platform

DEMO_USERNAME = "demo"


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
        fake = f"{site}/fake/sketricgen"
        credential, _ = Credential.objects.get_or_create(
            name="SketricGen demo (simulated)",
            defaults={"platform": Platform.SKETRICGEN, "base_url": fake},
        )
        credential.platform = Platform.SKETRICGEN
        credential.base_url = fake
        credential.options = {"admin_base_url": f"{fake}/admin/v1"}
        credential.set_api_key("demo-key")
        credential.save()
        Agent.objects.update_or_create(
            slug="sketricgen-demo",
            defaults={
                "name": "SketricGen demo",
                "description": (
                    "A simulated SketricGen agent served by this site, for trying chatsite out. "
                    "Add [[tool]] to a message to see a tool call, [[fail:500]] to see an error."
                ),
                "credential": credential,
                "upstream_agent_id": "agent-demo",
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
