"""Existing snapshot links recorded an extent (`last_message_id`); they now show a frozen copy of it."""

from django.db import migrations


def freeze_extents(apps, schema_editor) -> None:
    ShareLink = apps.get_model("conversations", "ShareLink")
    Message = apps.get_model("conversations", "Message")
    SharedMessage = apps.get_model("conversations", "SharedMessage")
    files = SharedMessage.attachments.through
    for link in ShareLink.objects.filter(live=False, last_message_id__isnull=False).iterator():
        shown = list(
            Message.objects.filter(conversation_id=link.conversation_id, pk__lte=link.last_message_id)
            .order_by("created_at", "id")
            .prefetch_related("attachments")
        )
        frozen = SharedMessage.objects.bulk_create(
            SharedMessage(
                link_id=link.pk,
                position=position,
                role=message.role,
                content=message.content,
                status=message.status,
                error=message.error,
                tool_calls=message.tool_calls,
                approval=message.approval,
                created_at=message.created_at,
            )
            for position, message in enumerate(shown)
        )
        files.objects.bulk_create(
            files(sharedmessage_id=copy.pk, attachment_id=attachment.pk)
            for copy, message in zip(frozen, shown, strict=True)
            for attachment in message.attachments.all()
        )


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0005_rendered_html_and_frozen_share_copies"),
    ]

    operations = [
        migrations.RunPython(freeze_extents, migrations.RunPython.noop),
    ]
