"""Sharing in Chromium: a live members-only link watched by a teammate, a public link opened signed out."""

import secrets
import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import expect_socket_open, screenshot
from tests.browser.test_chat import LAST_REPLY, open_demo_agent, send

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def bob_password(live_site):
    password = secrets.token_urlsafe(12)
    live_site.shell(
        "from django.contrib.auth import get_user_model; "
        "u, _ = get_user_model().objects.get_or_create(username='bob'); "
        f"u.set_password('{password}'); u.save()",
    )
    return password


def new_page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    return context, page


def sign_in_as(page, site, username: str, password: str) -> None:
    page.goto(f"{site.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.url}/")


def share_link(page, public: bool = False, live: bool = False) -> str:
    """Create a link from the conversation's menu; its address."""
    page.get_by_label("Conversation options").click()
    page.get_by_role("menuitem", name="Share…").click()
    dialog = page.locator("#share-dialog")
    expect(dialog).to_be_visible()
    if public:
        dialog.get_by_text("Anyone with the link").click()
    if live:
        dialog.get_by_text("Live", exact=True).click()
    dialog.get_by_role("button", name="Create link").click()
    expect(dialog.locator("#share-note")).to_be_visible()
    url_field = dialog.locator(".share-link-url:focus")
    expect(url_field).to_be_visible()
    url = url_field.input_value()
    screenshot(page, f"share-dialog-{'public' if public else 'members'}")
    dialog.get_by_role("button", name="Close").click()
    return url


def start_conversation(page, site, text: str) -> None:
    open_demo_agent(page, site)
    send(page, text)
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")


def test_a_teammate_watches_a_reply_stream_through_a_live_link(signed_in, browser, live_site, bob_password):
    page = signed_in
    start_conversation(page, live_site, "Plan the team offsite")
    url = share_link(page, live=True)
    assert "/s/" in url

    context, bob = new_page(browser)
    try:
        bob.goto(url)
        expect(bob).to_have_url(f"{live_site.url}/accounts/login/?next={url.removeprefix(live_site.url)}")
        expect(bob.locator(".login-reason")).to_contain_text("shared a conversation with the members")
        screenshot(bob, "share-sign-in-reason")
        bob.get_by_label("Username").fill("bob")
        bob.get_by_label("Password").fill(bob_password)
        bob.get_by_role("button", name="Sign in").click()
        bob.wait_for_url(url)  # back at the link, not the home page
        expect(bob.locator("article.msg-user .bubble")).to_contain_text("Plan the team offsite")
        expect(bob.locator("#live-status")).to_have_attribute("data-state", "open")
        expect(bob.locator("#composer-input")).to_have_count(0)

        send(page, "Now the agenda [[words=120]] [[delay=0.03]]")
        reply = bob.locator(LAST_REPLY)
        expect(bob.locator("article.msg-user").nth(1)).to_contain_text("Now the agenda")
        expect(reply).to_have_attribute("data-status", "streaming")
        lengths = []
        deadline = time.monotonic() + 20
        while reply.get_attribute("data-status") == "streaming" and time.monotonic() < deadline:
            lengths.append(len(reply.locator(".msg-body").inner_text()))
            if len(lengths) == 5:
                screenshot(bob, "share-live-streaming")
            time.sleep(0.1)
        assert len({n for n in lengths if n > 0}) >= 3, f"the viewer did not see the reply stream: {lengths}"
        expect(reply).to_have_attribute("data-status", "complete")
        expect(reply.locator(".msg-body")).to_contain_text("simulated")
        assert reply.locator(".retry-btn:visible, .regenerate-btn:visible").count() == 0
        screenshot(bob, "share-live-complete")

        bob.get_by_role("button", name="Continue in a copy of my own").click()
        bob.wait_for_url("**/c/**")
        expect(bob.locator(".notice")).to_contain_text("starts a fresh conversation")
        expect(bob.locator("article.msg-user").first).to_contain_text("Plan the team offsite")
        screenshot(bob, "share-continued")
    finally:
        context.close()


