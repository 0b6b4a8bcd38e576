"""Feedback on replies: the owner rates a finished reply; the admin lists, filters, counts and exports it."""

import csv
import io

import pytest
from django.urls import reverse

from agents.models import Agent
from conversations.models import Conversation, Feedback, Message
from conversations.usage import usage_by_agent, usage_report
from tests.conversations.conftest import signed_in_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def reply(conversation):
    conversation.title = "Tides"
    conversation.save()
    Message.objects.create(conversation=conversation, role=Message.Role.USER, content="High tide?")
    return Message.objects.create(
        conversation=conversation, role=Message.Role.ASSISTANT, content="At **noon**."
    )


def rate(user, message, rating, comment=""):
    url = reverse("message_feedback", args=[message.conversation_id, message.pk])
    return signed_in_client(user).post(
        url, {"rating": rating, "comment": comment}, HTTP_ACCEPT="application/json"
    )


def test_the_owner_rates_a_reply_and_changes_their_mind(alice, reply):
    assert rate(alice, reply, "up").json() == {"rating": "up", "comment": ""}
    answer = rate(alice, reply, "down", "  Noon is wrong: it is 14:10. ")
    assert answer.json() == {"rating": "down", "comment": "Noon is wrong: it is 14:10."}

    saved = Feedback.objects.get()
    assert (saved.message, saved.rating, saved.agent, saved.user) == (
        reply,
        "down",
        reply.conversation.agent,
        alice,
    )
    page = signed_in_client(alice).get(reply.conversation.get_absolute_url()).content.decode()
    assert 'data-rating="down" aria-label="Bad reply" title="Bad reply" aria-pressed="true"' in page
    assert 'data-rating="up" aria-label="Good reply" title="Good reply" aria-pressed="false"' in page
    assert "Noon is wrong: it is 14:10.</textarea>" in page


def test_someone_elses_reply_is_a_404_and_nothing_is_saved(alice, bob, reply, sketricgen_agent):
    assert rate(bob, reply, "down").status_code == 404
    bobs = Conversation.objects.create(owner=bob, agent=sketricgen_agent, title="Mine")
    url = reverse("message_feedback", args=[bobs.id, reply.pk])  # his conversation, her reply
    assert signed_in_client(bob).post(url, {"rating": "down"}).status_code == 404
    assert not Feedback.objects.exists()


def test_a_question_a_running_reply_and_a_bad_rating_are_refused(alice, reply):
    question = reply.conversation.messages.get(role=Message.Role.USER)
    assert rate(alice, question, "up").status_code == 404
    assert rate(alice, reply, "maybe").json() == {"error": "Choose thumbs up or thumbs down."}
    assert rate(alice, reply, "up", "x" * 2001).status_code == 400
    Message.objects.filter(pk=reply.pk).update(status=Message.Status.STREAMING)
    answer = rate(alice, reply, "up")
    assert answer.status_code == 400 and "finish" in answer.json()["error"]
    assert not Feedback.objects.exists()


def test_a_share_page_shows_no_feedback_buttons(alice, reply):
    from conversations import services

    rate(alice, reply, "up")
    link = services.share_conversation(alice, reply.conversation, access="members", live=False)
    page = signed_in_client(alice).get(link.get_absolute_url()).content.decode()
    assert "At <strong>noon</strong>" in page and "feedback-btn" not in page


@pytest.fixture
def rated(alice, bob, reply, sketricgen_credential):
    """Helper: one reply rated down with a comment; Writer: one rated up."""
    rate(alice, reply, "down", '=HYPERLINK("http://evil.example")')
    writer = Agent.objects.create(
        name="Writer", slug="writer", credential=sketricgen_credential, upstream_agent_id="agent-demo"
    )
    bobs = Conversation.objects.create(owner=bob, agent=writer, title="Poem")
    poem = Message.objects.create(conversation=bobs, role=Message.Role.ASSISTANT, content="Roses")
    rate(bob, poem, "up", "Lovely")
    return writer


def test_the_admin_lists_feedback_per_agent_and_exports_what_it_shows(admin_user, reply, rated):
    client = signed_in_client(admin_user)
    changelist = reverse("admin:conversations_feedback_changelist")
    helper = reply.conversation.agent
    page = client.get(f"{changelist}?agent__id__exact={helper.pk}").content.decode()
    assert "HYPERLINK" in page and "Lovely" not in page
    assert f"csv/?agent__id__exact={helper.pk}" in page  # the Download CSV link keeps the filter

    exported = client.get(f"{changelist}csv/?agent__id__exact={helper.pk}")
    assert exported["Content-Disposition"] == 'attachment; filename="feedback.csv"'
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert len(rows) == 1
    assert rows[0]["agent"] == "Helper" and rows[0]["rating"] == "down" and rows[0]["user"] == "alice"
    assert rows[0]["comment"] == '\'=HYPERLINK("http://evil.example")'  # text in a spreadsheet
    assert rows[0]["reply"] == "At **noon**." and rows[0]["conversation"] == "Tides"

    everything = client.get(f"{changelist}csv/?rating__exact=up").content.decode()
    assert "Lovely" in everything and "HYPERLINK" not in everything

    agents = client.get(reverse("admin:agents_agent_changelist")).content.decode()
    assert f'?agent__id__exact={helper.pk}">👍 0 · 👎 1</a>' in agents
    assert f'?agent__id__exact={rated.pk}">👍 1 · 👎 0</a>' in agents


def test_feedback_needs_the_admin_permission_to_view_it(bob, rated):
    assert signed_in_client(bob).get(reverse("admin:conversations_feedback_csv")).status_code == 302


def test_usage_counts_feedback_per_day_and_per_agent(admin_user, reply, rated):
    helper = reply.conversation.agent
    today = usage_report(helper).days[-1]
    assert (today.thumbs_up, today.thumbs_down) == (0, 1)
    site = usage_report()
    period = site.period
    assert (period.thumbs_up, period.thumbs_down) == (1, 1)
    by_agent = {agent.name: usage for agent, usage in usage_by_agent()}
    assert (by_agent["Writer"].thumbs_up, by_agent["Helper"].thumbs_down) == (1, 1)

    page = signed_in_client(admin_user).get("/admin/usage/").content.decode()
    assert "Feedback on replies" in page and "1 👍 · 1 👎" in page
    exported = signed_in_client(admin_user).get("/admin/usage/?format=csv").content.decode()
    header, *rows = exported.strip().splitlines()
    assert header.endswith(",files,thumbs_up,thumbs_down") and rows[-1].endswith(",1,1")
