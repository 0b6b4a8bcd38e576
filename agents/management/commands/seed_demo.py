import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from agents.models import Agent, Credential
from agents.platforms import ENTRIES

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
        for platform in ENTRIES:
            demo, fake = platform.demo, f"{site}/fake/{platform.id}"
            credential, _ = Credential.objects.get_or_create(
                name=f"{platform.label} demo (simulated)",
                defaults={"platform": platform.id, "base_url": fake},
            )
            credential.platform = platform.id
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
