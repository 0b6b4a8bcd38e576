"""Attaching files: what the upload view accepts, refuses, stores, serves and deletes."""

import pytest
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from agents.models import Agent, Credential
from conversations.models import Attachment, Conversation, Message
from conversations.views import message_view
from tests.files import HTML, pdf_bytes, png_bytes

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def stored_files(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


def agent_on(platform: str, slug: str) -> Agent:
    credential = Credential(platform=platform, name=platform, base_url="http://127.0.0.1:9")
    credential.set_api_key("k")
    credential.save()
    return Agent.objects.create(name=slug.title(), slug=slug, credential=credential, upstream_agent_id="a")


def upload(client, conversation, file_name: str, data: bytes, **fields):
    return client.post(
        reverse("upload_attachment", args=[conversation.id]),
        {"file": SimpleUploadedFile(file_name, data), **fields},
    )


def test_an_image_is_stored_under_a_generated_name_and_shown_inline(alice_client, conversation, media_root):
    data = png_bytes()
    response = upload(alice_client, conversation, "holiday photo.png", data)

    assert response.status_code == 201, response.content
    shown = response.json()
    assert shown["name"] == "holiday photo.png"
    assert shown["content_type"] == "image/png"
    assert shown["size"] == len(data)
    assert shown["is_image"] is True
    assert stored_files(media_root) == [f"attachments/{conversation.id}/{shown['id']}"]
    attachment = Attachment.objects.get()
    assert attachment.message is None  # pending until sent

    download = alice_client.get(shown["url"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == data
    assert download["Content-Type"] == "image/png"
    assert download["X-Content-Type-Options"] == "nosniff"
    assert download["Content-Disposition"].startswith("inline")


def test_a_pdf_downloads_rather_than_opening_in_the_page(alice_client, conversation):
    shown = upload(alice_client, conversation, "report.pdf", pdf_bytes()).json()
    download = alice_client.get(shown["url"])
    assert download["Content-Type"] == "application/octet-stream"
    assert download["Content-Disposition"].startswith("attachment")
    assert 'filename="report.pdf"' in download["Content-Disposition"]


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("photo.png", pdf_bytes(), "named as a PNG image but its content is a PDF document"),
        ("report.pdf", HTML, "named as a PDF document but its content is an HTML page"),
        ("notes.pdf", b"just some words\n", "named as a PDF document but its content is a text file"),
        ("page.txt", HTML, "named as a text file but its content is an HTML page"),
        ("page.html", HTML, "SketricGen does not take an HTML page"),
        ("blob.bin", b"\x00\x01\x02\x03" * 10, "could not be recognised"),
        ("empty.png", b"", "This file is empty."),
    ],
)
def test_files_whose_content_is_not_what_is_allowed_are_refused(
    alice_client, conversation, media_root, name, data, says
):
    response = upload(alice_client, conversation, name, data)
    assert response.status_code == 400
    assert says in response.json()["error"]
    assert not Attachment.objects.exists()
    assert stored_files(media_root) == []


def test_a_file_over_20_mb_is_refused(alice_client, conversation, media_root):
    data = png_bytes() + b"\x00" * (20 * MB + 1 - len(png_bytes()))
    response = upload(alice_client, conversation, "huge.png", data)
    assert response.status_code == 400
    assert response.json()["error"] == "This file is 20.0 MB; the limit is 20 MB."
    assert stored_files(media_root) == []


def test_at_most_ten_files_wait_for_one_message(alice_client, conversation):
    for i in range(10):
        assert upload(alice_client, conversation, f"p{i}.png", png_bytes()).status_code == 201
    eleventh = upload(alice_client, conversation, "p10.png", png_bytes())
    assert eleventh.status_code == 400
    assert eleventh.json()["error"] == "At most 10 files go with one message to SketricGen."
    assert Attachment.objects.count() == 10


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("../../x.png", "contains a folder path"),
        ("/etc/x.png", "contains a folder path"),
        ("C:\\Users\\x.png", "contains a folder path"),
        ("x\x00.png", "control characters (such as NUL)"),
    ],
)
def test_file_names_with_path_tricks_are_refused(alice_client, conversation, media_root, name, says):
    response = upload(alice_client, conversation, "x.png", png_bytes(), name=name)
    assert response.status_code == 400
    assert says in response.json()["error"]
    assert stored_files(media_root) == []


