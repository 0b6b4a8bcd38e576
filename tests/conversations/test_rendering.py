import re
from html.parser import HTMLParser

import pytest

from conversations import rendering
from conversations.rendering import StreamingMarkdown, render_markdown


class Elements(HTMLParser):
    """Every start tag with its attributes, as a browser would read them."""

    def __init__(self, html: str):
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, {name: value or "" for name, value in attrs}))


def elements(html: str) -> list[tuple[str, dict[str, str]]]:
    return Elements(html).found


# http(s), mailto, a same-site path, or a relative address without a scheme.
SAFE_URL = re.compile(r"(https?:|mailto:|/(?![/\\])|(?![a-z][a-z0-9+.\-]*:)[^/\\])", re.IGNORECASE)


def assert_inert(html: str) -> None:
    """No element or attribute that could run script or load from elsewhere."""
    for tag, attributes in elements(html):
        assert tag not in {"script", "svg", "iframe", "object", "embed", "style", "math", "form", "base"}, tag
        for name, value in attributes.items():
            assert not name.startswith("on"), (tag, name)
            assert name != "style", tag
            if name in ("href", "src"):
                assert SAFE_URL.match(value), (tag, value)
        if tag == "img":
            assert attributes.get("src", "/").startswith("/"), attributes
            assert not attributes.get("src", "/").startswith("//"), attributes


# Formatting


def test_paragraphs_emphasis_and_lists():
    html = render_markdown("Hello **bold** and *it* and ~~gone~~.\n\n- one\n- two\n\n1. first\n2. second")
    assert "<p>Hello <strong>bold</strong> and <em>it</em> and <s>gone</s>.</p>" in html
    assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in html
    assert "<ol>\n<li>first</li>\n<li>second</li>\n</ol>" in html


def test_table_alignment_is_a_class_not_a_style():
    html = render_markdown("| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |")
    assert "<table>" in html
    assert '<th class="align-left">a</th>' in html
    assert '<td class="align-center">2</td>' in html
    assert '<td class="align-right">3</td>' in html
    assert "style" not in html


def test_fenced_code_is_highlighted_with_classes():
    html = render_markdown('```python\ndef greet(name):\n    return "<b>" + name\n```')
    assert '<div class="codeblock">' in html
    assert '<span class="codeblock-lang">python</span>' in html
    assert '<span class="k">def</span>' in html
    assert '<span class="nf">greet</span>' in html
    assert "&lt;b&gt;" in html
    assert "style=" not in html


def test_code_in_an_unknown_language_is_plain_escaped_text():
    html = render_markdown("```nosuchlanguage\n<script>x</script>\n```")
    assert '<span class="codeblock-lang">nosuchlanguage</span>' in html
    assert "<pre><code>&lt;script&gt;x&lt;/script&gt;\n</code></pre>" in html


def test_inline_code_and_headings():
    html = render_markdown("# Title\n\nUse `pip install` now.")
    assert "<h1>Title</h1>" in html
    assert "<code>pip install</code>" in html


def test_links_get_rel_and_keep_allowed_schemes():
    html = render_markdown(
        "[site](https://example.com/a?b=1) [mail](mailto:a@example.com) <https://auto.example>"
    )
    assert '<a href="https://example.com/a?b=1" rel="noopener noreferrer nofollow">site</a>' in html
    assert '<a href="mailto:a@example.com" rel="noopener noreferrer nofollow">mail</a>' in html
    assert '<a href="https://auto.example" rel="noopener noreferrer nofollow">' in html


def test_empty_text_renders_nothing():
    assert render_markdown("") == ""
    assert render_markdown("  \n\n ") == ""


