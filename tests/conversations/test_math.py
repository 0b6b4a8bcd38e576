"""Math in messages: TeX rendered on the server to MathML, sanitised like the rest."""

import re

import pytest

from conversations.rendering import render_markdown


@pytest.mark.parametrize(
    "text",
    [
        r"Euler: $e^{i\pi}+1=0$.",
        "$$\n\\int_0^1 x^2\\,dx = \\frac{1}{3}\n$$",
        r"inline \(a^2+b^2=c^2\) here",
        "\\[\n\\sum_{n=1}^\\infty \\frac{1}{n^2}\n\\]",
    ],
)
def test_each_math_notation_becomes_mathml(text):
    html = render_markdown(text)
    assert "<math" in html and "<mi>" in html
    assert "$" not in html and "\\(" not in html and "\\[" not in html


def test_display_math_is_a_block_and_inline_math_stays_in_its_sentence():
    assert '<math display="block">' in render_markdown("$$x = 1$$")
    assert render_markdown("so $x$ is").startswith('<p>so <math display="inline">')


@pytest.mark.parametrize(
    "prose", ["It costs $5 and $10 today.", "Pay $3.50, not $4.", "From $ 20 to $ 30", "a $ b $ c"]
)
def test_dollar_amounts_in_prose_stay_text(prose):
    html = render_markdown(prose)
    assert "<math" not in html and "$" in html


def test_tex_that_cannot_be_parsed_is_shown_as_code():
    assert render_markdown(r"broken $\frac{$ here").strip() == r"<p>broken <code>\frac{</code> here</p>"


@pytest.mark.parametrize(
    "text",
    [
        r"$\href{javascript:alert(1)}{x}$",
        "$<img src=x onerror=alert(1)>$",
        "$\\text{<script>alert(1)</script>}$",
        '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    ],
)
def test_math_cannot_smuggle_script_or_links(text):
    html = render_markdown(text)
    tags = re.findall(r"<[a-z][^>]*>", html)
    assert not [tag for tag in tags if re.search(r"\s(on\w+|href|xlink:href|src)=", tag)]
    assert not [tag for tag in tags if tag.startswith(("<script", "<img", "<a "))]