def test_the_name_given_is_checked_against_the_content_too(alice_client, conversation):
    refused = upload(alice_client, conversation, "report.pdf", pdf_bytes(), name="report.png")
    assert refused.json()["error"] == "This file is named as a PNG image but its content is a PDF document."
    renamed = upload(alice_client, conversation, "upload.bin", pdf_bytes(), name="Q3 report.pdf")
    assert renamed.json()["name"] == "Q3 report.pdf"


def test_a_path_in_the_multipart_file_name_never_reaches_the_disk(alice_client, conversation, media_root):
    response = upload(alice_client, conversation, "../../x.png", png_bytes())
    assert response.status_code == 201
    assert response.json()["name"] == "x.png"
    assert stored_files(media_root) == [f"attachments/{conversation.id}/{response.json()['id']}"]


def test_long_names_are_cut_keeping_the_extension_and_missing_ones_are_added(alice_client, conversation):
    long = upload(alice_client, conversation, "a" * 400 + ".png", png_bytes()).json()
    assert len(long["name"]) == 200
    assert long["name"].endswith("a.png")
    bare = upload(alice_client, conversation, "scan", pdf_bytes()).json()
    assert bare["name"] == "scan.pdf"


def test_each_platform_takes_what_its_documents_allow(alice_client, alice):
    slug = Conversation.objects.create(owner=alice, agent=agent_on("slug_chat", "slug"))
    refused = upload(alice_client, slug, "x.png", png_bytes())
    assert refused.json()["error"] == "Agent Chat API agents take no files."

    workflow = Conversation.objects.create(owner=alice, agent=agent_on("workflow_chat", "flow"))
    assert upload(alice_client, workflow, "x.png", png_bytes()).status_code == 201
    refused = upload(alice_client, workflow, "r.pdf", pdf_bytes())
    assert refused.json()["error"] == "Workflow chat does not take a PDF document; it takes images."

    agentweave = Conversation.objects.create(owner=alice, agent=agent_on("agentweave", "weave"))
    assert upload(alice_client, agentweave, "r.pdf", pdf_bytes()).status_code == 201
    second = upload(alice_client, agentweave, "x.png", png_bytes())
    assert second.json()["error"] == "At most 1 file goes with one message to AgentWeave."


def test_the_chat_page_tells_the_composer_what_it_may_attach(alice_client, alice):
    for platform, slug in [("slug_chat", "slug"), ("workflow_chat", "flow"), ("sketricgen", "sk")]:
        agent_on(platform, slug)
    configs = {
        slug: alice_client.get(reverse("new_conversation", args=[slug])).context["config"]["files"]
        for slug in ("slug", "flow", "sk")
    }
    assert configs["slug"]["accepted"] == []
    assert configs["slug"]["note"] == "Agent Chat API agents take no files."
    assert configs["flow"]["imagesOnly"] is True
    assert configs["flow"]["note"] == "Workflow chat agents take images only."
    assert "application/pdf" in configs["sk"]["accepted"]
    assert configs["sk"]["maxFiles"] == 10


def test_someone_elses_conversation_and_files_are_not_found(alice_client, bob, conversation):
    shown = upload(alice_client, conversation, "x.png", png_bytes()).json()
    bob_client = Client()
    bob_client.force_login(bob)

    assert upload(bob_client, conversation, "y.png", png_bytes()).status_code == 404
    assert bob_client.get(shown["url"]).status_code == 404
    assert bob_client.delete(shown["url"]).status_code == 404
    assert Attachment.objects.count() == 1
    other = Conversation.objects.create(owner=bob, agent=conversation.agent)
    wrong_place = reverse("attachment", args=[other.id, shown["id"]])
    assert bob_client.get(wrong_place).status_code == 404


def test_signed_out_uploads_go_to_the_login_page(conversation):
    response = upload(Client(), conversation, "x.png", png_bytes())
    assert response.status_code == 302
    assert not Attachment.objects.exists()


def test_uploads_need_the_csrf_token(alice, conversation):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert upload(client, conversation, "x.png", png_bytes()).status_code == 403


class FailingStorage(FileSystemStorage):
    """Writes part of the file, then fails, as a full disk or a dropped connection would."""

    def _save(self, name, content):
        path = self.path(name)
        import os

        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as partial:
            partial.write(content.read(10))
        raise OSError("No space left on device")


def test_a_storage_failure_midway_leaves_no_file_and_no_row(alice_client, conversation, settings, media_root):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": f"{__name__}.FailingStorage"}}
    response = upload(alice_client, conversation, "x.png", png_bytes())
    assert response.status_code == 503
    assert response.json()["error"] == "The file could not be stored. Try again."
    assert not Attachment.objects.exists()
    assert stored_files(media_root) == []


