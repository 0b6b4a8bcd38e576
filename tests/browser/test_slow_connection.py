"""In Chromium, on a slow connection: a click before the page's scripts arrive, or before a dialog's
list has loaded, is neither swallowed nor undone."""

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from tests.browser.test_chat import LAST_REPLY
from tests.browser.test_sharing import start_conversation

pytestmark = pytest.mark.browser


def held_requests(page, pattern: str, method: str = "GET") -> list:
    """The requests matching `pattern` (and `method`) are held until the test continues each."""
    held = []

    def hold(route) -> None:
        if route.request.method == method:
            held.append(route)
        else:
            route.continue_()

    page.route(re.compile(pattern), hold)
    return held


def first_held(page, held: list):
    for _ in range(100):
        if held:
            return held[0]
        page.wait_for_timeout(50)
    raise AssertionError("the page never asked")


def test_menus_and_the_send_button_take_clicks_only_once_their_script_ran(signed_in, live_site):
    page = signed_in
    start_conversation(page, live_site, "A question on a slow connection")
    held = held_requests(page, r"/conversation_menu[^/]*\.js$")
    page.goto(page.url, wait_until="commit")

    options = page.get_by_label("Conversation options")
    sidebar_options = page.get_by_role("button", name="Options for A question on a slow connection")
    send = page.get_by_role("button", name="Send message")
    for control in (options, sidebar_options, send):
        expect(control).to_be_attached()
        with pytest.raises(PlaywrightTimeout):
            control.click(trial=True, timeout=500)
    first_held(page, held).continue_()

    options.click()
    page.get_by_role("menuitem", name="Delete…").click()
    expect(page.locator("#delete-dialog")).to_be_visible()
    page.keyboard.press("Escape")
    page.locator("#composer-input").fill("And a second one")
    send.click()
    expect(page.locator("article.msg-user")).to_have_count(2)
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")


def test_a_link_made_while_the_share_dialog_still_loads_its_links_is_listed_once_and_focused(
    signed_in, live_site
):
    page = signed_in
    start_conversation(page, live_site, "Share me quickly")
    held = held_requests(page, r"/c/[^/]+/share/$")
    page.get_by_label("Conversation options").click()
    page.get_by_role("menuitem", name="Share…").click()
    dialog = page.locator("#share-dialog")
    dialog.get_by_role("button", name="Create link").click()
    expect(dialog.locator("#share-note")).to_be_visible()
    listed = first_held(page, held)  # the list of links the dialog asked for when it opened
    with page.expect_request_finished(lambda request: request.url == listed.request.url):
        listed.continue_()
    page.evaluate("() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")

    expect(dialog.locator(".share-link")).to_have_count(1)
    expect(dialog.locator(".share-link-url:focus")).to_be_visible()
