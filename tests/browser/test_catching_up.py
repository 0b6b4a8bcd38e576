"""A page catches up on what it missed while its socket was not open (before it first opened, or dropped)."""

import json

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import expect_socket_open, screenshot
from tests.browser.test_approval_panels import OPEN_REQUEST, PAUSED_REPLY
from tests.browser.test_chat import LAST_REPLY, open_demo_agent, send
from tests.browser.test_sharing import share_link, start_conversation

pytestmark = pytest.mark.browser

SIMULATED = "This is a simulated SketricGen agent"


class HeldSocket:
    """The page's websockets go through Playwright: to the server, or closed at once while held."""

    def __init__(self, page, held: bool) -> None:
        self.page = page
        self.held = held
        self.current = None
        # The next `send` frame reaches the server, and the connection drops before its answer.
        self.drop_after_send = False
        page.route_web_socket("**/ws/**", self.route)

    def route(self, ws) -> None:
        if self.held:
            ws.close()
            return
        server = ws.connect_to_server()
        self.current = ws

        def to_server(message) -> None:
            dropping = self.drop_after_send and json.loads(message).get("type") == "send"
            server.send(message)
            if dropping:
                self.drop_after_send = False
                self.held = True
                ws.close()

        ws.on_message(to_server)

    def drop(self) -> None:
        self.held = True
        self.current.close()
        expect(self.page.locator("#connection")).not_to_have_attribute("data-socket", "open")

    def release(self) -> None:
        """Let the next connection through, and have the page try at once (as when it comes back online)."""
        self.held = False
        self.page.evaluate("window.dispatchEvent(new Event('online'))")


def send_and_wait(page, text: str, turn: int) -> None:
    """Send `text` and wait for its whole reply (the demo agent numbers the turns)."""
    send(page, text)
    expect(page.locator(LAST_REPLY)).to_contain_text(f"This is turn {turn} of this conversation")
    expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")


def expect_last_turn_once(page, text: str, turn: int) -> None:
    """The page shows `turn` turns, the last one `text` and its whole reply, each once."""
    expect(page.locator("article.msg-user")).to_have_count(turn)
    expect(page.locator("article.msg-user").last).to_contain_text(text)
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "complete")
    expect(reply).to_contain_text(f"This is turn {turn} of this conversation")
    expect(page.locator("article.msg-assistant")).to_have_count(turn)
    assert reply.locator(".msg-body").inner_text().count(SIMULATED) == 1


def test_a_tab_opened_before_a_message_shows_it_its_reply_and_the_request_it_closed(signed_in, live_site):
    page = signed_in
    open_demo_agent(page, live_site)
    send(page, "Mail the team [[hitl]] [[delay=0.01]]")
    expect(page.locator(PAUSED_REPLY).locator(OPEN_REQUEST)).to_have_attribute("data-state", "pending")
    second = page.context.new_page()
    socket = HeldSocket(second, held=True)
    second.goto(page.url)
    panel = second.locator(PAUSED_REPLY).locator(OPEN_REQUEST)
    expect(panel).to_have_attribute("data-state", "pending")
    paused = second.locator(PAUSED_REPLY)
    paused.hover()
    paused.get_by_role("button", name="Copy reply").focus()

    send_and_wait(page, "Never mind, tell me a joke instead", turn=2)
    expect(second.locator("article.msg-user")).to_have_count(1)

    socket.release()
    expect_socket_open(second)
    expect_last_turn_once(second, "Never mind, tell me a joke instead", turn=2)
    expect(panel).to_have_attribute("data-state", "replaced")
    expect(panel.locator("input, textarea, button")).to_have_count(0)
    # The reader stays where they were: on the control they had, with the newest message in view.
    expect(paused.get_by_role("button", name="Copy reply")).to_be_focused()
    expect(second.locator(LAST_REPLY).locator(".msg-time")).to_be_in_viewport()
    expect(second.locator("#composer")).to_have_attribute("data-state", "idle")
    screenshot(second, "catch-up-second-tab")


