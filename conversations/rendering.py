"""The site's one Markdown renderer: agent text in, sanitised HTML out.

Agent text comes from a third party. Raw HTML in it is shown as text, code is
highlighted with CSS classes (the stylesheet is static/chatsite/pygments.css),
images load only from this site, and everything passes an allow-list sanitiser
(nh3) last, so a mistake in the Markdown layer cannot reach the browser.
"""

import re
from collections.abc import Sequence
from functools import lru_cache

import nh3
from latex2mathml.converter import convert as latex_to_mathml
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml, unescapeAll
from markdown_it.renderer import RendererHTML
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.texmath import texmath_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

from conversations.caddie_blocks import caddie_blocks_plugin

# Change whenever the HTML for the same Markdown changes: kept renderings are then redone as they are shown.
RENDERER_VERSION = 1
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
# Highlighting is skipped above this size: a huge block is shown plain rather than slowly.
HIGHLIGHT_MAX_CHARS = 100_000
LANGUAGE_LABEL_MAX = 32

ALLOWED_TAGS = frozenset(
    {
        "a", "blockquote", "br", "button", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
        "hr", "img", "li", "ol", "p", "pre", "s", "span", "strong", "table", "tbody", "td",
        "th", "thead", "tr", "ul",
    }
)  # fmt: skip
# MathML as latex2mathml writes it: presentation elements only (no links, no annotation-xml).
MATH_TAGS = frozenset(
    {
        "math", "mi", "mn", "mo", "ms", "mspace", "mtext", "mrow", "mfrac", "msqrt", "mroot",
        "msub", "msup", "msubsup", "munder", "mover", "munderover", "mtable", "mtr", "mtd",
        "mstyle", "mpadded", "mphantom", "menclose", "merror", "semantics", "annotation",
    }
)  # fmt: skip
MATH_ATTRIBUTES = frozenset(
    {
        "display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace", "accent",
        "accentunder", "movablelimits", "form", "displaystyle", "scriptlevel", "linethickness",
        "columnalign", "columnspacing", "rowspacing", "rowlines", "columnlines", "frame", "width",
        "height", "depth", "notation", "encoding", "minsize", "maxsize", "symmetric", "largeop",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "button": {"type", "data-answer"},  # a choice in a question block (conversations.caddie_blocks)
    **{tag: set(MATH_ATTRIBUTES) for tag in MATH_TAGS},
}
ALIGN_CLASSES = frozenset({"align-left", "align-center", "align-right"})
ALLOWED_CLASSES = {
    "div": {
        "codeblock",
        "codeblock-head",
        "caddie-ask",
        "caddie-question",
        "caddie-choices",
        "caddie-plan",
        "caddie-unreadable",
    },
    "p": {"caddie-title", "caddie-hint"},
    "button": {"caddie-choice"},
    "span": {name for name in STANDARD_TYPES.values() if name}
    | {"codeblock-lang", "caddie-choice-detail", "caddie-action"},
    "th": set(ALIGN_CLASSES),
    "td": set(ALIGN_CLASSES),
}

_SCHEME = re.compile(r"^\s*([a-zA-Z][a-zA-Z0-9+.\-]*):")


def is_same_origin_path(url: str) -> bool:
    """An absolute path on this site: `/x`, but not `//host/x` or `/\\host/x`, which leave it."""
    return url.startswith("/") and not url.startswith("//") and "\\" not in url and not url[:1].isspace()


def is_allowed_link(url: str) -> bool:
    match = _SCHEME.match(url)
    return match is None or match.group(1).lower() in LINK_SCHEMES


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src":
        return value if is_same_origin_path(value) else None
    return value


@lru_cache(maxsize=1)
def _cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(ALLOWED_TAGS | MATH_TAGS),
        clean_content_tags={"script", "style"},
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        attribute_filter=_filter_attribute,
        link_rel="noopener noreferrer nofollow",
        url_schemes=set(LINK_SCHEMES),
        allowed_classes={tag: set(names) for tag, names in ALLOWED_CLASSES.items()},
    )


def sanitize(html: str) -> str:
    return _cleaner().clean(html)


def highlight_code(code: str, language: str) -> str:
    """Code as HTML spans with Pygments' short CSS classes; plain escaped text for unknown languages."""
    lexer = _lexer(language) if language and len(code) <= HIGHLIGHT_MAX_CHARS else None
    if lexer is None:
        return escapeHtml(code)
    return highlight(code, lexer, _formatter())


