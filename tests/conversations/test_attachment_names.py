"""A text file is stored and served under a name whose extension says it is text, whatever it was called."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from conversations.models import Attachment

pytestmark = pytest.mark.django_db

TEXT = b"Plain words, nothing to run.\n"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("setup.exe", "setup.exe.txt"),
        ("run.bat", "run.bat.txt"),
        ("payload.js", "payload.js.txt"),
        ("notes", "notes.txt"),
        ("notes.txt", "notes.txt"),
        ("server.log", "server.log"),
        ("README.md", "README.md"),
    ],
)
def test_a_text_file_gets_the_extension_of_its_content(alice, conversation, given, stored):
    client = Client()
    client.force_login(alice)
    response = client.post(
        reverse("upload_attachment", args=[conversation.id]), {"file": SimpleUploadedFile(given, TEXT)}
    )

    assert response.status_code == 201, response.content
    shown = response.json()
    assert shown["name"] == stored
    assert Attachment.objects.get().name == stored
    download = client.get(shown["url"])
    assert download["Content-Disposition"] == f'attachment; filename="{stored}"'
