"""A reply that paused for decisions, in the order it was written: text, decisions, the text they produced.

A reply's `content` is its whole text. A request for decisions the run went
on after carries `at`, the length of the text written before it; the earlier
requests of a reply that paused more than once are kept in
`earlier_approvals`. Those requests cut the text into parts: each part's
text comes before its decisions, and the text after the last of them is the
reply's current part. A request without `at` (pending, or closed without the
run going on, or saved before parts existed) is shown after the whole text.
"""

from typing import Any

from conversations.rendering import render_markdown


def after_decisions(text: str) -> str:
    """A paused reply's text, ended so that what the run writes after the decisions starts a new paragraph."""
    if not text.strip() or text.endswith("\n\n"):
        return text
    return text.rstrip(" \t") + ("\n" if text.endswith("\n") else "\n\n")


def decided_requests(
    approval: dict[str, Any], earlier_approvals: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The requests the reply went on after, in order: the ones that cut its text into parts."""
    return [
        request
        for request in (*earlier_approvals, approval)
        if isinstance(request, dict) and isinstance(request.get("at"), int)
    ]


def split_text(text: str, requests: list[dict[str, Any]]) -> tuple[list[str], str]:
    """(the text before each of `requests`, the text after the last); offsets past the text are clamped."""
    before, start = [], 0
    for request in requests:
        end = min(max(request["at"], start), len(text))
        before.append(text[start:end])
        start = end
    return before, text[start:]


def rendered_parts(
    text: str, approval: dict[str, Any], earlier_approvals: list[dict[str, Any]]
) -> tuple[str, list[dict[str, Any]]]:
    """(the current part's HTML, every earlier part as {"html", "approval"}) of a reply."""
    requests = decided_requests(approval, earlier_approvals)
    before, current = split_text(text, requests)
    parts = [
        {"html": render_markdown(part), "approval": request}
        for part, request in zip(before, requests, strict=True)
    ]
    return render_markdown(current), parts
