"""Limits Daphne itself does not offer, for a site served by Daphne without a proxy in front.

Daphne (4.2) hands a request to the application only once Twisted has spooled
its whole body to a temporary file; Twisted then also reads a form body whole
into memory to parse it into `request.args` (several copies; Daphne never uses
them), and Daphne copies the body into the application's queue in one go, in
memory, before the application can say no. Daphne has no body limit and no
hook for one, and neither has Twisted's HTTP server.
Likewise Daphne writes every websocket message into Twisted's send buffer,
which grows without bound while a client does not read, and the ASGI
application cannot see that buffer.

`install()` swaps Daphne's request and websocket protocol classes for
subclasses that (1) turn Twisted's form parsing off, refuse with 413, from the
headers alone, a body longer than the largest body the site takes (or than
the small limit without a session cookie), and stop reading a chunked body
once it passes it; (2) drop a websocket connection whose unsent data passes
`CHATSITE_SOCKET_SEND_BUFFER`, kept well above Daphne's 1 MiB message limit
(the browser reconnects and resumes with `after_seq`); (3) frame a text message
themselves when autobahn would add nothing (no compression, no fragments): its
`sendMessage` cost ~15 times the frame, paid for every relayed delta on every
socket; (4) let the HTTP channel of a request upgraded to a websocket go,
which Twisted's transport otherwise kept for the socket's life. Per-route limits stay
in `chatsite.request_limits`. Behind a proxy, `deploy/nginx.conf` enforces
the same sizes before Daphne sees a byte.
"""

import logging
import struct
from typing import Any

from django.conf import settings

from chatsite.request_limits import session_key

logger = logging.getLogger(__name__)

TOO_LARGE = (
    b"HTTP/1.1 413 Content Too Large\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 24\r\n"
    b"Connection: close\r\n\r\n"
    b"Request body too large.\n"
)


def server_body_limit(cookie_header: bytes | None, path: bytes) -> int:
    """The most body bytes Daphne may spool: the upload limit with a session cookie, else the small one.

    Only the cookie's presence is checked here (no database in the reactor);
    `chatsite.request_limits` checks the session and the route. In the demo the
    fake platforms under /fake/ take the files the site forwards to them (base64
    in JSON for some, a third larger), as the real platforms would.
    """
    if settings.CHATSITE_DEMO and path.startswith(b"/fake/"):
        return 2 * settings.UPLOAD_BODY_LIMIT
    if session_key(cookie_header) is None:
        return settings.BODY_LIMIT
    return max(settings.BODY_LIMIT, settings.UPLOAD_BODY_LIMIT)


def unsent_bytes(transport: Any) -> int:
    """Bytes a Twisted TCP transport holds for a peer that has not read them (0 when it cannot tell)."""
    buffered = getattr(transport, "dataBuffer", b"")
    return len(buffered) - getattr(transport, "offset", 0) + getattr(transport, "_tempDataLen", 0)


def text_frame(payload: bytes) -> bytes:
    """One unmasked, final websocket text frame (RFC 6455, 5.2) carrying `payload`, as a server sends it."""
    length = len(payload)
    if length < 126:
        return bytes((0x81, length)) + payload
    if length < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, length) + payload
    return struct.pack("!BBQ", 0x81, 127, length) + payload


def write_now(transport: Any, data: bytes) -> None:
    """Write `data` to a TCP transport's socket at once when nothing is waiting before it.

    Twisted's `write` buffers and sends on the reactor's next turn: it registers the
    socket for writing and unregisters it once sent, two more system calls and a
    reactor callback for every relayed delta on every socket. What the socket does
    not take at once (or anything on another kind of transport) goes through
    Twisted's `write`, after what is already waiting.
    """
    sock = getattr(transport, "socket", None)
    if sock is None or unsent_bytes(transport) or not transport.connected or transport.disconnecting:
        transport.write(data)
        return
    try:
        sent = sock.send(data)
    except BlockingIOError:
        sent = 0
    except OSError:  # the connection broke: Twisted notices and closes it
        sent = 0
    if sent < len(data):
        transport.write(data[sent:])