def test_a_pending_file_can_be_removed_but_a_sent_one_stays(
    alice_client, conversation, media_root, django_capture_on_commit_callbacks
):
    first = upload(alice_client, conversation, "a.png", png_bytes()).json()
    second = upload(alice_client, conversation, "b.png", png_bytes()).json()
    with django_capture_on_commit_callbacks(execute=True):
        assert alice_client.delete(first["url"]).status_code == 204
    assert stored_files(media_root) == [f"attachments/{conversation.id}/{second['id']}"]

    message = conversation.messages.create(role=Message.Role.USER, content="see")
    Attachment.objects.filter(pk=second["id"]).update(message=message)
    refused = alice_client.post(second["url"])
    assert refused.status_code == 409
    assert Attachment.objects.filter(pk=second["id"]).exists()


def test_deleting_a_conversation_deletes_its_files(
    alice_client, conversation, media_root, django_capture_on_commit_callbacks
):
    upload(alice_client, conversation, "a.png", png_bytes())
    upload(alice_client, conversation, "b.pdf", pdf_bytes())
    assert len(stored_files(media_root)) == 2
    with django_capture_on_commit_callbacks(execute=True):
        conversation.delete()
    assert stored_files(media_root) == []
    assert not Attachment.objects.exists()


def test_history_shows_thumbnails_and_download_chips_on_the_users_message(alice_client, conversation):
    photo = upload(alice_client, conversation, "photo.png", png_bytes()).json()
    report = upload(alice_client, conversation, "report.pdf", pdf_bytes()).json()
    message = conversation.messages.create(role=Message.Role.USER, content="look")
    Attachment.objects.update(message=message)

    page = alice_client.get(conversation.get_absolute_url()).content.decode()
    assert f'<img class="attachment-thumb" src="{photo["url"]}" alt="photo.png"' in page
    assert f'href="{report["url"]}" download' in page
    assert "report.pdf" in page

    shared = message_view(message, is_last=True, attachment_url=lambda a: f"/s/token/files/{a.pk}/")
    assert [a["url"] for a in shared["attachments"]] == [
        f"/s/token/files/{photo['id']}/",
        f"/s/token/files/{report['id']}/",
    ]


def test_files_never_sent_are_pruned_after_a_day(
    alice_client, conversation, media_root, django_capture_on_commit_callbacks
):
    import io
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    old = upload(alice_client, conversation, "old.png", png_bytes()).json()
    fresh = upload(alice_client, conversation, "fresh.png", png_bytes()).json()
    sent = upload(alice_client, conversation, "sent.png", png_bytes()).json()
    message = conversation.messages.create(role=Message.Role.USER, content="x")
    Attachment.objects.filter(pk=sent["id"]).update(message=message)
    day_ago = timezone.now() - timedelta(hours=25)
    Attachment.objects.filter(pk__in=[old["id"], sent["id"]]).update(created_at=day_ago)

    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("prune_attachments", stdout=out)
    assert out.getvalue().strip() == "Deleted 1 unsent file(s) older than 24 hours."

    assert sorted(Attachment.objects.values_list("name", flat=True)) == ["fresh.png", "sent.png"]
    assert stored_files(media_root) == sorted(
        f"attachments/{conversation.id}/{a['id']}" for a in (fresh, sent)
    )


@pytest.mark.parametrize(
    ("name", "head", "expected"),
    [
        ("a.png", png_bytes(), "image/png"),
        ("a.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 20, "image/jpeg"),
        ("a.gif", b"GIF89a" + b"\x00" * 20, "image/gif"),
        ("a.webp", b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 20, "image/webp"),
        ("a.pdf", pdf_bytes(), "application/pdf"),
        ("a.csv", b"name,score\nalice,3\n", "text/csv"),
        ("a.md", "# Título\n\nSome *text*.\n".encode(), "text/markdown"),
        ("a.json", b'{"a": 1}', "application/json"),
        ("a.py", b"print('hi')\n", "text/plain"),
        ("a.txt", b"  <svg onload=alert(1)>", "image/svg+xml"),
        ("a.txt", b"\xef\xbb\xbf<html><body>x</body></html>", "text/html"),
        ("a.txt", b"\xff\xfe\x00\x01binary", None),
    ],
)
def test_the_type_comes_from_the_content(name, head, expected):
    from conversations.attachments import sniff_type

    assert sniff_type(head, name) == expected
