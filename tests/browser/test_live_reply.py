"""What a person sees while a reply is being written: its Markdown formatted as it streams."""

import itertools

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_chat import LAST_REPLY, open_demo_agent, send

pytestmark = pytest.mark.browser

# Notes, for every change of the message list, whether the block being written (the tail of a
# streaming reply) holds a list item or a code block, and the length of the reply's text.
WATCH_STREAMING_TAIL = """() => {
  window.seenLive = { li: false, code: false, lengths: [] };
  new MutationObserver(() => {
    const reply = document.querySelector('.msg-assistant[data-status="streaming"]');
    if (!reply) return;
    const tail = reply.querySelector(".tail");
    if (tail.querySelector("li")) window.seenLive.li = true;
    if (tail.querySelector(".codeblock pre code")) window.seenLive.code = true;
    window.seenLive.lengths.push(reply.querySelector(".msg-body").textContent.length);
  }).observe(document.getElementById("messages"), { childList: true, subtree: true, characterData: true });
}"""


def test_a_list_item_and_a_code_block_are_formatted_before_the_reply_ends(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    page.evaluate(WATCH_STREAMING_TAIL)
    send(page, "Format as you go [[words=400]] [[delay=0.03]]")
    reply = page.locator(LAST_REPLY)
    page.wait_for_function("() => window.seenLive.li && window.seenLive.code")
    screenshot(page, "live-streaming")
    expect(reply).to_have_attribute("data-status", "complete", timeout=30_000)

    seen = page.evaluate("window.seenLive")
    assert seen["li"], "a list item was shown formatted while its list was being written"
    assert seen["code"], "an unclosed code fence was shown as a code block"
    assert reply.locator(".tail").inner_html() == ""
    assert "```" not in reply.locator(".msg-body").inner_text()
    lengths = seen["lengths"]
    assert all(a <= b for a, b in itertools.pairwise(lengths)), "shown text never shrank"
