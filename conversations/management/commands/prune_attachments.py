from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from conversations.models import Attachment


class Command(BaseCommand):
    help = "Delete files uploaded for a message that was never sent, with their stored bytes."

    def add_arguments(self, parser):
        parser.add_argument(
            "--hours", type=float, default=24.0, help="Keep files younger than this (default 24)."
        )

    def handle(self, *args, hours: float, **options):
        stale = Attachment.objects.filter(
            message__isnull=True, created_at__lt=timezone.now() - timedelta(hours=hours)
        )
        with transaction.atomic():
            count = len(stale)
            for attachment in stale:
                attachment.delete()  # the stored file goes once the transaction commits
        self.stdout.write(f"Deleted {count} unsent file(s) older than {hours:g} hours.")