def test_after_a_drop_the_page_shows_what_another_tab_sent_and_its_own_reply_whole(signed_in, live_site):
    page = signed_in
    socket = HeldSocket(page, held=False)
    start_conversation(page, live_site, "First question")
    send(page, "Talk for a while [[words=150]] [[delay=0.02]]")
    expect(page.locator("article.msg-assistant")).to_have_count(2)
    streaming = page.locator(LAST_REPLY)
    expect(streaming).to_have_attribute("data-status", "streaming")
    expect(streaming.locator(".msg-body")).to_contain_text("simulated")
    streaming_id = streaming.get_attribute("data-message-id")
    socket.drop()

    other = page.context.new_page()
    other.goto(page.url)
    expect(other.locator(LAST_REPLY)).to_have_attribute("data-status", "complete", timeout=20_000)
    expect_socket_open(other)
    send_and_wait(other, "Meanwhile, from another tab", turn=3)
    expect(page.locator("article.msg-user")).to_have_count(2)

    socket.release()
    expect_socket_open(page)
    expect_last_turn_once(page, "Meanwhile, from another tab", turn=3)
    earlier = page.locator(f"#m-{streaming_id}")
    expect(earlier).to_have_attribute("data-status", "complete")
    body = earlier.locator(".msg-body").inner_text()
    assert body.count(SIMULATED) == 1
    assert body.count("This is turn 2 of this conversation") == 1
    expect(page.locator("#composer")).to_have_attribute("data-state", "idle")
    screenshot(page, "catch-up-after-drop")

    page.reload()  # what the page caught up on is what the conversation is
    assert page.locator(f"#m-{streaming_id} .msg-body").inner_text() == body
    expect(page.locator("article.msg-assistant")).to_have_count(3)


def test_a_live_share_viewer_catches_up_when_its_socket_opens(signed_in, live_site):
    page = signed_in
    start_conversation(page, live_site, "Plan the team offsite")
    url = share_link(page, live=True)
    viewer = page.context.new_page()
    socket = HeldSocket(viewer, held=True)
    viewer.goto(url)
    expect(viewer.locator("article.msg-user")).to_have_count(1)

    send_and_wait(page, "Now the agenda", turn=2)

    socket.release()
    expect(viewer.locator("#live-status")).to_have_attribute("data-state", "open")
    expect_last_turn_once(viewer, "Now the agenda", turn=2)
    screenshot(viewer, "catch-up-share-viewer")


def test_a_message_saved_as_the_socket_dropped_shows_once_and_not_as_still_sending(signed_in, live_site):
    page = signed_in
    socket = HeldSocket(page, held=False)
    start_conversation(page, live_site, "First question")
    socket.drop_after_send = True
    send(page, "Sent as the connection dropped")
    expect(page.locator("#connection")).not_to_have_attribute("data-socket", "open")
    expect(page.locator("article.msg-user.is-pending")).to_have_count(1)

    socket.release()
    expect_socket_open(page)
    expect_last_turn_once(page, "Sent as the connection dropped", turn=2)
    expect(page.locator("article.msg-user.is-pending")).to_have_count(0)
    expect(page.locator("#composer")).to_have_attribute("data-state", "idle")


def test_a_reply_that_started_during_a_drop_streams_on_after_it_whole(signed_in, live_site):
    page = signed_in
    socket = HeldSocket(page, held=False)
    start_conversation(page, live_site, "First question")
    socket.drop()
    other = page.context.new_page()
    other.goto(page.url)
    expect_socket_open(other)
    send(other, "Talk for a while [[words=150]] [[delay=0.02]]")
    expect(other.locator(LAST_REPLY)).to_have_attribute("data-status", "streaming")
    expect(other.locator(LAST_REPLY).locator(".msg-body")).to_contain_text("simulated")

    socket.release()
    expect_socket_open(page)
    reply = page.locator(LAST_REPLY)
    expect(reply).to_have_attribute("data-status", "streaming")
    expect(page.locator("#composer")).to_have_attribute("data-state", "running")
    expect(reply).to_have_attribute("data-status", "complete", timeout=20_000)
    expect_last_turn_once(page, "Talk for a while", turn=2)
    watched = other.locator(LAST_REPLY)
    expect(watched).to_have_attribute("data-status", "complete")
    assert reply.locator(".msg-body").inner_text() == watched.locator(".msg-body").inner_text()
    expect(page.locator("#composer")).to_have_attribute("data-state", "idle")
