"""The chat websockets (docs/websocket.md): authorise each frame, then call the relay.

`ConversationConsumer` is the owner's socket; `SharedConversationConsumer` lets a
signed-in member watch a live share link, read-only.
"""

import json
import logging
import time
import weakref
from typing import Any, NamedTuple

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from chatsite.languages import language_of_scope
from conversations import access, protocol, relay
from conversations.models import share_group_name
from conversations.protocol import RefusalCode
from conversations.socket_limits import open_sockets

logger = logging.getLogger(__name__)

MAX_FRAME_CHARS = 64 * 1024
FLOOD_FRAMES = 20
FLOOD_SECONDS = 10.0


def as_shared(text: str, token: str) -> str:
    """A frame as a share viewer gets it: files under the link's token, never the owner's addresses."""
    if not protocol.is_user_message(text):
        return text
    payload = json.loads(text)
    for attachment in payload.get("message", {}).get("attachments", []):
        attachment["url"] = reverse("shared_file", args=[token, attachment["id"]])
    return protocol.encode(payload)


# The sockets this process serves, for closing them all when it stops (chatsite/shutdown.py).
serving: "weakref.WeakSet[FrameConsumer]" = weakref.WeakSet()


async def close_every_socket(code: int) -> int:
    """Close every websocket this process serves with `code`; how many."""
    sockets = list(serving)
    for consumer in sockets:
        try:
            await consumer.close(code=code)
        except Exception:
            logger.warning("A websocket could not be closed", exc_info=True)
    return len(sockets)


class Refusal(NamedTuple):
    code: RefusalCode
    message: Any  # a str, or a lazy translation of one
    close_code: int


SIGNED_OUT = Refusal(RefusalCode.SIGNED_OUT, gettext_lazy("You are signed out. Sign in again."), 4401)
LINK_CLOSED = Refusal(RefusalCode.NOT_FOUND, gettext_lazy("This link no longer works."), 4404)
TOO_MANY_SOCKETS = Refusal(
    RefusalCode.SOCKET_LIMIT,
    gettext_lazy("Too many chat pages are open for your account. Close some of them."),
    4429,
)


class SocketRefused(Exception):
    """The socket may no longer act: its frame is refused and the socket closed."""

    def __init__(self, refusal: Refusal):
        super().__init__(str(refusal.message))
        self.refusal = refusal


