"""In Chromium: on a page whose scripts are slow to arrive, a control that works only by script takes no
click until its script has bound it, and then works (no click is swallowed by a control not yet alive)."""

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from tests.browser.test_chat import LAST_REPLY
from tests.browser.test_sharing import start_conversation

pytestmark = pytest.mark.browser


def test_menus_and_the_send_button_take_clicks_only_once_their_script_ran(signed_in, live_site):
    page = signed_in
    start_conversation(page, live_site, "A question on a slow connection")
    held = []
    page.route(re.compile(r"/conversation_menu[^/]*\.js$"), lambda route: held.append(route))
    page.goto(page.url, wait_until="commit")

    options = page.get_by_label("Conversation options")
    sidebar_options = page.get_by_role("button", name="Options for A question on a slow connection")
    send = page.get_by_role("button", name="Send message")
    for control in (options, sidebar_options, send):
        expect(control).to_be_attached()
        with pytest.raises(PlaywrightTimeout):
            control.click(trial=True, timeout=500)
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    held[0].continue_()

    options.click()
    page.get_by_role("menuitem", name="Delete…").click()
    expect(page.locator("#delete-dialog")).to_be_visible()
    page.keyboard.press("Escape")
    page.locator("#composer-input").fill("And a second one")
    send.click()
    expect(page.locator("article.msg-user")).to_have_count(2)
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
