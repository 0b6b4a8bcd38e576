"""A person in Chromium: signs in, picks the demo agent, chats, reloads, stops, meets an error."""

import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser

LAST_REPLY = "article.msg-assistant >> nth=-1"


def open_demo_agent(page, site) -> None:
    page.goto(f"{site.url}/")
    page.get_by_role("link", name="SketricGen demo").click()
    page.wait_for_url("**/agents/sketricgen-demo/new/")


def send(page, text: str) -> None:
    box = page.locator("#composer-input")
    box.fill(text)
    box.press("Enter")


def test_a_reply_arrives_in_pieces_and_ends_formatted(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    box = page.locator("#composer-input")
    box.fill("Hello agent")
    box.press("Shift+Enter")
    box.type("second line [[tool]] [[delay=0.02]]")
    assert page.locator("article.msg-user").count() == 0, "Shift+Enter must not send"
    box.press("Enter")

    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "streaming")
    lengths = []
    deadline = time.monotonic() + 15
    while reply.get_attribute("data-status") == "streaming" and time.monotonic() < deadline:
        lengths.append(len(reply.locator(".msg-body").inner_text()))
        time.sleep(0.1)
    assert len({n for n in lengths if n > 0}) >= 3, f"text did not arrive in pieces: {lengths}"
    expect(reply).to_have_attribute("data-status", "complete")

    expect(page.locator("article.msg-user .bubble")).to_contain_text("Hello agent\nsecond line")
    expect(reply.locator(".msg-body table")).to_be_visible()
    expect(reply.locator(".msg-body pre code")).to_be_visible()
    expect(reply.locator("li.tool-chip")).to_have_attribute("data-status", "done")
    assert "/c/" in page.url
    expect(page.locator("#conversation-list .conv-link").first).to_contain_text("Hello agent")
    screenshot(page, "chat-complete")


def test_reloading_mid_reply_shows_it_finish_without_gaps_or_repeats(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    send(page, "Reload me [[words=120]] [[delay=0.03]]")
    reply = page.locator(LAST_REPLY)
    expect(reply.locator(".msg-body")).to_contain_text("simulated")
    page.reload()

    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "streaming")
    screenshot(page, "chat-reloaded-mid-reply")
    expect(reply).to_have_attribute("data-status", "complete", timeout=20_000)
    body = reply.locator(".msg-body").inner_text()
    assert body.count("This is a simulated SketricGen agent") == 1
    assert body.count("This is turn 1 of this conversation") == 1

    page.reload()  # the saved reply is the same text
    assert page.locator(LAST_REPLY).locator(".msg-body").inner_text() == body


def test_escape_stops_a_reply_and_keeps_its_text(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    send(page, "Talk for a long time [[words=400]] [[delay=0.03]]")
    reply = page.locator(LAST_REPLY)
    expect(reply.locator(".msg-body")).to_contain_text("simulated")
    expect(page.locator("#composer")).to_have_attribute("data-state", "running")
    page.locator("#composer-input").press("Escape")

    expect(reply).to_have_attribute("data-status", "stopped")
    expect(reply.locator(".msg-stopped")).to_be_visible()
    expect(page.locator("#composer")).to_have_attribute("data-state", "idle")
    kept = reply.locator(".msg-body").inner_text()
    assert "simulated" in kept
    page.reload()
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "stopped")
    assert "simulated" in page.locator(LAST_REPLY).locator(".msg-body").inner_text()


def test_a_rejected_credential_is_shown_as_a_readable_error(signed_in, live_site):
    live_site.shell(
        "from agents.models import Agent, Credential\n"
        "demo = Agent.objects.get(slug='sketricgen-demo').credential\n"
        "bad, _ = Credential.objects.get_or_create(name='Revoked key', "
        "defaults={'platform': demo.platform, 'base_url': demo.base_url})\n"
        "bad.set_api_key('revoked-key'); bad.save()\n"
        "Agent.objects.update_or_create(slug='revoked', defaults={'name': 'Revoked agent', "
        "'credential': bad, 'upstream_agent_id': 'agent-demo'})\n",
    )
    page = signed_in
    page.goto(f"{live_site.url}/agents/revoked/new/")
    send(page, "Are you there?")

    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "error")
    error = reply.locator(".msg-error-text")
    expect(error).to_contain_text("rejected this credential")
    expect(reply.get_by_role("button", name="Retry")).to_be_visible()
    expect(page.locator("article.msg-user .bubble")).to_have_text("Are you there?")
    screenshot(page, "chat-error-401")


def test_a_phone_sized_screen_can_chat(browser, live_site):
    from tests.browser.conftest import sign_in

    context = browser.new_context(viewport={"width": 375, "height": 740}, color_scheme="dark")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        sign_in(page, live_site)
        open_demo_agent(page, live_site)
        send(page, "Hi from a phone [[words=20]] [[delay=0.01]]")
        expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"the page scrolls sideways ({width}px)"
        screenshot(page, "chat-phone-dark")
    finally:
        context.close()


