"""Attachments: checking an uploaded file, storing it, linking it to a message, serving it back."""

import codecs
import hashlib
import logging
import mimetypes
import posixpath
from collections.abc import Callable, Iterable
from typing import Any

import puremagic
from django import forms
from django.core.files import File
from django.core.files.storage import Storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.http import FileResponse
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from agents.providers import Provider
from agents.providers.base import TurnFile
from conversations.models import Attachment, Conversation, Message, attachment_path

logger = logging.getLogger(__name__)

# Image types the chat shows inline. Anything else (SVG included: it can carry script) downloads.
DISPLAYED_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
IMAGE_TYPES = DISPLAYED_IMAGE_TYPES
DOCUMENT_TYPES = frozenset({"application/pdf"})
TEXT_TYPES = frozenset({"text/plain", "text/csv", "text/markdown", "application/json"})

MAX_NAME_CHARS = 200
SNIFF_BYTES = 8192
# A multipart body carries the file plus its headers and the other fields.
MULTIPART_OVERHEAD_BYTES = 64 * 1024

# What each type is called in messages, and the extension it gets when the name has none.
TYPE_NAMES = {
    "image/png": (gettext_lazy("a PNG image"), ".png"),
    "image/jpeg": (gettext_lazy("a JPEG image"), ".jpg"),
    "image/gif": (gettext_lazy("a GIF image"), ".gif"),
    "image/webp": (gettext_lazy("a WebP image"), ".webp"),
    "application/pdf": (gettext_lazy("a PDF document"), ".pdf"),
    "text/plain": (gettext_lazy("a text file"), ".txt"),
    "text/csv": (gettext_lazy("a CSV file"), ".csv"),
    "text/markdown": (gettext_lazy("a Markdown file"), ".md"),
    "application/json": (gettext_lazy("a JSON file"), ".json"),
    "text/html": (gettext_lazy("an HTML page"), ".html"),
    "image/svg+xml": (gettext_lazy("an SVG image"), ".svg"),
    "application/xml": (gettext_lazy("an XML document"), ".xml"),
}
# Names the mimetypes module does not know on every system.
EXTENSION_TYPES = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".csv": "text/csv",
    ".json": "application/json",
    ".webp": "image/webp",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".txt": "text/plain",
    ".log": "text/plain",
}
# The start of markup that a browser would run as a page: never taken as plain text.
MARKUP_STARTS = (
    (b"<!doctype html", "text/html"),
    (b"<html", "text/html"),
    (b"<head", "text/html"),
    (b"<body", "text/html"),
    (b"<script", "text/html"),
    (b"<svg", "image/svg+xml"),
    (b"<?xml", "application/xml"),
)


def describe_type(content_type: str) -> str:
    if content_type in TYPE_NAMES:
        return str(TYPE_NAMES[content_type][0])
    return _("a file of type %(type)s") % {"type": content_type}


def type_of_name(name: str) -> str | None:
    extension = posixpath.splitext(name)[1].lower()
    if not extension:
        return None
    return EXTENSION_TYPES.get(extension) or mimetypes.guess_type("x" + extension)[0]


def sniff_type(head: bytes, name: str) -> str | None:
    """The file's type decided from its first bytes; None when it cannot be told.

    Binary formats by their signature (puremagic). Text has no signature: text
    that is markup is that markup type; other UTF-8 text is plain text, or the
    text format its name says (CSV, Markdown, JSON).
    """
    try:
        matches = [match.mime_type for match in puremagic.magic_string(head) if match.mime_type]
    except puremagic.PureError:
        matches = []
    for content_type in matches:
        if content_type in IMAGE_TYPES | DOCUMENT_TYPES:
            return content_type
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    for prefix, content_type in MARKUP_STARTS:
        if start.startswith(prefix):
            return content_type
    if is_text(head):
        named = type_of_name(name)
        return named if named in TEXT_TYPES else "text/plain"
    # Not UTF-8 text: a text type puremagic guessed (UTF-16, say) is not one of ours either.
    return next((m for m in matches if not m.startswith("text/") and m not in TEXT_TYPES), None)


def is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def name_problem(name: str) -> str | None:
    if "\x00" in name or any(not ch.isprintable() for ch in name):
        return _(
            "The file name contains control characters (such as NUL). Rename the file and attach it again."
        )
    if "/" in name or "\\" in name:
        return _(
            "The file name “%(name)s” contains a folder path (/ or \\); only a plain name is allowed."
        ) % {"name": name[:80]}
    if not name.strip(" ."):
        return _("The file needs a name.")
    return None


