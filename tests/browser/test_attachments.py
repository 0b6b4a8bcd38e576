"""A person attaches a picture and a PDF, watches them upload, sends them, finds them after a reload."""

import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_chat import LAST_REPLY, open_demo_agent
from tests.files import pdf_bytes, png_bytes

pytestmark = pytest.mark.browser

MB = 1024 * 1024


def large_pdf() -> bytes:
    """A real PDF, padded with a comment so its upload takes a moment under throttling."""
    data = pdf_bytes("Annual report")
    return data + b"%" + b"x" * (3 * MB) + b"\n"


def test_attached_files_upload_with_progress_go_with_the_message_and_stay(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    expect(page.locator("#attach-btn")).to_be_visible()
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 1.5 * MB},
    )

    photo, report = png_bytes(48, 32, (40, 120, 220)), large_pdf()
    page.locator("#attach-input").set_input_files(
        [
            {"name": "diagram.png", "mimeType": "image/png", "buffer": photo},
            {"name": "annual-report.pdf", "mimeType": "application/pdf", "buffer": report},
        ]
    )
    chips = page.locator("#composer-files .file-chip")
    expect(chips).to_have_count(2)
    pdf_chip = chips.filter(has_text="annual-report.pdf")
    progress = pdf_chip.locator(".file-chip-progress")
    seen = set()
    deadline = time.monotonic() + 20
    while pdf_chip.get_attribute("data-state") == "uploading" and time.monotonic() < deadline:
        value = progress.evaluate("bar => bar.value")
        seen.add(value)
        if 0 < value < 100 and len(seen) == 2:
            screenshot(page, "attachments-uploading")
        time.sleep(0.05)
    assert any(0 < value < 100 for value in seen), f"no progress shown during the upload: {sorted(seen)}"
    expect(chips.nth(0)).to_have_attribute("data-state", "ready")
    expect(pdf_chip).to_have_attribute("data-state", "ready")
    expect(chips.filter(has_text="diagram.png").locator(".file-chip-thumb img")).to_be_visible()
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    screenshot(page, "attachments-ready")

    page.locator("#composer-input").fill("What do these show?")
    page.locator("#composer-input").press("Enter")

    mine = page.locator("article.msg-user").last
    expect(mine.locator("img.attachment-thumb")).to_have_attribute("alt", "diagram.png")
    expect(mine.locator(".attachment-chip")).to_contain_text("annual-report.pdf")
    expect(page.locator("#composer-files .file-chip")).to_have_count(0)
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "complete", timeout=30_000)
    expect(reply.locator(".msg-body")).to_contain_text("I received 2 file(s)")
    expect(reply.locator(".msg-body")).to_contain_text("“diagram.png” (image/png")
    expect(reply.locator(".msg-body")).to_contain_text(
        f"“annual-report.pdf” (application/pdf, {len(report)} bytes)"
    )
    screenshot(page, "attachments-sent")

    page.reload()
    mine = page.locator("article.msg-user").last
    expect(mine.locator("img.attachment-thumb")).to_have_attribute("alt", "diagram.png")
    assert mine.locator("img.attachment-thumb").evaluate("img => img.complete && img.naturalWidth") == 48
    chip = mine.locator(".attachment-chip")
    expect(chip).to_contain_text("annual-report.pdf")
    with page.expect_download() as download:
        chip.click()
    assert download.value.suggested_filename == "annual-report.pdf"
    screenshot(page, "attachments-after-reload")


def test_a_refused_file_shows_the_servers_reason_on_its_chip(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    page.locator("#attach-input").set_input_files(
        [{"name": "slides.png", "mimeType": "image/png", "buffer": pdf_bytes()}]
    )
    chip = page.locator("#composer-files .file-chip")
    expect(chip).to_have_attribute("data-state", "failed")
    expect(chip.locator(".file-chip-error")).to_have_text(
        "This file is named as a PNG image but its content is a PDF document."
    )
    screenshot(page, "attachments-refused")
    chip.locator(".file-chip-remove").click()
    expect(page.locator("#composer-files .file-chip")).to_have_count(0)


def test_agents_that_take_no_files_say_so_instead_of_offering_the_button(signed_in, live_site):
    page = signed_in
    page.goto(f"{live_site.url}/agents/slug-chat-demo/new/")
    expect(page.locator("#attach-btn")).to_be_hidden()
    expect(page.locator(".composer-hint")).to_contain_text("Agent Chat API agents take no files.")
    page.goto(f"{live_site.url}/agents/workflow-demo/new/")
    expect(page.locator("#attach-btn")).to_be_visible()
    expect(page.locator(".composer-hint")).to_contain_text("Workflow chat agents take images only.")
    assert (
        page.locator("#attach-input").get_attribute("accept") == "image/gif,image/jpeg,image/png,image/webp"
    )


def drop_file(page, target: str, name: str, data: bytes, mime: str, event: str = "drop") -> None:
    """What the browser dispatches when a file is dropped on `target`, or pasted into it."""
    page.evaluate(
        """([selector, name, bytes, mime, kind]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, { type: mime }));
            const target = document.querySelector(selector);
            if (kind === "paste") {
                target.dispatchEvent(new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true }));
                return;
            }
            const init = { dataTransfer: transfer, bubbles: true, cancelable: true };
            for (const type of ["dragenter", "dragover", "drop"]) {
                target.dispatchEvent(new DragEvent(type, init));
            }
        }""",
        [target, name, list(data), mime, event],
    )


def test_files_dropped_on_the_chat_or_pasted_are_attached_and_kept_over_a_reload(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    drop_file(page, "#scroller", "dropped.png", png_bytes(), "image/png")
    drop_file(page, "#composer-input", "image.png", png_bytes(6, 6), "image/png", event="paste")
    chips = page.locator("#composer-files .file-chip")
    expect(chips).to_have_count(2)
    expect(chips.nth(0)).to_have_attribute("data-state", "ready")
    expect(chips.nth(1)).to_have_attribute("data-state", "ready")
    expect(page.locator("#drop-overlay")).to_be_hidden()

    page.reload()  # the conversation was created for the uploads; the files wait in the composer
    chips = page.locator("#composer-files .file-chip")
    expect(chips).to_have_count(2)
    # The two uploads ran side by side, so either may have been stored first.
    expect(chips.filter(has_text="dropped.png")).to_have_count(1)
    with page.expect_response(lambda response: response.request.method == "DELETE"):
        chips.filter(has_text="image.png").locator(".file-chip-remove").click()
    expect(chips).to_have_count(1)
    page.reload()
    expect(page.locator("#composer-files .file-chip")).to_have_count(1)
    expect(page.locator("#composer-files .file-chip")).to_contain_text("dropped.png")