# Agent output is untrusted (SECURITY.md)


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        "Hi <script>alert(1)</script> there",
        "<img src=x onerror=alert(1)>",
        '<img src="x" onerror="alert(1)">',
        "<svg onload=alert(1)><circle/></svg>",
        "<svg><script>alert(1)</script></svg>",
        '<a href="javascript:alert(1)">x</a>',
        "<iframe src=https://evil.example></iframe>",
        "<style>body{display:none}</style>",
        "<div style='position:fixed'>x</div>",
        "[click](javascript:alert(1))",
        "[click](JaVaScRiPt:alert(1))",
        "[click](&#106;avascript:alert(1))",
        "[click](&#x6A;&#x61;vascript:alert(1))",
        "[click](java\tscript:alert(1))",
        "[click]( javascript:alert(1))",
        "[click](vbscript:msgbox(1))",
        "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "[click](DATA:text/html,<script>alert(1)</script>)",
        "<javascript:alert(1)>",
        "![x](javascript:alert(1))",
        "![x](data:image/png;base64,iVBORw0KGgo=)",
        '![x" onerror="alert(1)](/static/a.png)',
        "![x\" onerror='alert(1)' y=\"](https://evil.example/a.png)",
        "![<img src=x onerror=alert(1)>](/a.png)",
        '[x](https://example.com "a\\" onmouseover=\\"alert(1)")',
        "```\n</code></pre><script>alert(1)</script>\n```",
        '```js" onmouseover="alert(1)\nx\n```',
        "| <script>alert(1)</script> |\n|---|\n| <img src=x onerror=alert(1)> |",
    ],
)
def test_agent_output_is_inert(text):
    html = render_markdown(text)
    assert_inert(html)
    assert "<script" not in html.lower()


def test_raw_html_is_shown_as_text():
    html = render_markdown("<b>bold?</b> <img src=x onerror=alert(1)>")
    assert "&lt;b&gt;bold?&lt;/b&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_javascript_link_is_not_a_link():
    for text in ["[a](javascript:alert(1))", "[a](JaVaScRiPt:alert(1))", "[a](&#106;avascript:alert(1))"]:
        html = render_markdown(text)
        assert "<a" not in html
        assert "href" not in html


def test_external_image_becomes_a_link_with_its_alt_text():
    html = render_markdown("![a chart](https://evil.example/track.png?u=1)")
    assert "<img" not in html
    assert (
        '<a href="https://evil.example/track.png?u=1" rel="noopener noreferrer nofollow">a chart</a>' in html
    )


@pytest.mark.parametrize(
    "src", ["//evil.example/x.png", "http://evil.example/x.png", "HTTPS://evil.example/x.png", "x.png"]
)
def test_only_same_origin_paths_load_as_images(src):
    html = render_markdown(f"![pic]({src})")
    assert "<img" not in html
    assert "pic" in html


def test_same_origin_image_stays_an_image():
    html = render_markdown('![diagram](/media/d.png "The diagram")')
    assert '<img src="/media/d.png" alt="diagram" title="The diagram">' in html


def test_image_without_a_loadable_address_is_just_its_alt_text():
    html = render_markdown("![pixel](data:image/gif;base64,R0lGODlhAQABAAAAACw=)")
    assert "<img" not in html
    assert "<a" not in html
    assert "pixel" in html


def test_external_image_inside_a_link_does_not_nest_links():
    html = render_markdown("[![badge](https://evil.example/b.svg)](https://example.com)")
    assert html.count("<a ") == 1
    assert "<img" not in html


def test_alt_text_cannot_smuggle_attributes():
    html = render_markdown('![x" onerror="alert(1)](/a.png)')
    (img,) = [attributes for tag, attributes in elements(html) if tag == "img"]
    assert img == {"src": "/a.png", "alt": 'x" onerror="alert(1)'}


def test_sanitizer_is_the_last_line_of_defence():
    """Even HTML the Markdown layer would never produce is cleaned."""
    dirty = (
        '<p onclick="x()">a</p><img src="https://evil.example/p.png"><img src="//evil.example/p.png">'
        '<a href="javascript:alert(1)">j</a><span class="k evil">k</span><div class="overlay">d</div>'
        "<script>alert(1)</script><svg onload=alert(1)></svg>"
    )
    clean = rendering.sanitize(dirty)
    assert_inert(clean)
    assert "<img>" in clean
    assert 'class="k"' in clean
    assert "evil" not in clean
    assert "overlay" not in clean
    assert "<script" not in clean


# Streaming


def feed_all(stream: StreamingMarkdown, text: str, size: int = 1) -> list[tuple[str, str]]:
    commits = []
    for i in range(0, len(text), size):
        commit = stream.feed(text[i : i + size])
        if commit is not None:
            commits.append(commit)
        assert stream.committed_text + stream.tail == text[: i + size]
    return commits


def test_nothing_commits_inside_a_paragraph():
    stream = StreamingMarkdown()
    assert stream.feed("Hello ") is None
    assert stream.feed("world,\nstill the same ") is None
    assert stream.feed("paragraph") is None
    assert stream.committed_html == ""
    assert stream.tail == "Hello world,\nstill the same paragraph"


