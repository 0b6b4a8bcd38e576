"""The chat websockets (docs/websocket.md): authorise each frame, then call the relay.

`ConversationConsumer` is the owner's socket; `SharedConversationConsumer` lets a
signed-in member watch a live share link, read-only.
"""

import json
import time
from typing import Any, NamedTuple

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.base import SessionBase
from django.urls import reverse

from conversations import relay
from conversations.models import Conversation, ShareLink, share_group_name
from conversations.socket_limits import open_sockets

USER_MESSAGE = '"type":"user_message"'
MAX_FRAME_CHARS = 64 * 1024
FLOOD_FRAMES = 20
FLOOD_SECONDS = 10.0


def as_shared(text: str, token: str) -> str:
    """A frame as a share viewer gets it: files under the link's token, never the owner's addresses."""
    if USER_MESSAGE not in text:
        return text
    payload = json.loads(text)
    for attachment in payload.get("message", {}).get("attachments", []):
        attachment["url"] = reverse("shared_file", args=[token, attachment["id"]])
    return relay.frame(payload)


def owned_conversation_exists(user_id: int, conversation_id: str) -> bool:
    return Conversation.objects.filter(pk=conversation_id, owner_id=user_id).exists()


def still_signed_in(user_id: int, session: SessionBase) -> bool:
    """The user is active and the session that opened the socket was not logged out."""
    if session.session_key is None or not session.exists(session.session_key):
        return False
    return get_user_model().objects.filter(pk=user_id, is_active=True).exists()


def live_link_conversation(user, token: str) -> tuple[int, str] | None:
    """(link id, conversation id) of the live link `token` names, if `user` may watch it."""
    if not (user.is_authenticated and user.is_active):
        return None
    link = ShareLink.objects.by_token(token)
    if link is None or not link.live or link.access != ShareLink.Access.MEMBERS:
        return None
    return link.pk, link.conversation_id


def error_frame(code: str, message: str, **extra: Any) -> str:
    return relay.frame({"type": "error", "code": code, "message": message, **extra})


class Refusal(NamedTuple):
    code: str
    message: str
    close_code: int


SIGNED_OUT = Refusal("SIGNED_OUT", "You are signed out. Sign in again.", 4401)
LINK_CLOSED = Refusal("NOT_FOUND", "This link no longer works.", 4404)
TOO_MANY_SOCKETS = Refusal(
    "SOCKET_LIMIT", "Too many chat pages are open for your account. Close some of them.", 4429
)


class FrameConsumer(AsyncWebsocketConsumer):
    """Reads JSON frames, refusing floods and bad frames. Subclasses implement:

    - `access_refusal()`: why the socket may no longer act, or None; asked at every frame, in the
      database thread, after the sign-in check (a refusal closes the socket);
    - `handle(request)`: act on one frame, a dict.
    """

    user_id: int
    conversation_id: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recent_frames: list[float] = []
        self.counted_user_id: int | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Also when the socket dropped or the consumer crashed or was cancelled.
            if self.counted_user_id is not None:
                open_sockets.release(self.counted_user_id)

    async def accept_counted(self, user_id: int) -> bool:
        """Accept the socket as one of the user's `SOCKETS_PER_USER`; past the cap, refuse it and close."""
        if not open_sockets.take(user_id):
            await self.accept()
            await self.send(text_data=error_frame(TOO_MANY_SOCKETS.code, TOO_MANY_SOCKETS.message))
            await self.close(code=TOO_MANY_SOCKETS.close_code)
            return False
        self.counted_user_id = user_id
        await self.accept()
        return True

    async def send_frame(self, text: str) -> None:
        """Every frame of the relay goes out here, in pieces when it is large."""
        for piece in relay.frame_pieces(text):
            await self.send(text_data=piece)

    async def relay_frames(self, message: dict[str, Any]) -> None:
        """Frames of a reply that another process is relaying."""
        for text in message["frames"]:
            await self.send_frame(text)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.counted_user_id is None:  # refused at connect, closing
            return
        if self.flooding():
            await self.send(text_data=error_frame("RATE_LIMITED", "Too many frames; slow down."))
            return
        if text_data is None or len(text_data) > MAX_FRAME_CHARS:
            await self.send(text_data=error_frame("BAD_FRAME", "Frames are JSON text of at most 64 KiB."))
            return
        try:
            request = json.loads(text_data)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            await self.send(text_data=error_frame("BAD_FRAME", "Frames are JSON objects."))
            return
        refusal = await database_sync_to_async(self.refusal)()
        if refusal is not None:
            await self.send(text_data=error_frame(refusal.code, refusal.message))
            await self.close(code=refusal.close_code)
            return
        await self.handle(request)

    def flooding(self) -> bool:
        now = time.monotonic()
        self.recent_frames = [t for t in self.recent_frames if now - t < FLOOD_SECONDS]
        self.recent_frames.append(now)
        return len(self.recent_frames) > FLOOD_FRAMES

    def refusal(self) -> Refusal | None:
        """One trip to the database thread per frame: the sign-in, then the access check."""
        if not still_signed_in(self.user_id, self.scope["session"]):
            return SIGNED_OUT
        return self.access_refusal()

    def access_refusal(self) -> Refusal | None:
        raise NotImplementedError

    async def handle(self, request: dict[str, Any]) -> None:
        raise NotImplementedError

    async def resume(self, request: dict[str, Any]) -> None:
        message_id = message_id_of(request)
        found = message_id is not None and await relay.resume(
            self.conversation_id, message_id, self.send_frame, reply_to=self.channel_name
        )
        if not found:
            raise relay.TurnRefused("NOT_FOUND", "No such reply in this conversation.")


