"""The SketricGen fake's three-step upload is faithful: the official SDK's `file_paths` works against it."""

import httpx
import pytest

from tests.files import pdf_bytes, png_bytes

AGENT = "agent_demo_helpdesk"


@pytest.fixture(autouse=True)
def fast(sketricgen):
    sketricgen.app.token_delay = 0


async def test_the_sdk_uploads_files_and_the_reply_names_them(sketricgen_sdk, sketricgen, tmp_path):
    photo, report = tmp_path / "photo.png", tmp_path / "report.pdf"
    photo.write_bytes(png_bytes())
    report.write_bytes(pdf_bytes())

    response = await sketricgen_sdk.run_workflow(
        agent_id=AGENT, user_input="What is in these?", file_paths=[str(photo), str(report)]
    )

    assert f"“photo.png” (image/png, {photo.stat().st_size} bytes)" in response.response
    assert f"“report.pdf” (application/pdf, {report.stat().st_size} bytes)" in response.response
    steps = [r["path"] for r in sketricgen.app.requests]
    assert steps.count("/publicAssetsUploadInit") == 2
    assert steps.count("/s3-upload") == 2
    assert steps.count("/publicAssetsUploadComplete") == 2
    assert steps[-1] == "/api/v1/run-workflow"
    run = sketricgen.app.requests[-1]["body"]
    assert len(run["assets"]) == 2


def init_upload(fake, name="photo.png"):
    response = httpx.post(
        fake.url + "/publicAssetsUploadInit",
        json={"agent_id": AGENT, "file_name": name},
        headers={"X-API-KEY": "demo-key"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_init_needs_the_key_and_an_allowed_extension(sketricgen):
    url = sketricgen.url + "/publicAssetsUploadInit"
    assert httpx.post(url, json={"agent_id": AGENT, "file_name": "a.png"}).status_code == 401
    refused = httpx.post(
        url, json={"agent_id": AGENT, "file_name": "a.exe"}, headers={"X-API-KEY": "demo-key"}
    )
    assert refused.status_code == 400
    assert "image/png" in refused.json()["allowed_types"]


def test_the_presigned_post_needs_every_field_first_and_the_file_last(sketricgen):
    init = init_upload(sketricgen)
    url, fields = init["upload"]["url"], init["upload"]["fields"]
    data = png_bytes()

    file_first = [("file", ("photo.png", data, "image/png"))] + [(k, (None, v)) for k, v in fields.items()]
    assert httpx.post(url, files=file_first).status_code == 400
    altered = {**fields, "Content-Type": "text/html"}
    assert httpx.post(url, data=altered, files={"file": ("photo.png", data)}).status_code == 403
    missing = {k: v for k, v in fields.items() if k != "policy"}
    assert httpx.post(url, data=missing, files={"file": ("photo.png", data)}).status_code == 403

    complete = httpx.post(
        sketricgen.url + "/publicAssetsUploadComplete",
        json={"agent_id": AGENT, "file_id": init["file_id"], "file_name": "photo.png"},
        headers={"X-API-KEY": "demo-key"},
    )
    assert complete.status_code == 400  # nothing was uploaded yet

    assert httpx.post(url, data=fields, files={"file": ("photo.png", data)}).status_code == 204
    complete = httpx.post(
        sketricgen.url + "/publicAssetsUploadComplete",
        json={"agent_id": AGENT, "file_id": init["file_id"], "file_name": "photo.png"},
        headers={"X-API-KEY": "demo-key"},
    )
    assert complete.status_code == 200
    assert complete.json()["file_size_bytes"] == len(data)


def test_run_workflow_refuses_assets_it_never_received(sketricgen):
    response = httpx.post(
        sketricgen.url + "/api/v1/run-workflow",
        json={"agent_id": AGENT, "user_input": "hi", "assets": ["file_nope"]},
        headers={"api-key": "demo-key"},
    )
    assert response.status_code == 400
    assert "file_nope" in response.json()["detail"]