def test_a_blank_line_commits_the_block_before_it():
    stream = StreamingMarkdown()
    assert stream.feed("First **para**.\n") is None
    html, tail = stream.feed("\nSecond")
    assert html == "<p>First <strong>para</strong>.</p>\n"
    assert tail == "Second"
    assert stream.tail == "Second"
    assert stream.committed_html == html


def test_one_delta_can_finish_several_blocks():
    stream = StreamingMarkdown()
    html, tail = stream.feed("# One\n\nTwo\n\nthr")
    assert html == "<h1>One</h1>\n<p>Two</p>\n"
    assert tail == "thr"


def test_blank_lines_inside_a_fence_keep_it_open_until_it_closes():
    stream = StreamingMarkdown()
    assert stream.feed("```python\nx = 1\n") is None
    assert stream.feed("\n\n") is None
    assert stream.feed("y = 2\n\n") is None
    html, tail = stream.feed("```\nAfter")
    assert '<span class="codeblock-lang">python</span>' in html
    assert "x" in html
    assert "y" in html
    assert tail == "After"


def test_a_fence_closes_only_with_its_own_marker():
    stream = StreamingMarkdown()
    assert stream.feed("````md\n```\nnot closed\n\n") is None
    assert stream.feed("~~~~\n\n") is None
    html, _ = stream.feed("````\n")
    assert "not closed" in html


def test_fence_in_a_list_item_stays_open():
    stream = StreamingMarkdown()
    assert stream.feed("- step:\n  ```sh\n  ls\n\n  pwd\n") is None
    html, _ = stream.feed("  ```\n")
    assert "ls" in html
    assert "pwd" in html


def test_inline_triple_backticks_do_not_open_a_fence():
    stream = StreamingMarkdown()
    assert stream.feed("Use ```code``` here\n") is None
    assert stream.feed("```not a fence``` either\n") is None
    assert stream.feed("\n") is not None


def test_committed_html_and_tail_always_add_up_to_the_text():
    text = (
        "Intro paragraph.\n\n"
        "```js\nconst a = 1;\n\nconst b = 2;\n```\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "- one\n- two\n\n"
        "Last words"
    )
    for size in (1, 2, 3, 7, 50, len(text)):
        stream = StreamingMarkdown()
        commits = feed_all(stream, text, size)
        assert "".join(html for html, _ in commits) == stream.committed_html
        assert stream.text == text
        assert stream.tail == "Last words"
        assert stream.committed_html + render_markdown(stream.tail) == render_markdown(text)


def test_replace_starts_over():
    stream = StreamingMarkdown()
    stream.feed("Old text\n\nold tail")
    html, tail = stream.replace("New\n\nnew tail")
    assert html == "<p>New</p>\n"
    assert tail == "new tail"
    assert stream.text == "New\n\nnew tail"
    assert stream.committed_html == html
    assert stream.replace("") == ("", "")


def test_replace_keeps_an_open_fence_open():
    stream = StreamingMarkdown()
    html, tail = stream.replace("Intro\n\n```\ncode\n\n")
    assert html == "<p>Intro</p>\n"
    assert tail == "```\ncode\n\n"
    assert stream.feed("more\n\n") is None
    assert stream.feed("```\n") is not None


def test_each_block_is_rendered_once_however_small_the_deltas(monkeypatch):
    calls: list[str] = []
    real = rendering.render_markdown

    def counting(text: str) -> str:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(rendering, "render_markdown", counting)
    blocks = [f"Paragraph {i} " + "word " * 30 for i in range(12)]
    text = "\n\n".join(blocks) + "\n\n"
    text = text[:2000].ljust(2000, "x")
    stream = StreamingMarkdown()
    for char in text:
        stream.feed(char)
    finished = stream.committed_text
    assert len(calls) == finished.count("\n\n")
    # Every finished character went through the renderer exactly once.
    assert sum(len(chunk) for chunk in calls) == len(finished)
    assert stream.text == text


def test_streaming_cost_grows_linearly(monkeypatch):
    """Ten times the text costs about ten times the characters rendered and joined."""
    rendered = []
    monkeypatch.setattr(rendering, "render_markdown", lambda text: rendered.append(len(text)) or "")

    def cost(paragraphs: int) -> int:
        rendered.clear()
        stream = StreamingMarkdown()
        for char in ("Some words in a paragraph.\n\n" * paragraphs) + "open tail":
            stream.feed(char)
        return sum(rendered)

    small, large = cost(20), cost(200)
    assert large == 10 * small
