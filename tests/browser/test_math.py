"""Math in a reply, drawn by the browser from the server's MathML."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_chat import open_demo_agent, send

pytestmark = pytest.mark.browser


def test_math_in_a_reply_is_typeset_and_a_price_is_not(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    send(page, r"Is $e^{i\pi}+1=0$ worth $5 or $10?")
    reply = page.locator("article.msg-assistant >> nth=-1")
    expect(reply).to_have_attribute("data-status", "complete")
    formula = reply.locator("math").first
    expect(formula).to_be_visible()
    assert formula.evaluate("m => m.namespaceURI") == "http://www.w3.org/1998/Math/MathML"
    expect(reply.locator(".msg-body")).to_contain_text("worth $5 or $10?")
    screenshot(page, "chat-math")