def release_upgraded_channel(channel: Any) -> None:
    """Let the HTTP channel of a request that became a websocket go, with the request and its headers.

    The channel registered itself as its TCP transport's producer, and nothing
    unregisters it when Daphne hands the transport to the websocket protocol: the
    transport kept the channel, its request, headers and body buffer for as long as
    the socket stayed open. The channel no longer reads or writes anything then.
    """
    channel._networkProducer.unregisterProducer()
    channel.setTimeout(None)


def install() -> None:
    """Make the Daphne server of this process use the limited protocols; call before it starts."""
    import daphne.server
    from daphne.http_protocol import HTTPFactory, WebRequest
    from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol

    class LimitedWebRequest(WebRequest):
        refused = False
        body_limit = 0
        body_received = 0

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            # Twisted would otherwise read every form POST whole into memory and parse it (urlencoded
            # with parse_qs, multipart with the email package, several copies) into `args`, which
            # Daphne never uses: most of what a large POST cost.
            super().__init__(*args, parsePOSTFormSubmission=False, **kwargs)

        def gotLength(self, length: int | None) -> None:
            cookies = self.requestHeaders.getRawHeaders(b"cookie", [None])
            # The request line's path: Twisted keeps it on the channel until the body is in.
            path = getattr(self.channel, "_path", b"")
            self.body_limit = server_body_limit(cookies[0], path)
            if length is not None and length > self.body_limit:
                self.refuse()
                return
            super().gotLength(length)

        def handleContentChunk(self, data: bytes) -> None:
            if self.refused:
                return
            self.body_received += len(data)
            if self.body_received > self.body_limit:
                self.refuse()
                return
            super().handleContentChunk(data)

        def refuse(self) -> None:
            self.refused = True
            if getattr(self, "content", None) is not None:
                self.content.close()
            self.channel.transport.write(TOO_LARGE)
            self.channel.transport.loseConnection()

        def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
            if not self.refused:
                super().requestReceived(command, path, version)

        def process(self) -> Any:
            result = super().process()
            # Daphne takes the transport away from a request it upgraded to a websocket.
            if self.transport is None and self.channel is not None:
                release_upgraded_channel(self.channel)
            return result

    class LimitedHTTPFactory(HTTPFactory):
        def buildProtocol(self, addr: Any) -> Any:
            protocol = super().buildProtocol(addr)
            protocol.requestFactory = LimitedWebRequest
            return protocol

    class BufferLimitedWebSocketProtocol(WebSocketProtocol):
        dropped = False

        def serverSend(self, content: Any, binary: bool = False) -> None:
            # Twisted writes to the socket on the reactor's next turn, so only what is still unsent
            # from earlier messages says the client is not reading; one large message is not that.
            unsent = unsent_bytes(self.transport) if self.transport is not None else 0
            if self.dropped or unsent > settings.SOCKET_SEND_BUFFER:
                if not self.dropped:
                    self.dropped = True
                    logger.warning(
                        "Dropping websocket %s: %d bytes unsent, the client is not reading", self.path, unsent
                    )
                    # The buffer will not drain, so a close frame behind it would never arrive.
                    self.transport.abortConnection()
                return
            if binary or not self.frames_plainly(len(content)):
                super().serverSend(content, binary)
                return
            write_now(self.transport, text_frame(content.encode()))

        def frames_plainly(self, chars: int) -> bool:
            """Whether a text message of `chars` characters may be framed here, not by autobahn (15x faster).

            It may while the socket is open, with no compression, fragmenting, logging or timing of
            frames, nothing queued before it (what Daphne sets up), and the message surely under the
            size limit (autobahn refuses a larger one).
            """
            return (
                self.state == self.STATE_OPEN
                and 4 * chars <= (self.maxMessagePayloadSize or 4 * chars)
                and self._perMessageCompress is None
                and not self.autoFragmentSize
                and not self.send_queue
                and not self.logFrames
                and not self.logOctets
                and not self.trackedTimings
            )

    class BufferLimitedWebSocketFactory(WebSocketFactory):
        protocol = BufferLimitedWebSocketProtocol

    daphne.server.HTTPFactory = LimitedHTTPFactory
    daphne.server.WebSocketFactory = BufferLimitedWebSocketFactory
