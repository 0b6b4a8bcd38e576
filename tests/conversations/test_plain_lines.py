"""A line of plain prose is shown as the full renderer would show it, without running the renderer."""

import random

import pytest

from conversations import rendering
from conversations.rendering import render_markdown

# What plain prose is made of, and what Markdown, HTML or the sanitiser would treat differently.
PROSE = [*"abcxyzÄéß019 ,.;:?!'\"()/%+=@“”„‘’…–—-", "word", "Wort", "42", "  "]
HAZARDS = [
    *"*_`[]<>&#~|$\\\n\t\u00a0",
    *["1.", "2)", "- ", "+ ", "> ", "    ", "![", "[[ASK]]", "\\(", "&amp;"],
    *[" _em_ ", " *em* ", "`c`", "~~s~~"],
]


def full_rendering(text: str) -> str:
    return rendering.sanitize(rendering._markdown().render(text))


def random_lines(seed: int, count: int) -> list[str]:
    chooser = random.Random(seed)
    lines = []
    for _ in range(count):
        parts = [chooser.choice(PROSE) for _ in range(chooser.randint(1, 12))]
        if chooser.random() < 0.4:
            parts.insert(chooser.randint(0, len(parts)), chooser.choice(HAZARDS))
        lines.append("".join(parts) + chooser.choice(["", "", " ", "\n", "\n\n", "  \n"]))
    return lines


@pytest.mark.parametrize("seed", range(4))
def test_every_line_renders_as_the_full_renderer_renders_it(seed):
    for text in random_lines(seed, 2000):
        if text.strip():
            assert render_markdown(text) == full_rendering(text), repr(text)


@pytest.mark.parametrize(
    "text",
    [
        "1764547200123456789 This is a simulated agent, not a real model.",
        "Das Wetter in München: 21 Grad, „sonnig“ – sagt man.",
        "It's “fine” (mostly), 50% of the time… really!",
        "A finished paragraph.\n\n",
    ],
)
def test_plain_prose_is_shown_without_running_the_markdown_parser(text, monkeypatch):
    expected = full_rendering(text)

    def no_parser():
        raise AssertionError("the Markdown parser ran for plain prose")

    monkeypatch.setattr(rendering, "_markdown", no_parser)
    assert render_markdown(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "1. first",
        "2) second",
        "- item",
        "# Title",
        "    code",
        "a *b*",
        "a _b_ c",
        "snake_case",
        "a & b",
        "x < y",
        "$x$",
    ],
)
def test_anything_markdown_would_change_goes_through_the_renderer(text):
    assert render_markdown(text) == full_rendering(text)
