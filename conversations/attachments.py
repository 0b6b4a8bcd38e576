"""Stored attachments: how they are served back."""

from django.http import FileResponse

from conversations.models import Attachment

# Image types the chat shows inline. Anything else (SVG included: it can carry script) downloads.
DISPLAYED_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def file_response(attachment: Attachment) -> FileResponse:
    """The file itself. Callers check first that the viewer may see the conversation."""
    inline = attachment.content_type in DISPLAYED_IMAGE_TYPES
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=not inline,
        filename=attachment.name,
        content_type=attachment.content_type if inline else "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response