def test_a_public_link_opens_signed_out_and_revoking_it_ends_it(signed_in, browser, live_site):
    page = signed_in
    start_conversation(page, live_site, "A **public** question")
    url = share_link(page, public=True)

    context, visitor = new_page(browser)
    try:
        visitor.goto(url)
        expect(visitor.locator("h1.shared-title")).to_contain_text("A **public** question")
        expect(visitor.locator("article.msg-assistant .msg-body")).to_contain_text("simulated")
        expect(visitor.get_by_role("link", name="Sign in")).to_be_visible()
        og_title = visitor.locator('meta[property="og:title"]').get_attribute("content")
        assert og_title == "A **public** question"
        screenshot(visitor, "share-public-signed-out")

        page.goto(f"{live_site.url}/shared/")
        row = page.locator(".link-row").filter(has=page.locator(f'input[value="{url}"]'))
        screenshot(page, "shared-links-page")
        row.get_by_role("button", name="Revoke").click()
        expect(page.locator(".notice")).to_contain_text("no longer works")
        response = visitor.goto(url)
        assert response.status == 404
    finally:
        context.close()


def test_the_share_dialog_reuses_a_link_and_updates_or_revokes_it(signed_in, live_site):
    page = signed_in
    start_conversation(page, live_site, "Share me once")
    first = share_link(page)
    page.get_by_label("Conversation options").click()
    page.get_by_role("menuitem", name="Share…").click()
    dialog = page.locator("#share-dialog")
    links = dialog.locator(".share-link")
    expect(links).to_have_count(1)
    expect(links.locator(".share-link-url")).to_have_value(first)
    dialog.get_by_role("button", name="Create link").click()
    expect(dialog.locator("#share-note")).to_contain_text("already has a link like that")
    expect(links).to_have_count(1)
    dialog.get_by_role("button", name="Close").click()

    send(page, "Something newer")
    expect(page.locator("article.msg-assistant")).to_have_count(2)
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    page.get_by_label("Conversation options").click()
    page.get_by_role("menuitem", name="Share…").click()
    expect(links.locator(".share-link-state")).to_contain_text("Newer messages are not in it")
    screenshot(page, "share-dialog-existing-link")
    links.get_by_role("button", name="Update").click()
    expect(links.locator(".share-link-state")).to_contain_text("Shows everything up to")
    links.get_by_role("button", name="Revoke").click()
    expect(links).to_have_count(0)
    expect(dialog.locator("#share-existing")).to_be_hidden()
    dialog.get_by_role("button", name="Close").click()
    assert page.request.get(first).status == 404


def test_rename_regenerate_edit_search_and_delete(signed_in, live_site):
    page = signed_in
    start_conversation(page, live_site, "Original question about otters")

    page.get_by_label("Conversation options").click()
    page.get_by_role("menuitem", name="Rename").click()
    page.locator("#rename-input").fill("Otter facts")
    page.locator("#rename-input").press("Enter")
    expect(page.locator("#conv-title")).to_have_text("Otter facts")
    expect(page.locator('.conv-link[aria-current="page"]')).to_have_text("Otter facts")

    old_reply = page.locator(LAST_REPLY).get_attribute("data-message-id")
    page.locator(LAST_REPLY).hover()
    page.locator(LAST_REPLY).get_by_role("button", name="Regenerate").click()
    expect(page.locator(LAST_REPLY)).not_to_have_attribute("data-message-id", old_reply)
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    assert page.locator("article.msg-assistant").count() == 1

    user_message = page.locator("article.msg-user").last
    user_message.hover()
    user_message.get_by_role("button", name="Edit").click()
    expect(page.locator("#editing")).to_be_visible()
    expect(page.locator("#composer-input")).to_have_value("Original question about otters")
    screenshot(page, "edit-last-message")
    page.locator("#composer-input").fill("Edited question about sea otters")
    page.locator("#composer-input").press("Enter")
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    expect(page.locator("article.msg-user")).to_have_count(1)
    expect(page.locator("article.msg-user .bubble")).to_have_text("Edited question about sea otters")
    page.reload()
    expect(page.locator("article.msg-user .bubble")).to_have_text("Edited question about sea otters")

    page.locator("#sidebar-search-input").fill("sea otters")
    page.locator("#sidebar-search-input").press("Enter")
    expect(page.locator(".result-title")).to_have_text(["Otter facts"])
    screenshot(page, "search-results")
    page.locator(".result-title").click()
    # The menu opens before the page's scripts run; its "Delete…" needs them.
    expect_socket_open(page)

    page.get_by_label("Conversation options").click()
    page.get_by_role("menuitem", name="Delete…").click()
    dialog = page.locator("#delete-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Otter facts")
    screenshot(page, "delete-confirmation")
    dialog.get_by_role("button", name="Delete").click()
    page.wait_for_url(f"{live_site.url}/")
    expect(page.locator(".notice")).to_contain_text("Deleted “Otter facts”.")
    expect(page.locator(".conv-link", has_text="Otter facts")).to_have_count(0)
