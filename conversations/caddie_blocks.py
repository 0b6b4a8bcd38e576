"""Question and plan blocks in workflow chat (B3OS Caddie) messages, as a markdown-it plugin.

A Caddie message may hold `[[ASK]]{json}[[/ASK]]` (questions for the user) and
`[[PLAN]]{json}[[/PLAN]]` (the changes it proposes to a workflow). The grammar
and JSON repair follow the platform's own client (b3-fun/b3os,
packages/mcp/src/tools/parse-caddie-blocks.ts):

- ASK: `{"questions": [{"id", "type", "label", "options": [{"value", "label",
  "description"?}]?, "required"?, "default"?, "description"?}]}`
- PLAN: `{"changes": [{"action": "add" | "update" | "remove", "nodeId",
  "type"?, "description"}], "note"?}`, shown as "1. [ADD] description (type)"
- JSON as a model writes it: line breaks inside strings and trailing commas
  are repaired, then one surplus brace is dropped.
- An answer is sent as "<question label>: <option value>", the line format the
  platform's client asks for.

That client reads only the first block of each kind; here every block is read
[guess: nothing says a message holds only one]. A marker in the middle of a
line starts a new block, as the client's regular expression allows. The HTML
produced here passes the site's sanitiser like all Markdown output.
"""

import json
import re
from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.rules_block import StateBlock
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

KINDS = ("ASK", "PLAN")
PLAN_ACTIONS = frozenset({"add", "update", "remove"})
MAX_QUESTIONS = 20
MAX_OPTIONS = 20
MAX_CHANGES = 50
# A marker preceded, or a closing marker followed, by text on its line.
_MARKER_AFTER_TEXT = re.compile(r"(?<=\S)[ \t]*(\[\[(?:ASK|PLAN)\]\])")
_TEXT_AFTER_CLOSE = re.compile(r"(\[\[/(?:ASK|PLAN)\]\])[ \t]*(?=\S)")
_OPENING = re.compile(r"\[\[(ASK|PLAN)\]\]")
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def repaired_json(text: str) -> Any:
    """The JSON of a block, repaired as the platform's client does; None when it cannot be read."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    repaired = _TRAILING_COMMA.sub(r"\1", re.sub(r"\r?\n", " ", text))
    try:
        return json.loads(repaired)
    except ValueError:
        return _rebalanced(repaired)


def _brace_positions(text: str, brace: str) -> list[int]:
    positions, in_string, escaped = [], False, False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            in_string = not in_string
        elif not in_string and char == brace:
            positions.append(index)
    return positions


def _rebalanced(text: str) -> Any:
    """Drop one surplus brace (the last-but-one closing or a later opening one) until the JSON reads."""
    opening, closing = _brace_positions(text, "{"), _brace_positions(text, "}")
    if len(closing) > len(opening):
        candidates = list(reversed(closing[:-1]))
    elif len(opening) > len(closing):
        candidates = opening[1:]
    else:
        return None
    for position in candidates:
        try:
            return json.loads(text[:position] + text[position + 1 :])
        except ValueError:
            continue
    return None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _shown(value: Any) -> str:
    """A question's default as its client shows it: lists joined, objects as JSON."""
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return "" if value is None else str(value)


