"""Search results for the sidebar and the search page: the first matching message as plain text.

Which conversations match is `services.search_conversations` (full text on
PostgreSQL, substrings elsewhere); this module picks what a result shows.
A snippet is never Markdown: the text is parsed and only its words are kept.
"""

import re
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Q, QuerySet
from markdown_it.token import Token

from conversations import services
from conversations.models import Conversation, Message
from conversations.rendering import markdown_tokens

SNIPPET_WIDTH = 160
# Tokens whose `content` is what a reader sees (the rest is structure).
TEXT_TOKENS = frozenset(
    {"text", "code_inline", "fence", "code_block", "math_inline", "math_inline_double", "math_block"}
)


@dataclass
class Segment:
    """A piece of a snippet; `match` when it is one of the words searched for."""

    text: str
    match: bool = False


@dataclass
class SearchHit:
    conversation: Conversation
    url: str
    # The title and the first matching message, in pieces.
    title: list[Segment] = field(default_factory=list)
    snippet: list[Segment] = field(default_factory=list)


def plain_text(markdown: str) -> str:
    """The words of a Markdown text, as a reader sees them, on one line."""
    pieces: list[str] = []

    def walk(tokens: list[Token]) -> None:
        for token in tokens:
            if token.type in TEXT_TOKENS:
                pieces.append(token.content)
            elif token.type in ("softbreak", "hardbreak"):
                pieces.append(" ")
            if token.children:
                walk(token.children)
            if token.block and token.nesting == -1:
                pieces.append(" ")

    walk(markdown_tokens(markdown))
    return " ".join("".join(pieces).split())


def query_words(query: str) -> list[str]:
    """The words a query looks for, without web-search syntax (quotes, `-word`, OR)."""
    words = []
    for raw in query.split():
        if raw.startswith("-") or raw == "OR":
            continue
        word = raw.strip("\"'")
        if word:
            words.append(word)
    return words


def word_pattern(words: list[str]) -> re.Pattern[str] | None:
    """Matches each word at the start of a word, with its endings ("tide" marks "tides")."""
    if not words:
        return None
    # A plural's stem too, as full-text search on PostgreSQL finds "tide" for "tides".
    stems = {re.sub(r"(?<=\w\w\w)(es|s)$", "", word.lower()) for word in words}
    alternatives = "|".join(re.escape(stem) for stem in sorted(stems, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})\w*", re.IGNORECASE)


def marked(text: str, pattern: re.Pattern[str] | None) -> list[Segment]:
    """`text` in pieces, the matches of `pattern` marked."""
    if pattern is None:
        return [Segment(text)] if text else []
    segments, position = [], 0
    for found in pattern.finditer(text):
        if found.start() > position:
            segments.append(Segment(text[position : found.start()]))
        segments.append(Segment(found.group(), match=True))
        position = found.end()
    if position < len(text):
        segments.append(Segment(text[position:]))
    return segments


def snippet(text: str, pattern: re.Pattern[str], width: int = SNIPPET_WIDTH) -> list[Segment] | None:
    """A window of `text` around its first match, marked; None when nothing matches."""
    found = pattern.search(text)
    if found is None:
        return None
    start = max(0, found.start() - width // 3)
    if start:
        # Start at a word, not inside one.
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < found.start() else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", found.end(), end)
        end = space if space > 0 else end
    segments = marked(text[start:end], pattern)
    if start:
        segments.insert(0, Segment("…"))
    if end < len(text):
        segments.append(Segment("…"))
    return segments


def first_hit(conversation: Conversation, query: str) -> SearchHit:
    """The conversation as a result: its marked title, and the first message whose words match."""
    words = query_words(query)
    pattern = word_pattern(words)
    hit = SearchHit(conversation, conversation.get_absolute_url(), title=marked(conversation.title, pattern))
    if pattern is None:
        return hit
    holding_a_word = Q()
    for word in {re.sub(r"(?<=\w\w\w)(es|s)$", "", w) for w in words}:
        holding_a_word |= Q(content__icontains=word)
    candidates = conversation.chosen_path().filter(holding_a_word)
    for message_id, content in candidates.values_list("pk", "content").iterator():
        pieces = snippet(plain_text(content), pattern)
        if pieces is not None:
            hit.url += f"?message={message_id}"
            hit.snippet = pieces
            break
    return hit


def search_results(user, query: str, limit: int, as_typed: bool = False) -> list[SearchHit]:
    """The user's conversations matching `query` (archived ones included), newest first.

    `as_typed`: the query is being typed, so its words may be unfinished; on PostgreSQL each
    word then matches as a prefix ("narwh" finds "narwhals"). Substring search does already.
    """
    if as_typed and connection.vendor == "postgresql":
        found = prefix_search(user, query)[:limit]
    else:
        found = services.search_conversations(user, query)[:limit]
    return [first_hit(conversation, query) for conversation in found]


def prefix_search(user, query: str) -> QuerySet[Conversation]:
    """Full-text search in which every word of `query` is a prefix (PostgreSQL only)."""
    from django.contrib.postgres.search import SearchQuery, SearchVector

    words = re.findall(r"\w+", query)
    mine = services.conversations_for(user)
    if not words:
        return mine.none()
    wanted = SearchQuery(
        " & ".join(f"{word}:*" for word in words), config=services.SEARCH_CONFIG, search_type="raw"
    )
    in_messages = (
        Message.objects.filter(conversation__owner_id=user.pk, in_history=True)
        .annotate(document=SearchVector("content", config=services.SEARCH_CONFIG))
        .filter(document=wanted)
        .values("conversation_id")
    )
    return mine.annotate(title_document=SearchVector("title", config=services.SEARCH_CONFIG)).filter(
        Q(title_document=wanted) | Q(pk__in=in_messages)
    )


def hit_json(hit: SearchHit) -> dict:
    """A result for the sidebar's live search; the browser builds it from text, never HTML."""
    conversation = hit.conversation
    return {
        "id": conversation.id,
        "url": hit.url,
        "title": [[s.text, s.match] for s in hit.title],
        "snippet": [[s.text, s.match] for s in hit.snippet],
        "agent": conversation.agent.name,
        "archived": conversation.archived_at is not None,
    }
