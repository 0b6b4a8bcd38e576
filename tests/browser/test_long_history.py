"""A long conversation in Chromium: it opens at its newest page, older messages load on scrolling up."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser

MESSAGES = 130
SEED = """
import json
from agents.models import Agent
from conversations import services
from conversations.models import Conversation, Message
from django.contrib.auth import get_user_model
owner = get_user_model().objects.get(username={username!r})
agent = Agent.objects.get(slug="sketricgen-demo")
conversation = Conversation.objects.create(owner=owner, agent=agent, title="Tide log")
Message.objects.bulk_create(
    Message(
        conversation=conversation,
        role="user" if n % 2 == 0 else "assistant",
        content=f"Question {{n}}: and the tide?" if n % 2 == 0
        else f"Reply {{n}}: **high** at noon.\\n\\n" + "Water. " * 40,
    )
    for n in range({count})
)
Message.objects.filter(conversation=conversation, content__startswith="Reply 3:").update(
    tool_calls=[{{"id": "t1", "name": "tide_lookup", "status": "done"}}],
    approval={{
        "request_id": "r1",
        "actions": [{{"name": "send_email", "args": {{}}, "allowed": ["approve"]}}],
        "status": "resolved",
        "decisions": [{{"type": "approve"}}],
    }},
)
Message.objects.filter(conversation=conversation, content__startswith="Question 8:").update(
    content="Question 8: where do barnacles live?"
)
link = services.share_conversation(owner, conversation, access="public", live=False)
print(json.dumps({{"chat": conversation.get_absolute_url(), "share": link.get_absolute_url()}}))
"""


@pytest.fixture(scope="module")
def long_conversation(live_site) -> dict[str, str]:
    return live_site.shell(SEED.format(username=live_site.username, count=MESSAGES))


def shown_numbers(page) -> list[int]:
    return page.locator("#messages article.msg").evaluate_all(
        "elements => elements.map(e => Number(e.textContent.match(/(?:Question|Reply) (\\d+):/)[1]))"
    )


def test_scrolling_up_loads_older_messages_in_order(signed_in, live_site, long_conversation):
    page = signed_in
    page.goto(live_site.url + long_conversation["chat"])
    messages = page.locator("#messages article.msg")
    expect(messages).to_have_count(40)
    expect(page.get_by_text(f"Reply {MESSAGES - 1}:")).to_be_in_viewport()
    assert shown_numbers(page) == list(range(MESSAGES - 40, MESSAGES))
    # The newest turn keeps its actions: edit the last question, regenerate the last reply.
    page.locator("article.msg-user >> nth=-1").hover()
    expect(page.locator("article.msg-user >> nth=-1").locator(".edit-btn")).to_be_visible()

    for expected in (80, 120, MESSAGES):
        page.locator("#scroller").evaluate("scroller => { scroller.scrollTop = 0; }")
        expect(messages).to_have_count(expected)
    expect(page.locator("#load-earlier")).to_have_count(0)
    assert shown_numbers(page) == list(range(MESSAGES))
    page.locator("#scroller").evaluate("scroller => { scroller.scrollTop = 0; }")
    expect(page.get_by_text("Question 0:")).to_be_in_viewport()
    # An old reply loaded this way shows its tool chips and its decisions panel as on a full page.
    old_reply = page.locator(
        "#m-" + str(page.locator("article.msg-assistant >> nth=1").get_attribute("data-message-id"))
    )
    expect(old_reply.locator(".tool-chip")).to_contain_text("tide_lookup")
    expect(old_reply.locator(".approval")).to_be_visible()
    expect(old_reply.locator(".approval")).to_contain_text("send_email")
    screenshot(page, "long-history-scrolled-to-the-start")

    # Loading older pages leaves the newest turn's actions where they were.
    page.locator("article.msg-user >> nth=-1").hover()
    expect(page.locator("article.msg-user >> nth=-1").locator(".edit-btn")).to_be_visible()
    expect(page.locator(".edit-btn:visible")).to_have_count(1)


def test_a_share_page_loads_older_messages_from_the_keyboard_and_on_scrolling_up(
    browser, live_site, long_conversation
):
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        page.goto(live_site.url + long_conversation["share"])
        messages = page.locator("#messages article.msg")
        # The page opens at the top, under its title, with the button in view: nothing loads by itself.
        expect(page.get_by_role("heading", name="Tide log")).to_be_in_viewport()
        page.wait_for_timeout(500)
        expect(messages).to_have_count(40)
        screenshot(page, "long-history-share-page-opened")
        button = page.get_by_role("button", name="Load earlier messages")
        button.focus()
        page.keyboard.press("Enter")
        expect(messages).to_have_count(80)
        assert shown_numbers(page) == list(range(MESSAGES - 80, MESSAGES))
        # Then scrolling up loads the rest.
        for expected in (120, MESSAGES):
            page.locator("#scroller").evaluate("scroller => { scroller.scrollTop = 0; }")
            expect(messages).to_have_count(expected)
        screenshot(page, "long-history-share-page")
        assert shown_numbers(page) == list(range(MESSAGES))
        assert "data-message-id" not in page.locator("#messages").inner_html()
    finally:
        context.close()


def test_a_search_result_opens_the_old_message_it_found(signed_in, live_site, long_conversation):
    page = signed_in
    page.goto(f"{live_site.url}/search/?q=barnacles")
    page.locator(".result-title", has_text="Tide log").click()
    found = page.get_by_text("Question 8: where do barnacles live?")
    expect(found).to_be_in_viewport()
    screenshot(page, "long-history-search-result")
    assert shown_numbers(page)[-1] == MESSAGES - 1
