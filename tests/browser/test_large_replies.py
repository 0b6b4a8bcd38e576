"""A reply larger than one websocket message reaches the page whole, and the chat goes on after it."""

import pytest
from playwright.sync_api import expect

from tests.browser.test_chat import LAST_REPLY, send

pytestmark = pytest.mark.browser


def test_a_600k_character_reply_reaches_the_page_complete(signed_in, live_site):
    # The demo SketricGen agent, not streaming: the whole reply comes as one JSON body, so the
    # page gets it as one text delta and one ending, each over Daphne's 1 MiB message limit.
    live_site.shell(
        "from agents.models import Agent\n"
        "demo = Agent.objects.get(slug='sketricgen-demo')\n"
        "Agent.objects.update_or_create(slug='all-at-once', defaults={'name': 'All at once', "
        "'credential': demo.credential, 'upstream_agent_id': demo.upstream_agent_id, "
        "'options': {'stream': False}})\n",
    )
    page = signed_in
    page.goto(f"{live_site.url}/agents/all-at-once/new/")
    send(page, "Tell me everything [[words=120000]] [[delay=0]]")

    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "complete", timeout=60_000)
    body = reply.locator(".msg-body").inner_text()
    assert len(body) > 600_000
    assert body.rstrip().endswith(".")
    assert body.count("This is turn 1 of this conversation") == 1

    send(page, "And now something short")
    expect(page.locator("article.msg-user .bubble").last).to_have_text("And now something short")
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete", timeout=30_000)
    expect(page.locator(LAST_REPLY).locator(".msg-body")).to_contain_text("This is turn 2")
