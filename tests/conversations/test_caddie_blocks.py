"""Workflow chat question and plan blocks become a question with choices and a numbered plan, safely.

The examples follow the grammar of the platform's own client
(b3-fun/b3os packages/mcp/src/tools/parse-caddie-blocks.ts).
"""

import json

from conversations.caddie_blocks import repaired_json
from conversations.rendering import StreamingMarkdown, render_markdown

ASK = {
    "questions": [
        {
            "id": "chain",
            "type": "chain-id",
            "label": "Which network should the alert watch?",
            "required": True,
            "options": [
                {"value": "8453", "label": "Base", "description": "Low fees"},
                {"value": "1", "label": "Ethereum"},
            ],
        },
        {"id": "threshold", "type": "number", "label": "Alert threshold (USD)", "default": 2500},
    ]
}
PLAN = {
    "note": "A price alert in three steps.",
    "changes": [
        {
            "action": "add",
            "nodeId": "trigger",
            "type": "schedule",
            "description": "Check the price every 5 minutes",
        },
        {"action": "update", "nodeId": "notify", "description": "Send the alert to Slack"},
        {"action": "remove", "nodeId": "old", "type": "email", "description": "Drop the email step"},
    ],
}


def ask(block=ASK, before="I need two things first.", after="Then I will build it."):
    return f"{before}\n\n[[ASK]]\n{json.dumps(block, indent=2)}\n[[/ASK]]\n\n{after}"


def test_a_question_block_becomes_questions_with_choices_to_click():
    html = render_markdown(ask())

    assert "[[ASK]]" not in html and "questions" not in html
    assert html.index("I need two things first.") < html.index("The agent asks:") < html.index("Then I will")
    assert "<strong>Which network should the alert watch?</strong> (required)" in html
    assert (
        '<button type="button" class="caddie-choice" '
        'data-answer="Which network should the alert watch?: 8453">'
        'Base<span class="caddie-choice-detail">Low fees</span></button>'
    ) in html
    assert 'data-answer="Which network should the alert watch?: 1">Ethereum</button>' in html
    assert "<p>Default: 2500</p>" in html
    assert "write your own below" in html


def test_a_plan_block_becomes_a_numbered_plan():
    html = render_markdown(f"Here is my plan:\n[[PLAN]]{json.dumps(PLAN)}[[/PLAN]]\nShall I build it?")

    assert "[[PLAN]]" not in html and "nodeId" not in html
    assert "<p>A price alert in three steps.</p>" in html
    assert html.count("<li>") == 3
    assert (
        '<li><span class="caddie-action">ADD</span> Check the price every 5 minutes (schedule)</li>' in html
    )
    assert '<li><span class="caddie-action">UPDATE</span> Send the alert to Slack</li>' in html
    assert html.index("Here is my plan:") < html.index("<ol>") < html.index("Shall I build it?")


def test_markers_in_the_middle_of_a_line_start_a_block_as_in_the_platforms_client():
    html = render_markdown(f"Sure! [[ASK]]{json.dumps(ASK)}[[/ASK]] Anything else?")

    assert "<p>Sure!</p>" in html
    assert "caddie-choice" in html
    assert "<p>Anything else?</p>" in html


def test_json_as_a_model_writes_it_is_repaired_as_the_platforms_client_does():
    trailing_commas = '{"questions": [{"label": "Name?", "options": [{"value": "a"},],},]}'
    line_break_in_string = '{"changes": [{"action": "add", "description": "two\nlines"}]}'
    extra_brace = '{"questions": [{"label": "Name?"}}]}'

    assert repaired_json(trailing_commas)["questions"][0]["options"] == [{"value": "a"}]
    assert repaired_json(line_break_in_string)["changes"][0]["description"] == "two lines"
    assert repaired_json(extra_brace) == {"questions": [{"label": "Name?"}]}
    assert repaired_json("not json at all") is None


def test_a_block_that_cannot_be_read_is_shown_as_text_without_its_markers():
    html = render_markdown("[[ASK]]{oops[[/ASK]]")

    assert "could not read" in html
    assert "<code>{oops</code>" in html
    assert "[[ASK]]" not in html


def test_markers_inside_code_are_left_alone():
    html = render_markdown("```\n[[ASK]]{}[[/ASK]]\n```")

    assert "[[ASK]]{}[[/ASK]]" in html
    assert "caddie" not in html.replace("codeblock", "")


def test_agent_markup_in_a_block_stays_inert():
    block = {
        "questions": [
            {
                "label": "<script>alert(1)</script>",
                "description": "<img src=x onerror=alert(2)>",
                "options": [{"value": '"><svg onload=alert(3)>', "label": "<b>pick</b>"}],
            }
        ]
    }
    plan = {"changes": [{"action": 'add" onclick="x', "description": "<a href='javascript:x'>go</a>"}]}
    html = render_markdown(ask(block) + f"\n\n[[PLAN]]{json.dumps(plan)}[[/PLAN]]")

    assert "<script" not in html and "<img" not in html and "<svg" not in html and "<b>" not in html
    assert 'onclick="' not in html and "<a " not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert (
        'data-answer="&lt;script&gt;alert(1)&lt;/script&gt;: &quot;&gt;&lt;svg onload=alert(3)&gt;"' in html
    )


def test_while_streaming_a_block_is_held_back_until_it_closes():
    text = ask()
    streaming = StreamingMarkdown()
    committed = []
    for start in range(0, len(text), 7):
        finished = streaming.feed(text[start : start + 7])
        if finished:
            committed.append(finished[0])
            assert "[[ASK]]" not in finished[0] and '"questions"' not in finished[0]

    assert any("caddie-choice" in html for html in committed)
    assert streaming.text == text
