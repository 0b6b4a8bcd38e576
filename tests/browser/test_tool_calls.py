"""Tool calls in Chromium: a compact row that opens, with the mouse or the keyboard, to what was called."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_chat import LAST_REPLY, open_demo_agent, send

pytestmark = pytest.mark.browser


def test_a_tool_call_opens_with_the_keyboard_to_its_arguments_and_result(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    send(page, "Look it up [[tool]] [[camel]] [[words=12]] [[delay=0.01]]")
    chip = page.locator(LAST_REPLY).locator("li.tool-chip")
    expect(chip).to_have_attribute("data-status", "done")
    arguments = chip.locator(".tool-arguments")
    expect(arguments).not_to_be_visible()

    chip.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(arguments).to_be_visible()
    expect(arguments).to_contain_text('"query": "server-sent events AG-UI"')
    expect(chip.locator(".tool-result")).to_contain_text('"title": "AG-UI protocol: events"')
    screenshot(page, "tool-call-open")
    page.keyboard.press("Enter")
    expect(arguments).not_to_be_visible()

    page.reload()  # history shows the same, from what was saved
    chip = page.locator(LAST_REPLY).locator("li.tool-chip")
    chip.locator("summary").click()
    expect(chip.locator(".tool-arguments")).to_contain_text('"max_results": 3')
    expect(chip.locator(".tool-result")).to_contain_text("AG-UI protocol: events")


def test_a_tool_call_opened_while_the_reply_streams_stays_open_when_it_ends(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    send(page, "Look it up [[tool]] [[camel]] [[words=40]] [[delay=0.05]]")
    reply = page.locator(LAST_REPLY)
    chip = reply.locator("li.tool-chip")
    expect(chip).to_have_attribute("data-status", "done")
    expect(reply).to_have_attribute("data-status", "streaming")
    chip.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(chip.locator(".tool-arguments")).to_be_visible()

    expect(reply).to_have_attribute("data-status", "complete", timeout=15_000)
    expect(chip.locator(".tool-arguments")).to_be_visible()
    page.keyboard.press("Enter")  # the focus stayed on the call: Enter closes it
    expect(chip.locator(".tool-arguments")).not_to_be_visible()