class ConversationConsumer(FrameConsumer):
    async def connect(self) -> None:
        user = self.scope["user"]
        self.conversation_id = self.scope["url_route"]["kwargs"]["conversation_id"]
        if not user.is_authenticated or not await database_sync_to_async(owned_conversation_exists)(
            user.pk, self.conversation_id
        ):
            await self.close()
            return
        self.user_id = user.pk
        if not await self.accept_counted(user.pk):
            return
        await relay.watch(self.conversation_id, self.send_frame, reply_to=self.channel_name)

    async def disconnect(self, code: int) -> None:
        # The reply goes on without this socket and is saved when it ends.
        if hasattr(self, "user_id"):
            relay.unwatch(self.conversation_id, self.send_frame)

    def access_refusal(self) -> Refusal | None:
        if owned_conversation_exists(self.user_id, self.conversation_id):
            return None
        return Refusal("NOT_FOUND", "This conversation no longer exists.", 4404)

    async def handle(self, request: dict[str, Any]) -> None:
        kind = request.get("type")
        client_id = str(request.get("client_id", ""))[:64]
        try:
            if kind == "send":
                text = request.get("text")
                if not isinstance(text, str):
                    raise relay.TurnRefused("INVALID_INPUT", "A message needs text.")
                timezone_name = str(request.get("timezone", ""))[:64]
                attachment_ids = request.get("attachments", [])
                if not isinstance(attachment_ids, list) or not all(
                    isinstance(item, str) and len(item) <= 26 for item in attachment_ids
                ):
                    raise relay.TurnRefused("BAD_FRAME", "attachments is a list of attachment ids.")
                await relay.start_reply(
                    self.conversation_id,
                    user_id=self.user_id,
                    text=text,
                    client_id=client_id,
                    timezone_name=timezone_name,
                    attachment_ids=attachment_ids,
                )
            elif kind == "stop":
                await relay.stop_reply(self.conversation_id, message_id_of(request))
            elif kind == "decide":
                message_id = message_id_of(request)
                if message_id is None:
                    raise relay.TurnRefused("BAD_FRAME", "decide needs a message_id.")
                await relay.continue_after_approval(
                    self.conversation_id,
                    user_id=self.user_id,
                    message_id=message_id,
                    decisions=request.get("decisions"),
                )
            elif kind in ("retry", "regenerate"):
                message_id = message_id_of(request)
                if message_id is None:
                    raise relay.TurnRefused("BAD_FRAME", f"{kind} needs a message_id.")
                await relay.retry_reply(
                    self.conversation_id,
                    user_id=self.user_id,
                    message_id=message_id,
                    regenerate=kind == "regenerate",
                )
            elif kind == "edit":
                message_id, text = message_id_of(request), request.get("text")
                if message_id is None or not isinstance(text, str):
                    raise relay.TurnRefused("BAD_FRAME", "edit needs a message_id and text.")
                timezone_name = str(request.get("timezone", ""))[:64]
                await relay.edit_and_resend(
                    self.conversation_id,
                    user_id=self.user_id,
                    message_id=message_id,
                    text=text,
                    client_id=client_id,
                    timezone_name=timezone_name,
                )
            elif kind == "resume":
                await self.resume(request)
            else:
                raise relay.TurnRefused("UNKNOWN_TYPE", "Unknown frame type.")
        except relay.TurnRefused as refused:
            await self.send(text_data=error_frame(refused.code, refused.message, client_id=client_id))


class SharedConversationConsumer(FrameConsumer):
    """A member watching a live share link: snapshots and reply events, and nothing that changes anything."""

    async def connect(self) -> None:
        self.token = self.scope["url_route"]["kwargs"]["token"]
        found = await database_sync_to_async(live_link_conversation)(self.scope["user"], self.token)
        if found is None:
            await self.close()
            return
        self.link_id, self.conversation_id = found
        self.user_id = self.scope["user"].pk
        await self.channel_layer.group_add(share_group_name(self.link_id), self.channel_name)
        if not await self.accept_counted(self.user_id):
            return
        await relay.watch(self.conversation_id, self.send_frame, reply_to=self.channel_name)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "link_id"):
            relay.unwatch(self.conversation_id, self.send_frame)
            await self.channel_layer.group_discard(share_group_name(self.link_id), self.channel_name)

    async def send_frame(self, text: str) -> None:
        await super().send_frame(as_shared(text, self.token))

    async def share_closed(self, event: dict[str, Any]) -> None:
        await self.send(text_data=error_frame(LINK_CLOSED.code, LINK_CLOSED.message))
        await self.close(code=LINK_CLOSED.close_code)

    def access_refusal(self) -> Refusal | None:
        if live_link_conversation(self.scope["user"], self.token) == (self.link_id, self.conversation_id):
            return None
        return LINK_CLOSED

    async def handle(self, request: dict[str, Any]) -> None:
        client_id = str(request.get("client_id", ""))[:64]
        try:
            if request.get("type") != "resume":
                raise relay.TurnRefused(
                    "READ_ONLY", "This is a shared conversation: you can watch it, not change it."
                )
            await self.resume(request)
        except relay.TurnRefused as refused:
            await self.send(text_data=error_frame(refused.code, refused.message, client_id=client_id))


def message_id_of(request: dict[str, Any]) -> int | None:
    value = request.get("message_id")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