class FrameConsumer(AsyncWebsocketConsumer):
    """Reads JSON frames, refusing floods and bad frames. Subclasses implement:

    - `access_refusal()`: why the socket's user may no longer act (a deactivated one is
      `SIGNED_OUT`), or None; asked at every frame, in the database thread, after the session's
      check (a refusal closes the socket);
    - `handle(request)`: act on one frame, a dict.

    A frame whose type is in `checked_in_turn` starts a turn, and the turn's own database call runs
    the check (`check_frame`) first: one trip to the database thread for the frame, not two.
    """

    user_id: int
    conversation_id: str
    checked_in_turn: frozenset[str] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recent_frames: list[float] = []
        self.counted_user_id: int | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            # Refusals, and the errors of replies started from this socket, are in the page's language.
            with translation.override(language_of_scope(scope)):
                await super().__call__(scope, receive, send)
        finally:
            # Also when the socket dropped or the consumer crashed or was cancelled.
            if self.counted_user_id is not None:
                open_sockets.release(self.counted_user_id)
            serving.discard(self)

    async def accept_counted(self, user_id: int) -> bool:
        """Accept the socket as one of the user's `SOCKETS_PER_USER`; past the cap, refuse it and close."""
        if not open_sockets.take(user_id):
            await self.accept()
            await self.send(text_data=protocol.error(TOO_MANY_SOCKETS.code, TOO_MANY_SOCKETS.message))
            await self.close(code=TOO_MANY_SOCKETS.close_code)
            return False
        self.counted_user_id = user_id
        await self.accept()
        serving.add(self)
        return True

    async def send_frame(self, text: str) -> None:
        """Every frame of the relay goes out here, in pieces when it is large (straight to the server)."""
        for piece in protocol.frame_pieces(text):
            await self.base_send({"type": "websocket.send", "text": piece})

    async def relay_frames(self, message: dict[str, Any]) -> None:
        """Frames of a reply that another process is relaying."""
        if relay.superseded(message):
            return
        for text in message["frames"]:
            await self.send_frame(text)

    async def relay_news(self, message: dict[str, Any]) -> None:
        """News from the conversation's group: a message or a reply that began, maybe in another process."""
        await relay.hear(self.conversation_id, message, self.send_frame, reply_to=self.channel_name)

    async def watch_conversation(self) -> None:
        await relay.watch(self.conversation_id, self.send_frame, reply_to=self.channel_name)

    async def unwatch_conversation(self) -> None:
        relay.unwatch(self.conversation_id, self.send_frame)
        await self.channel_layer.group_discard(
            relay.conversation_group(self.conversation_id), self.channel_name
        )

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.counted_user_id is None:  # refused at connect, closing
            return
        if self.flooding():
            await self.send(
                text_data=protocol.error(RefusalCode.RATE_LIMITED, _("Too many frames; slow down."))
            )
            return
        if text_data is None or len(text_data) > MAX_FRAME_CHARS:
            await self.send(
                text_data=protocol.error(RefusalCode.BAD_FRAME, _("Frames are JSON text of at most 64 KiB."))
            )
            return
        try:
            request = json.loads(text_data)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            await self.send(text_data=protocol.error(RefusalCode.BAD_FRAME, _("Frames are JSON objects.")))
            return
        if request.get("type") not in self.checked_in_turn:
            refusal = await database_sync_to_async(self.refusal)()
            if refusal is not None:
                await self.refuse(refusal)
                return
        try:
            await self.handle(request)
        except SocketRefused as refused:
            await self.refuse(refused.refusal)

    async def refuse(self, refusal: Refusal) -> None:
        await self.send(text_data=protocol.error(refusal.code, refusal.message))
        await self.close(code=refusal.close_code)

    def flooding(self) -> bool:
        now = time.monotonic()
        self.recent_frames = [t for t in self.recent_frames if now - t < FLOOD_SECONDS]
        self.recent_frames.append(now)
        return len(self.recent_frames) > FLOOD_FRAMES

    def refusal(self) -> Refusal | None:
        """Run in the database thread at every frame: the session, then the user and their access."""
        if not access.session_alive(self.scope["session"]):
            return SIGNED_OUT
        return self.access_refusal()

    def check_frame(self) -> None:
        """`refusal()` for a turn's own database call: raises `SocketRefused`, before anything is saved."""
        refusal = self.refusal()
        if refusal is not None:
            raise SocketRefused(refusal)

    def access_refusal(self) -> Refusal | None:
        raise NotImplementedError

    async def handle(self, request: dict[str, Any]) -> None:
        raise NotImplementedError

    async def resume(self, request: protocol.Resume) -> None:
        found = await relay.resume(
            self.conversation_id,
            request.message_id,
            self.send_frame,
            after_seq=request.after_seq,
            reply_to=self.channel_name,
        )
        if not found:
            raise protocol.Refused(RefusalCode.NOT_FOUND, _("No such reply in this conversation."))


