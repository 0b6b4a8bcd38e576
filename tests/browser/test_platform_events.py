"""In Chromium: a SketricGen approval through the documented streamed pause, out of credits at once,
and a workflow chat question answered with a click."""

import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_chat import LAST_REPLY, open_demo_agent, send

pytestmark = pytest.mark.browser


def open_workflow_agent(page, site) -> None:
    page.goto(f"{site.url}/")
    page.get_by_role("link", name="Workflow chat demo").click()
    page.wait_for_url("**/agents/workflow-demo/new/")


def test_an_approval_through_the_streamed_custom_event_pause(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    # The fake sends CUSTOM_EVENT deep_agents_hitl, a bare RUN_PAUSED_HITL, then keeps the stream open.
    started = time.monotonic()
    send(page, "Please mail the team [[hitl]] [[hold]] [[tool]] [[delay=0.01]]")
    panel = page.locator(LAST_REPLY).locator(".approval")
    expect(panel).to_have_attribute("data-state", "pending", timeout=5_000)
    assert time.monotonic() - started < 5, "the pause must end the reading without waiting for the stream"
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "paused")
    expect(panel.locator(".approval-name")).to_have_text(["send_email", "create_ticket"])

    first, second = panel.locator(".approval-action").all()
    first.get_by_label("Approve").check()
    second.get_by_label("Approve").check()
    panel.get_by_role("button", name="Send decisions").click()

    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "complete")
    paragraphs = reply.locator(".msg-body p")
    expect(reply.locator(".msg-body")).to_contain_text("send_email approved; create_ticket approved")
    resumed = paragraphs.filter(has_text="Resumed after your decisions")
    expect(resumed).to_have_count(1)
    # the resumed run's text starts a paragraph of its own, not glued to the text before the pause
    assert resumed.inner_text().startswith("This is a simulated SketricGen agent")
    screenshot(page, "approval-after-custom-event")


def test_out_of_credits_is_shown_within_a_second_of_the_event(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    reply = page.locator(LAST_REPLY)
    send(page, "A long answer please [[credits]] [[hold]] [[words=40]] [[delay=0.01]]")
    expect(reply.locator(".msg-body")).not_to_be_empty()
    shown_text_at = time.monotonic()
    expect(reply).to_have_attribute("data-status", "error", timeout=5_000)
    elapsed = time.monotonic() - shown_text_at
    expect(reply.locator(".msg-error-text")).to_contain_text("out of credits")
    assert len(reply.locator(".msg-body").inner_text().split()) > 5, "the partial reply is kept"
    assert elapsed < 1, f"the error came {elapsed:.2f} s after the text"
    screenshot(page, "out-of-credits")


def test_a_workflow_question_is_answered_with_a_click(signed_in, live_site):
    page = signed_in
    open_workflow_agent(page, live_site)
    send(page, "Build me a price alert [[ask]] [[plan]] [[words=12]] [[delay=0.005]]")
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "complete")
    body = reply.locator(".msg-body")
    expect(body).not_to_contain_text("[[ASK]]")
    expect(body).not_to_contain_text("[[PLAN]]")
    expect(body.locator(".caddie-plan ol li")).to_have_count(3)
    expect(body.locator(".caddie-plan li").first).to_contain_text(
        "ADD Check the price every 5 minutes (schedule)"
    )
    choice = body.get_by_role("button", name="Base")
    expect(choice).to_be_visible()
    screenshot(page, "caddie-question")

    choice.click()
    expect(page.locator("article.msg-user .bubble").last).to_have_text(
        "Which network should the workflow watch?: 8453"
    )
    answer = page.locator(LAST_REPLY)
    expect(answer).to_have_attribute("data-status", "complete")
    expect(answer.locator(".msg-body")).to_contain_text("Which network should the workflow watch?: 8453")
    assert page.locator("article.msg-assistant").count() == 2
    screenshot(page, "caddie-answered")


def test_a_tool_calls_arguments_open_from_its_name_with_the_keyboard(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    send(page, "Search for me [[tool]] [[words=20]] [[delay=0.005]]")
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "complete")

    for attempt in ("live", "after reload"):
        chip = page.locator(LAST_REPLY).locator("li.tool-chip")
        arguments = chip.locator(".tool-arguments")
        expect(arguments).to_be_hidden()
        chip.locator("summary").focus()
        page.keyboard.press("Enter")
        expect(arguments, attempt).to_be_visible()
        expect(arguments).to_contain_text('"query": "server-sent events AG-UI"')
        expect(arguments).to_contain_text('"max_results": 3')
        if attempt == "live":
            screenshot(page, "tool-call-arguments")
            page.reload()