def render_questions(block: Any) -> str:
    questions = (
        [q for q in block.get("questions") or [] if isinstance(q, dict)] if isinstance(block, dict) else []
    )
    questions = [q for q in questions if _text(q.get("label"))][:MAX_QUESTIONS]
    if not questions:
        return ""
    parts = ['<div class="caddie-ask"><p class="caddie-title"><strong>The agent asks:</strong></p>']
    for question in questions:
        label = _text(question["label"])
        required = " (required)" if question.get("required") else ""
        parts.append(f'<div class="caddie-question"><p><strong>{escapeHtml(label)}</strong>{required}</p>')
        if _text(question.get("description")):
            parts.append(f"<p>{escapeHtml(_text(question['description']))}</p>")
        default = _shown(question.get("default"))
        if default:
            parts.append(f"<p>Default: {escapeHtml(default)}</p>")
        options = [o for o in question.get("options") or [] if isinstance(o, dict)][:MAX_OPTIONS]
        choices = []
        for option in options:
            value = _text(option.get("value")) or _text(option.get("label"))
            name = _text(option.get("label")) or value
            if not value:
                continue
            answer = escapeHtml(f"{label}: {value}")
            detail = _text(option.get("description"))
            detail_html = f'<span class="caddie-choice-detail">{escapeHtml(detail)}</span>' if detail else ""
            choices.append(
                f'<button type="button" class="caddie-choice" data-answer="{answer}">'
                f"{escapeHtml(name)}{detail_html}</button>"
            )
        if choices:
            parts.append(f'<div class="caddie-choices">{"".join(choices)}</div>')
        parts.append("</div>")
    parts.append('<p class="caddie-hint">Choose an answer, or write your own below.</p></div>\n')
    return "".join(parts)


def render_plan(block: Any) -> str:
    changes = (
        [c for c in block.get("changes") or [] if isinstance(c, dict)] if isinstance(block, dict) else []
    )
    changes = [c for c in changes if _text(c.get("description"))][:MAX_CHANGES]
    if not changes:
        return ""
    parts = ['<div class="caddie-plan"><p class="caddie-title"><strong>Proposed workflow plan</strong></p>']
    if _text(block.get("note")):
        parts.append(f"<p>{escapeHtml(_text(block['note']))}</p>")
    parts.append("<ol>")
    for change in changes:
        action = _text(change.get("action")).lower()
        badge = (
            f'<span class="caddie-action">{escapeHtml(action.upper())}</span> '
            if action in PLAN_ACTIONS
            else ""
        )
        kind = f" ({escapeHtml(_text(change.get('type')))})" if _text(change.get("type")) else ""
        parts.append(f"<li>{badge}{escapeHtml(_text(change['description']))}{kind}</li>")
    parts.append("</ol></div>\n")
    return "".join(parts)


def unreadable(kind: str, content: str) -> str:
    what = "a question" if kind == "ASK" else "a plan"
    return (
        f'<div class="caddie-unreadable"><p>The agent sent {what} this site could not read:</p>'
        f"<pre><code>{escapeHtml(content)}</code></pre></div>\n"
    )


def _separate_markers(state: StateCore) -> None:
    """Put each marker that shares a line with other text at the start of a line of its own."""
    if "[[" in state.src:
        state.src = _TEXT_AFTER_CLOSE.sub(r"\1\n\n", _MARKER_AFTER_TEXT.sub(r"\n\n\1", state.src))


def _block_rule(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    if state.sCount[start_line] - state.blkIndent >= 4:
        return False
    start = state.bMarks[start_line] + state.tShift[start_line]
    opening = _OPENING.match(state.src, start, state.eMarks[start_line])
    if opening is None:
        return False
    kind = opening.group(1)
    close = state.src.find(f"[[/{kind}]]", opening.end())
    if close == -1:
        return False  # not closed (yet, while streaming): left as text
    if silent:
        return True
    line = start_line
    while line < end_line and state.eMarks[line] < close:
        line += 1
    token = state.push(f"caddie_{kind.lower()}", "", 0)
    token.content = state.src[opening.end() : close].strip()
    token.map = [start_line, line + 1]
    state.line = line + 1
    return True


def _render(kind: str):
    def render(
        self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
    ) -> str:
        content = tokens[idx].content
        block = repaired_json(content)
        html = render_questions(block) if kind == "ASK" else render_plan(block)
        return html or unreadable(kind, content)

    return render


def caddie_blocks_plugin(md: MarkdownIt) -> None:
    """Adds the `[[ASK]]` and `[[PLAN]]` blocks to `md`."""
    md.core.ruler.after("normalize", "caddie_separate_markers", _separate_markers)
    md.block.ruler.before(
        "fence", "caddie_block", _block_rule, {"alt": ["paragraph", "reference", "blockquote", "list"]}
    )
    for kind in KINDS:
        md.add_render_rule(f"caddie_{kind.lower()}", _render(kind))
