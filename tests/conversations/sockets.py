"""What the websocket tests share: reading frames from a socket, and the messages a conversation saved."""

import asyncio
import json

from asgiref.sync import sync_to_async

from conversations.models import Conversation, Message


async def frames_until(communicator, frame_type: str, seconds: float = 10) -> list[dict]:
    """Every frame received up to and including the first of `frame_type`."""
    received = []
    while True:
        received.append(json.loads(await communicator.receive_from(timeout=seconds)))
        if received[-1]["type"] == frame_type:
            return received


async def watching(conversation_id: str) -> bool:
    """Whether a socket of the conversation watches it in this process's hub within a second (a socket
    starts watching just after it is accepted)."""
    from conversations.relay import fanout

    for _ in range(100):
        if fanout.hub.watchers.get(conversation_id):
            return True
        await asyncio.sleep(0.01)
    return False


def text_of(frames: list[dict]) -> str:
    return "".join(f["text"] for f in frames if f["type"] == "text_delta")


@sync_to_async
def messages_of(conversation: Conversation) -> list[Message]:
    return list(conversation.messages.all())


@sync_to_async
def history_of(conversation: Conversation) -> list[Message]:
    """The conversation's chosen path (what history, share pages and exports show)."""
    return list(conversation.chosen_path())
