"""Frames as text: one JSON encoding, and pieces for frames over the websocket message limit."""

import itertools
import json
from collections.abc import Awaitable, Callable
from typing import Any

SendFrame = Callable[[str], Awaitable[None]]

# Daphne refuses websocket messages over 1 MiB. A frame longer than this many
# characters (at most 4 bytes each in UTF-8) goes out in pieces of this size.
PIECE_CHARS = 64 * 1024


def frame(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


_piece_ids = itertools.count(1)


def frame_pieces(text: str) -> list[str]:
    """The websocket messages that carry frame `text`: itself, or `frame.piece` frames under the limit.

    The browser joins the `data` of pieces 0 to `count - 1` of one `id` and reads the result as
    the frame (docs/websocket.md). Pieces of different frames may interleave; their ids tell them apart.
    """
    if len(text) <= PIECE_CHARS:
        return [text]
    piece_id = next(_piece_ids)
    count = -(-len(text) // PIECE_CHARS)
    return [
        frame(
            {
                "type": "frame.piece",
                "id": piece_id,
                "index": index,
                "count": count,
                "data": text[index * PIECE_CHARS : (index + 1) * PIECE_CHARS],
            }
        )
        for index in range(count)
    ]


RESYNC = frame({"type": "resync"})