def test_hostile_markdown_in_a_reply_stays_inert_live_and_in_history(signed_in, live_site):
    page = signed_in
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_demo_agent(page, live_site)
    # The simulated agent quotes the message back, so its reply carries the attack too.
    send(
        page,
        "<img src=x onerror=\"document.title='pwned'\"> [click](javascript:alert(1)) "
        "![x](https://attacker.example/leak.png) <script>alert(2)</script>",
    )
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "complete")
    for _ in range(2):
        assert page.title() != "pwned"
        assert page.locator("img[onerror], script:not([src]):not([type='application/json'])").count() == 0
        assert page.locator("a[href^='javascript']").count() == 0
        assert page.locator("img[src*='attacker.example']").count() == 0
        page.reload()
        expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    assert dialogs == []


def test_every_platform_has_a_demo_agent_to_pick(signed_in, live_site):
    page = signed_in
    page.goto(f"{live_site.url}/")
    for name in ("SketricGen demo", "Workflow chat demo", "Agent Chat API demo", "AgentWeave demo"):
        expect(page.get_by_role("link", name=name)).to_be_visible()
    screenshot(page, "home-all-platforms")


def test_agentweaves_completed_text_replaces_what_streamed(signed_in, live_site):
    page = signed_in
    page.goto(f"{live_site.url}/agents/agentweave-demo/new/")
    send(page, "Tell me [[completed-differs]] [[delay=0.02]]")
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "complete")
    body = reply.locator(".msg-body")
    expect(body).to_contain_text("this line is only in the completed message")
    assert body.inner_text().count("This is a simulated AgentWeave agent") == 1
    page.reload()
    expect(page.locator(LAST_REPLY).locator(".msg-body")).to_contain_text("only in the completed message")
    screenshot(page, "agentweave-completed")


def test_a_workflow_reply_resumes_after_the_platform_drops_the_connection(signed_in, live_site):
    page = signed_in
    page.goto(f"{live_site.url}/agents/workflow-demo/new/")
    send(page, "Plan it [[fail:drop@5]] [[delay=0.02]]")
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "complete")
    body = reply.locator(".msg-body").inner_text()
    assert body.count("simulated") == 1
    assert "Plan it" in body


def test_a_paused_run_is_approved_in_the_browser_and_continues_in_place(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    send(page, "Please mail the team [[hitl]] [[delay=0.01]]")
    panel = page.locator(LAST_REPLY).locator(".approval")
    expect(panel).to_have_attribute("data-state", "pending")
    expect(panel.locator(".approval-name")).to_have_text(["send_email", "create_ticket"])
    expect(panel.locator(".approval-args").first).to_contain_text('"to": "team@example.com"')
    expect(panel.locator(".approval-action").nth(1).get_by_label("Respond")).to_have_count(0)

    page.reload()  # the request survives a reload
    panel = page.locator(LAST_REPLY).locator(".approval")
    expect(panel).to_have_attribute("data-state", "pending")
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "paused")
    screenshot(page, "approval-pending")

    panel.get_by_role("button", name="Send decisions").click()
    expect(panel.locator(".approval-error")).to_contain_text("Choose what to do about send_email")
    first, second = panel.locator(".approval-action").all()
    first.get_by_label("Respond").check()
    first.get_by_label("Your answer about send_email").fill("Say 5% instead")
    second.get_by_label("Reject").check()
    panel.get_by_role("button", name="Send decisions").click()

    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "complete")
    expect(reply.locator(".msg-body")).to_contain_text("send_email answered with 'Say 5% instead'")
    expect(reply.locator(".msg-parts > .approval")).to_have_attribute("data-state", "resolved")
    expect(reply.locator(".approval-decision")).to_have_text(["answered: Say 5% instead", "rejected"])
    assert page.locator("article.msg-assistant").count() == 1, "the reply continued in place"
    screenshot(page, "approval-resolved")


def test_cited_sources_and_returned_files_are_links_and_running_out_of_credits_is_explained(
    signed_in, live_site
):
    page = signed_in
    open_demo_agent(page, live_site)
    send(page, "Find it on the web [[cite]] [[asset]] [[words=12]]")
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "complete")
    sources = reply.locator(".msg-body ol").last.locator("a")
    expect(sources).to_have_count(2)
    expect(sources.first).to_have_text("Server-sent events - HTML Living Standard")
    expect(sources.first).to_have_attribute(
        "href", "https://html.spec.whatwg.org/multipage/server-sent-events.html"
    )
    expect(reply.locator(".msg-body a", has_text="summary.pdf")).to_have_count(1)
    screenshot(page, "chat-sources")

    send(page, "Keep going [[credits]] [[words=12]]")
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "error")
    expect(reply.locator(".msg-error-text")).to_contain_text("out of credits")
    assert reply.locator(".msg-body").inner_text().strip(), "the words that arrived are kept"
    screenshot(page, "chat-out-of-credits")
