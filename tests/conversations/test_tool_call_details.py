"""A tool call's arguments (and result, where the platform sends one) are kept with the reply and shown."""

import json

import pytest
from asgiref.sync import sync_to_async
from django.urls import reverse

from tests.conversations.conftest import signed_in_client
from tests.conversations.sockets import frames_until, messages_of

pytestmark = pytest.mark.django_db(transaction=True)

ARGUMENTS = {"query": "server-sent events AG-UI", "max_results": 3}


@pytest.fixture(autouse=True)
def quick_fake(sketricgen):
    sketricgen.app.token_delay = 0


async def test_the_streamed_arguments_reach_the_page_and_are_saved(alice, conversation, connect):
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "look it up [[tool]] [[words=12]]"})
    frames = await frames_until(ws, "reply.ended")
    await ws.disconnect()

    finished = next(f for f in frames if f["type"] == "tool_finished")
    assert json.loads(finished["arguments"]) == ARGUMENTS
    reply = (await messages_of(conversation))[-1]
    assert json.loads(reply.tool_calls[0]["arguments"]) == ARGUMENTS
    assert reply.tool_calls[0]["name"] == "web_search"


async def test_a_result_sent_after_the_call_is_saved_with_it(alice, conversation, connect):
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "look it up [[tool]] [[camel]] [[words=12]]"})
    await frames_until(ws, "reply.ended")
    await ws.disconnect()

    call = (await messages_of(conversation))[-1].tool_calls[0]
    assert json.loads(call["result"])[0]["title"] == "AG-UI protocol: events"
    assert json.loads(call["arguments"]) == ARGUMENTS


async def test_history_shows_the_arguments_as_indented_json_under_the_tool_name(alice, conversation, connect):
    _, ws = await connect(alice, conversation.id)
    await ws.send_json_to({"type": "send", "text": "look it up [[tool]] [[words=12]]"})
    await frames_until(ws, "reply.ended")
    await ws.disconnect()

    page = await sync_to_async(
        lambda: signed_in_client(alice).get(reverse("conversation", args=[conversation.id]))
    )()
    html = page.content.decode()
    chip = html[html.index('<li class="tool-chip"') :]
    chip = chip[: chip.index("</li>")]
    assert '<summary><span class="spinner"' in chip
    assert '<span class="tool-name">web_search</span>' in chip
    assert '<pre class="tool-arguments">{\n  &quot;query&quot;: &quot;server-sent events AG-UI&quot;,' in chip