class ConversationConsumer(FrameConsumer):
    checked_in_turn = frozenset(
        {
            protocol.RequestType.SEND,
            protocol.RequestType.RETRY,
            protocol.RequestType.REGENERATE,
            protocol.RequestType.EDIT,
            protocol.RequestType.DECIDE,
        }
    )

    async def connect(self) -> None:
        user = self.scope["user"]
        self.conversation_id = self.scope["url_route"]["kwargs"]["conversation_id"]
        if not user.is_authenticated or not await database_sync_to_async(access.owns_conversation)(
            user.pk, self.conversation_id
        ):
            await self.close()
            return
        self.user_id = user.pk
        if not await self.accept_counted(user.pk):
            return
        await self.watch_conversation()

    async def disconnect(self, code: int) -> None:
        # The reply goes on without this socket and is saved when it ends.
        if hasattr(self, "user_id"):
            await self.unwatch_conversation()

    def access_refusal(self) -> Refusal | None:
        active = access.owner_active(self.user_id, self.conversation_id)
        if active is None:
            return Refusal(RefusalCode.NOT_FOUND, _("This conversation no longer exists."), 4404)
        return None if active else SIGNED_OUT

    async def handle(self, request: dict[str, Any]) -> None:
        try:
            await self.act(protocol.parse_request(request))
        except protocol.Refused as refused:
            client_id = protocol.client_id_of(request)
            await self.send(text_data=protocol.error(refused.code, refused.message, client_id=client_id))

    async def act(self, request: protocol.Request) -> None:
        conversation_id, user_id = self.conversation_id, self.user_id
        if not isinstance(request, protocol.Stop | protocol.Resume):
            relay.refuse_if_stopping()
        match request:
            case protocol.Send():
                await relay.start_reply(
                    conversation_id,
                    user_id=user_id,
                    text=request.text,
                    client_id=request.client_id,
                    timezone_name=request.timezone,
                    attachment_ids=request.attachments,
                    check=self.check_frame,
                )
            case protocol.Stop():
                await relay.stop_reply(conversation_id, request.message_id)
            case protocol.Decide():
                await relay.continue_after_approval(
                    conversation_id,
                    user_id=user_id,
                    message_id=request.message_id,
                    decisions=request.decisions,
                    check=self.check_frame,
                )
            case protocol.Retry():
                await relay.retry_reply(
                    conversation_id,
                    user_id=user_id,
                    message_id=request.message_id,
                    regenerate=request.regenerate,
                    check=self.check_frame,
                )
            case protocol.Edit():
                await relay.edit_and_resend(
                    conversation_id,
                    user_id=user_id,
                    message_id=request.message_id,
                    text=request.text,
                    client_id=request.client_id,
                    timezone_name=request.timezone,
                    check=self.check_frame,
                )
            case protocol.Resume():
                await self.resume(request)


class SharedConversationConsumer(FrameConsumer):
    """A member watching a live share link: snapshots and reply events, and nothing that changes anything."""

    async def connect(self) -> None:
        self.token = self.scope["url_route"]["kwargs"]["token"]
        found = await database_sync_to_async(access.watchable_live_link)(self.scope["user"], self.token)
        if found is None:
            await self.close()
            return
        self.link_id, self.conversation_id = found
        self.user_id = self.scope["user"].pk
        await self.channel_layer.group_add(share_group_name(self.link_id), self.channel_name)
        if not await self.accept_counted(self.user_id):
            return
        await self.watch_conversation()

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "link_id"):
            await self.unwatch_conversation()
            await self.channel_layer.group_discard(share_group_name(self.link_id), self.channel_name)

    async def send_frame(self, text: str) -> None:
        await super().send_frame(as_shared(text, self.token))

    async def share_closed(self, event: dict[str, Any]) -> None:
        await self.send(text_data=protocol.error(LINK_CLOSED.code, LINK_CLOSED.message))
        await self.close(code=LINK_CLOSED.close_code)

    def access_refusal(self) -> Refusal | None:
        if not access.user_active(self.user_id):
            return SIGNED_OUT
        if access.watchable_live_link(self.scope["user"], self.token) == (self.link_id, self.conversation_id):
            return None
        return LINK_CLOSED

    async def handle(self, request: dict[str, Any]) -> None:
        try:
            if request.get("type") != protocol.RequestType.RESUME:
                raise protocol.Refused(
                    RefusalCode.READ_ONLY,
                    _("This is a shared conversation: you can watch it, not change it."),
                )
            resume = protocol.parse_request(request)
            if isinstance(resume, protocol.Resume):
                await self.resume(resume)
        except protocol.Refused as refused:
            client_id = protocol.client_id_of(request)
            await self.send(text_data=protocol.error(refused.code, refused.message, client_id=client_id))
