"""In Chromium: a team member chats with the A2A demo agent (the official a2a-sdk server, scripted),
answers its `input-required` question and gets a file back as a link."""

import pytest
from playwright.sync_api import expect

from agents.fakes.a2a import QUESTION, REPORT_NAME
from tests.browser.conftest import screenshot
from tests.browser.test_chat import LAST_REPLY, send

pytestmark = pytest.mark.browser


def open_a2a_agent(page, site) -> None:
    page.goto(f"{site.url}/")
    page.get_by_role("link", name="A2A demo").click()
    page.wait_for_url("**/agents/a2a-demo/new/")


def test_the_agents_question_is_answered_and_its_file_is_a_link(signed_in, live_site):
    page = signed_in
    open_a2a_agent(page, live_site)
    send(page, "What will the weather be tomorrow? [[ask]]")
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "paused")
    expect(reply.locator(".msg-body")).to_have_text(QUESTION)
    panel = reply.locator(".approval")
    expect(panel.locator(".approval-name")).to_have_text("Answer the agent's question")
    expect(panel.locator(".approval-args")).to_have_count(0)
    panel.get_by_label("Respond").check()
    panel.get_by_label("Your answer about Answer the agent's question").fill("Lisbon")
    screenshot(page, "a2a-question")
    panel.get_by_role("button", name="Send decisions").click()

    expect(reply).to_have_attribute("data-status", "complete")
    expect(reply.locator(".msg-body")).to_contain_text("The forecast for Lisbon: sunny, 21 °C.")
    expect(reply.locator(".msg-parts .approval-decision")).to_have_text("answered: Lisbon")

    send(page, "And a report please [[file]] [[words=13]]")
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "complete")
    expect(reply.locator(".msg-body")).to_contain_text("This is turn 2 of this context.")
    link = reply.locator(".msg-body a", has_text=REPORT_NAME)
    expect(link).to_have_attribute("href", f"{live_site.url}/fake/a2a/files/{REPORT_NAME}")
    assert page.request.get(link.get_attribute("href")).text().startswith("day,forecast")
    screenshot(page, "a2a-file")

    page.set_viewport_size({"width": 390, "height": 800})
    page.emulate_media(color_scheme="dark")
    reply.scroll_into_view_if_needed()
    screenshot(page, "a2a-phone-dark")