def clean_file_name(name: str, content_type: str) -> str:
    """A name that is safe to show and to send upstream, ending in an extension that fits the content.

    A name whose extension says another type keeps it and gets the content's
    own after it ("setup.exe" holding text becomes "setup.exe.txt"): the owner
    still recognises the file, and whoever downloads it opens text, not a program.
    """
    name = " ".join(name.split())
    stem, extension = posixpath.splitext(name)
    if not extension or type_of_name(name) != content_type:
        stem, extension = name, TYPE_NAMES.get(content_type, ("", ""))[1]
    extension = extension[:16]
    stem = stem[: MAX_NAME_CHARS - len(extension)].rstrip() or "file"
    return stem + extension


class FileNameField(forms.Field):
    """The name the browser gives the file; checked here because Django's parser strips paths silently."""

    def to_python(self, value: Any) -> str:
        return value if isinstance(value, str) else ""


class AttachmentForm(forms.Form):
    """One file for a message to an agent on `provider`'s platform."""

    file = forms.FileField(
        allow_empty_file=False,
        error_messages={
            "required": gettext_lazy("Choose a file to attach."),
            "empty": gettext_lazy("This file is empty."),
            "invalid": gettext_lazy("No file was received. Try attaching it again."),
        },
    )
    name = FileNameField(required=False)

    def __init__(self, *args: Any, provider: type[Provider], pending_count: int, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.provider = provider
        self.pending_count = pending_count
        self.content_type = ""
        self.sha256 = ""

    def clean_name(self) -> str:
        name = self.cleaned_data.get("name") or ""
        problem = name_problem(name) if name else None
        if problem:
            raise forms.ValidationError(problem, code="bad_name")
        return name

    def clean_file(self) -> UploadedFile:
        upload: UploadedFile = self.cleaned_data["file"]
        provider = self.provider
        if not provider.accepted_file_types:
            raise forms.ValidationError(
                _("%(platform)s agents take no files.") % {"platform": provider.label}, code="no_files"
            )
        if self.pending_count >= provider.max_files:
            raise forms.ValidationError(
                ngettext(
                    "At most %(count)d file goes with one message to %(platform)s.",
                    "At most %(count)d files go with one message to %(platform)s.",
                    provider.max_files,
                )
                % {"count": provider.max_files, "platform": provider.label},
                code="too_many",
            )
        if upload.size > provider.max_file_bytes:
            raise forms.ValidationError(
                _("This file is %(size)s MB; the limit is %(limit)d MB.")
                % {
                    "size": number_format(upload.size / 1024 / 1024, 1),
                    "limit": provider.max_file_bytes // (1024 * 1024),
                },
                code="too_big",
            )
        upload.seek(0)
        head = upload.read(SNIFF_BYTES)
        upload.seek(0)
        # The name shown is the `name` field when given (checked in clean_name), else the upload's.
        given = self.data.get("name")
        shown_name = given if isinstance(given, str) and given else upload.name or ""
        content_type = sniff_type(head, shown_name)
        if content_type is None:
            raise forms.ValidationError(
                _("The kind of this file could not be recognised from its content."), code="unknown_type"
            )
        named = type_of_name(shown_name)
        if named in TYPE_NAMES and named != content_type:
            raise forms.ValidationError(
                _("This file is named as %(named)s but its content is %(content)s.")
                % {"named": describe_type(named), "content": describe_type(content_type)},
                code="mismatch",
            )
        if content_type not in provider.accepted_file_types:
            accepted = _("images") if provider.takes_only_images() else _("images, PDFs and text files")
            raise forms.ValidationError(
                _("%(platform)s does not take %(type)s; it takes %(accepted)s.")
                % {"platform": provider.label, "type": describe_type(content_type), "accepted": accepted},
                code="type_refused",
            )
        self.content_type = content_type
        digest = hashlib.sha256()
        for chunk in upload.chunks():
            digest.update(chunk)
        upload.seek(0)
        self.sha256 = digest.hexdigest()
        return upload

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        upload = cleaned.get("file")
        if upload is not None and "name" not in self.errors:
            cleaned["name"] = clean_file_name(cleaned.get("name") or upload.name or "", self.content_type)
        return cleaned

    def first_error(self) -> str:
        for errors in self.errors.values():
            return errors[0]
        return _("The file was refused.")


class StorageFailed(Exception):
    """The file could not be written; nothing of it was kept."""


def store_attachment(conversation: Conversation, form: AttachmentForm) -> Attachment:
    """Write the checked file under a generated name and save its row, both or neither."""
    upload = form.cleaned_data["file"]
    attachment = Attachment(
        conversation=conversation,
        name=form.cleaned_data["name"],
        content_type=form.content_type,
        size=upload.size,
        sha256=form.sha256,
    )
    return save_with_file(attachment, upload)


def copy_attachment(original: Attachment, message: Message) -> Attachment:
    """An independent copy of `original` on `message` of another conversation, with its own stored file."""
    copy = Attachment(
        conversation_id=message.conversation_id,
        message=message,
        name=original.name,
        content_type=original.content_type,
        size=original.size,
        sha256=original.sha256,
    )
    with original.file.open("rb") as content:
        return save_with_file(copy, File(content))


def save_with_file(attachment: Attachment, content: File) -> Attachment:
    storage: Storage = attachment.file.storage
    try:
        with transaction.atomic():
            attachment.file.save(attachment.name, content, save=False)
            attachment.save(force_insert=True)
    except Exception as exc:
        # A write that failed midway may have left part of the file under the planned name.
        for name in {attachment.file.name, attachment_path(attachment, attachment.name)} - {None, ""}:
            delete_stored_file(storage, name)
        logger.exception("Storing attachment %s failed", attachment.pk)
        raise StorageFailed(_("The file could not be stored. Try again.")) from exc
    return attachment


def delete_stored_file(storage: Storage, name: str) -> None:
    try:
        storage.delete(name)
    except Exception:
        logger.exception("Could not delete stored file %s", name)


@receiver(post_delete, sender=Attachment)
def delete_file_with_row(sender: type[Attachment], instance: Attachment, **kwargs: Any) -> None:
    """A deleted attachment (alone or with its conversation) takes its stored file along, once committed.

    Versions of an edited message share stored files: a file goes with the last row that names it.
    """
    if instance.file.name:
        storage, name = instance.file.storage, instance.file.name

        def delete_unless_named() -> None:
            if not Attachment.objects.filter(file=name).exists():
                delete_stored_file(storage, name)

        transaction.on_commit(delete_unless_named)


def pending_count(conversation: Conversation) -> int:
    return conversation.attachments.filter(message__isnull=True).count()


def pending_views(conversation: Conversation) -> list[dict[str, Any]]:
    """The files uploaded for the next message and not sent yet (the composer shows them again)."""
    return [attachment_view(a) for a in conversation.attachments.filter(message__isnull=True)]


class AttachmentsRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def link_pending(conversation: Conversation, message: Message, ids: Iterable[str]) -> list[Attachment]:
    """Attach the conversation's pending files `ids` to `message`; refused unless every one is there."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    found = list(conversation.attachments.filter(pk__in=wanted, message__isnull=True))
    if len(found) != len(wanted):
        raise AttachmentsRefused(
            _(
                "Some attached files are no longer there (removed or sent already). "
                "Remove them and attach again."
            )
        )
    conversation.attachments.filter(pk__in=wanted).update(message=message)
    order = {pk: i for i, pk in enumerate(wanted)}
    found.sort(key=lambda attachment: order[attachment.pk])
    return found


def turn_file(attachment: Attachment) -> TurnFile:
    storage, name = attachment.file.storage, attachment.file.name

    def read() -> bytes:
        with storage.open(name, "rb") as opened:
            return opened.read()

    return TurnFile(
        id=attachment.pk,
        name=attachment.name,
        content_type=attachment.content_type,
        size=attachment.size,
        sha256=attachment.sha256,
        read=read,
    )


def owner_url(attachment: Attachment) -> str:
    return reverse("attachment", args=[attachment.conversation_id, attachment.pk])


AttachmentUrl = Callable[[Attachment], str]


def attachment_view(attachment: Attachment, attachment_url: AttachmentUrl = owner_url) -> dict[str, Any]:
    """What the page and the websocket show of an attachment."""
    return {
        "id": attachment.pk,
        "name": attachment.name,
        "size": attachment.size,
        "content_type": attachment.content_type,
        "is_image": attachment.content_type in DISPLAYED_IMAGE_TYPES,
        "url": attachment_url(attachment),
    }


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