@lru_cache(maxsize=64)
def _lexer(language: str) -> Lexer | None:
    """Pygments' lexer for `language`, or None. Looking one up costs ~3 ms; a lexer is reusable."""
    try:
        return get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


@lru_cache(maxsize=1)
def _formatter() -> HtmlFormatter:
    return HtmlFormatter(nowrap=True)


def _code_block(code: str, language: str) -> str:
    label = escapeHtml(language[:LANGUAGE_LABEL_MAX] or "text")
    return (
        '<div class="codeblock"><div class="codeblock-head">'
        f'<span class="codeblock-lang">{label}</span></div>'
        f"<pre><code>{highlight_code(code, language)}</code></pre></div>\n"
    )


def _render_fence(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    info = unescapeAll(token.info).strip() if token.info else ""
    language = info.split(maxsplit=1)[0] if info else ""
    return _code_block(token.content, language)


def _render_code_block(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return _code_block(tokens[idx].content, "")


def _inside_link(tokens: Sequence[Token], idx: int) -> bool:
    depth = 0
    for token in reversed(tokens[:idx]):
        if token.type == "link_close":
            depth += 1
        elif token.type == "link_open":
            if depth == 0:
                return True
            depth -= 1
    return False


def _render_image(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """Only this site's images load; any other image becomes a link to it, labelled with its alt text."""
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env)
    src = str(token.attrGet("src") or "")
    title = token.attrGet("title")
    if is_same_origin_path(src):
        title_attr = f' title="{escapeHtml(str(title))}"' if title else ""
        return f'<img src="{escapeHtml(src)}" alt="{escapeHtml(alt)}"{title_attr}>'
    label = escapeHtml(alt or src)
    if not src or not is_allowed_link(src) or _inside_link(tokens, idx):
        return label
    return f'<a href="{escapeHtml(src)}">{label}</a>'


def _render_math(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """TeX as MathML, which browsers draw without any script; TeX they cannot parse stays visible as code."""
    token = tokens[idx]
    display = "block" if "block" in token.type else "inline"
    try:
        mathml = latex_to_mathml(token.content.strip(), display=display)
    except Exception:  # latex2mathml raises many kinds of error on malformed TeX
        return f"<code>{escapeHtml(token.content)}</code>"
    return f"<p>{mathml}</p>\n" if display == "block" else mathml


def _alignment_as_class(state: StateCore) -> None:
    """Table alignment arrives as inline `style`, which the CSP refuses; a class does the same job."""
    for token in state.tokens:
        if token.type in ("th_open", "td_open") and token.attrs:
            style = str(token.attrs.pop("style", ""))
            align = style.removeprefix("text-align:")
            if f"align-{align}" in ALIGN_CLASSES:
                token.attrSet("class", f"align-{align}")


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    md.add_render_rule("fence", _render_fence)
    md.add_render_rule("code_block", _render_code_block)
    md.add_render_rule("image", _render_image)
    md.core.ruler.push("alignment_as_class", _alignment_as_class)
    md.use(caddie_blocks_plugin)
    # $…$ and $$…$$; a dollar next to a digit ("$5 and $10") or a space stays text.
    md.use(dollarmath_plugin, allow_labels=False, allow_space=False, allow_digits=False, double_inline=True)
    md.use(texmath_plugin, delimiters="brackets")  # \(…\) and \[…\]
    for kind in ("math_inline", "math_inline_double", "math_block", "math_block_eqno"):
        md.add_render_rule(kind, _render_math)
    return md


def markdown_tokens(text: str) -> list:
    """The token stream the renderer works from (for reading a text's words without its markup)."""
    return _markdown().parse(text)


# One line of prose that Markdown, the sanitiser and HTML all leave as it is: letters, digits, spaces and
# plain punctuation, starting with a letter, a digit or an opening quote or bracket, and not a list item
# ("1." or "1)"). It holds no `<`, `>` or `&`, so it is its own HTML. Most of a streamed reply's open
# block is such a line, and it is shown live at a fraction of a full rendering's cost.
_PLAIN_LINE = re.compile(r"(?!\d{1,9}[.)])[\w(\"'“„‘][\w ,.;:?!'\"()/%+=@“”„‘’…–—-]*")


def render_markdown(text: str) -> str:
    """Agent or user Markdown as sanitised HTML, safe to insert into the page."""
    if not text or not text.strip():
        return ""
    line = text.rstrip()
    if _PLAIN_LINE.fullmatch(line) and "_" not in line:  # `\w` has `_`, which is emphasis
        return f"<p>{line}</p>\n"
    return sanitize(_markdown().render(text))


# A fence may follow block quote markers and list markers ("> - ```py").
_FENCE_OPEN = re.compile(r"^(?:[ \t>]|(?:[-+*]|\d{1,9}[.)])(?=[ \t]))*(`{3,}|~{3,})(.*)$")
_FENCE_CLOSE = re.compile(r"^[ \t>]*(`{3,}|~{3,})[ \t]*$")
_CADDIE_OPEN = re.compile(r"\[\[(ASK|PLAN)\]\]")


class StreamingMarkdown:
    """Renders a reply while it streams, each finished Markdown block once.

    A block is finished at a blank line outside a fenced code block, or at a
    closing fence. Only whole lines are classified, and only the new text of
    each delta is scanned, so the total cost grows with the length of the
    reply. Finished blocks are rendered on their own; the caller renders the
    full text once at the end, which fixes what only the whole document can
    decide (loose lists, reference links).

    Reading `text`, `committed_html` or `tail` joins strings: read them when
    needed (snapshots), not once per delta.
    """

    def __init__(self, text: str = ""):
        self._reset()
        if text:
            self.feed(text)

    def _reset(self) -> None:
        self._committed_text: list[str] = []
        self._html: list[str] = []
        self._tail: list[str] = []
        self._tail_length = 0
        self._line: list[str] = []
        self._fence: tuple[str, int] | None = None
        self._open_block_marker = ""  # the closing marker of a Caddie block still open

    @property
    def text(self) -> str:
        return self.committed_text + self.tail

    @property
    def committed_text(self) -> str:
        return self._joined(self._committed_text)

    @property
    def committed_html(self) -> str:
        return self._joined(self._html)

    @property
    def tail(self) -> str:
        return self._joined(self._tail)

    @property
    def has_tail(self) -> bool:
        """Whether any text of the open block has come."""
        return self._tail_length > 0

    @staticmethod
    def _joined(parts: list[str]) -> str:
        if len(parts) > 1:
            parts[:] = ["".join(parts)]
        return parts[0] if parts else ""

    def feed(self, delta: str) -> tuple[str, str] | None:
        """Append `delta`. Returns (html of newly finished blocks, open tail), or None if none finished."""
        if not delta:
            return None
        offset = self._tail_length
        self._tail.append(delta)
        self._tail_length += len(delta)
        cut = -1
        start = 0
        while (newline := delta.find("\n", start)) != -1:
            self._line.append(delta[start:newline])
            line = "".join(self._line)
            self._line.clear()
            if self._ends_block(line):
                cut = offset + newline + 1
            start = newline + 1
        if start < len(delta):
            self._line.append(delta[start:])
        if cut < 0:
            return None
        pending = self.tail
        finished, rest = pending[:cut], pending[cut:]
        self._tail[:] = [rest] if rest else []
        self._tail_length = len(rest)
        self._committed_text.append(finished)
        html = render_markdown(finished) if finished.strip() else ""
        self._html.append(html)
        return html, rest

    def replace(self, text: str) -> tuple[str, str]:
        """Start over with `text` as the whole reply so far."""
        self._reset()
        self.feed(text)
        return self.committed_html, self.tail

    def _ends_block(self, line: str) -> bool:
        if self._fence is not None:
            closing = _FENCE_CLOSE.match(line)
            if closing:
                marker = closing.group(1)
                if marker[0] == self._fence[0] and len(marker) >= self._fence[1]:
                    self._fence = None
                    return True
            return False
        if self._open_block_marker:
            if self._open_block_marker not in line:
                return False
            self._open_block_marker = ""
            return True
        caddie = _CADDIE_OPEN.search(line)
        if caddie and f"[[/{caddie.group(1)}]]" not in line[caddie.end() :]:
            self._open_block_marker = f"[[/{caddie.group(1)}]]"
            return False
        if not line.strip():
            return True
        opening = _FENCE_OPEN.match(line)
        if opening:
            marker, info = opening.groups()
            if not (marker[0] == "`" and "`" in info):
                self._fence = (marker[0], len(marker))
        return False
