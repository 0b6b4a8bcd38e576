"""What one Daphne process holds for hostile clients: large bodies and sockets that are not read.

A real Daphne (`daphne chatsite.asgi:application`, demo platforms mounted) runs
in a subprocess; its memory and connections are read with psutil.
"""

import base64
import contextlib
import gc
import json
import secrets
import socket
import threading
import time
import weakref

import httpx
import psutil
import pytest
from websockets.sync.client import connect

from tests.site_process import SiteProcess, running_site

MB = 1024 * 1024
SEND_BUFFER = 1024 * 1024  # above the largest message (a resumed snapshot), as in production


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with running_site(
        tmp_path_factory.mktemp("daphne"),
        "chatsite_daphne_limits",
        CHATSITE_SOCKET_SEND_BUFFER=str(SEND_BUFFER),
        CHATSITE_SOCKETS_PER_USER="1",
    ) as site:
        site.conversation_id = site.new_conversation()
        yield site


def rss(site: SiteProcess) -> int:
    return psutil.Process(site.server.pid).memory_info().rss


def stream_body(
    site: SiteProcess, path: str, declared: int, cookie: str = "", chunked: bool = False
) -> tuple[int, bytes]:
    """POST `declared` bytes in 1 MB pieces, stopping when the server closes; (bytes sent, its answer).

    `chunked`: without a Content-Length, in chunked transfer encoding.
    """
    with socket.create_connection(("127.0.0.1", site.port)) as sock:
        length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {declared}"
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{site.port}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n{length}\r\n"
            + (f"Cookie: sessionid={cookie}\r\n" if cookie else "")
            + "\r\n"
        )
        sock.sendall(head.encode())
        sent = 0
        piece = b"0" * MB
        if chunked:
            piece = b"%x\r\n" % len(piece) + piece + b"\r\n"
        try:
            while sent < declared:
                sock.sendall(piece)
                sent += len(piece)
        except OSError:  # refused: the server closed the connection
            pass
        sock.settimeout(10)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
        return sent, answer


def test_a_large_anonymous_post_is_refused_before_the_process_holds_it(site):
    before = rss(site)
    sent, answer = stream_body(site, "/accounts/login/", 300 * MB)
    time.sleep(0.5)
    assert answer.startswith(b"HTTP/1.1 413")
    assert sent < 50 * MB
    assert rss(site) - before < 30 * MB


def test_a_large_chunked_post_is_cut_off_once_it_passes_the_limit(site):
    before = rss(site)
    sent, answer = stream_body(site, "/accounts/login/", 300 * MB, chunked=True)
    time.sleep(0.5)
    # The 413 is written before the connection closes, but a client still sending may get a reset first.
    assert answer.startswith(b"HTTP/1.1 413") or answer == b""
    assert sent < 50 * MB
    assert rss(site) - before < 30 * MB


def test_a_large_upload_is_refused_from_its_headers_even_with_a_session(site):
    cookie = site.session_cookie()
    before = rss(site)
    sent, answer = stream_body(site, f"/c/{site.conversation_id}/attachments/", 100 * MB, cookie=cookie)
    assert answer.startswith(b"HTTP/1.1 413")
    assert sent < 50 * MB
    assert rss(site) - before < 30 * MB


class PeakRss:
    """The highest resident memory of a process while the block runs, sampled every 10 ms."""

    def __init__(self, pid: int):
        self.process = psutil.Process(pid)

    def __enter__(self) -> "PeakRss":
        self.start = self.peak = self.process.memory_info().rss
        self.running = True
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()
        return self

    def sample(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.01)

    def __exit__(self, *exc_info: object) -> None:
        time.sleep(0.3)
        self.running = False
        self.thread.join()


def test_an_upload_the_site_takes_costs_about_its_size_in_memory_not_ten_times_it(site):
    size = 15 * MB
    form = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="notes.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n" + b"a" * size + b"\r\n--b--\r\n"
    )
    client = site.signed_in_client()
    with PeakRss(site.server.pid) as memory:
        response = client.post(
            f"/c/{site.conversation_id}/attachments/",
            content=form,
            headers={
                "Content-Type": "multipart/form-data; boundary=b",
                "X-CSRFToken": client.cookies["csrftoken"],
                "Origin": site.url,
            },
        )
    client.close()
    assert response.status_code == 201, response.text
    assert response.json()["size"] == size
    assert memory.peak - memory.start < 3 * size


def test_an_ordinary_post_still_reaches_the_site(site):
    response = httpx.post(f"{site.url}/accounts/login/", data={"username": "x", "password": "y"})
    assert response.status_code == 403  # the CSRF check: the site read it


def websocket_frame(payload: dict) -> bytes:
    data = json.dumps(payload).encode()
    mask = secrets.token_bytes(4)
    assert len(data) < 126
    return bytes([0x81, 0x80 | len(data)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def established(site: SiteProcess, local_port: int) -> bool:
    return any(
        c.raddr and c.raddr.port == local_port and c.status == psutil.CONN_ESTABLISHED
        for c in psutil.Process(site.server.pid).net_connections(kind="tcp")
    )


def test_a_socket_whose_client_does_not_read_is_dropped_once_its_buffer_passes_the_limit(site):
    cookie = site.session_cookie()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", site.port))
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    sock.sendall(
        (
            f"GET /ws/conversations/{site.conversation_id}/ HTTP/1.1\r\nHost: 127.0.0.1:{site.port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\nOrigin: {site.url}\r\nCookie: sessionid={cookie}\r\n\r\n"
        ).encode()
    )
    handshake = b""
    while b"\r\n\r\n" not in handshake:
        handshake += sock.recv(1)
    assert handshake.startswith(b"HTTP/1.1 101")
    local_port = sock.getsockname()[1]
    sock.sendall(websocket_frame({"type": "send", "text": "[[words=100000]] [[delay=0]]", "client_id": "c"}))
    deadline = time.monotonic() + 60
    while established(site, local_port) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not established(site, local_port), (
        "the server still holds the socket of a client that does not read"
    )
    assert "the client is not reading" in site.log.read_text()
    sock.close()
    # The dropped socket no longer counts against the user's one socket (CHATSITE_SOCKETS_PER_USER=1):
    # the page can come back and resume.
    with connect(
        f"ws://127.0.0.1:{site.port}/ws/conversations/{site.conversation_id}/",
        origin=site.url,
        additional_headers={"Cookie": f"sessionid={cookie}"},
        proxy=None,
        max_size=None,
    ) as again:
        again.send(json.dumps({"type": "resume", "message_id": 2, "after_seq": 0, "client_id": "r"}))
        frames = []
        with contextlib.suppress(TimeoutError):
            while True:
                frames.append(json.loads(again.recv(timeout=2)))
    frames = joined(frames)
    assert not [f for f in frames if f["type"] == "error"], frames
    assert {f["type"] for f in frames} & {"reply.snapshot", "reply.ended"}


def joined(messages: list[dict]) -> list[dict]:
    """The frames `messages` carry, `frame.piece` pieces joined as static/chatsite/socket.js does."""
    frames, pieces = [], {}
    for message in messages:
        if message["type"] != "frame.piece":
            frames.append(message)
            continue
        parts = pieces.setdefault(message["id"], {})
        parts[message["index"]] = message["data"]
        if len(parts) == message["count"]:
            frames.append(json.loads("".join(parts[i] for i in range(message["count"]))))
    return frames


def test_relayed_messages_reach_a_slow_reader_intact_whatever_their_length(site):
    """The site frames text messages and writes them itself (chatsite/daphne_limits.py): messages with
    short, 16-bit and 64-bit lengths, to a client that reads slowly, so that the socket takes only part
    of a message and Twisted sends the rest later."""
    conversation_id = site.new_conversation()
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", site.port))
    with connect(
        f"ws://127.0.0.1:{site.port}/ws/conversations/{conversation_id}/",
        sock=slow,
        origin=site.url,
        additional_headers={"Cookie": f"sessionid={site.session_cookie()}"},
        max_size=None,
    ) as socket_:
        socket_.send(json.dumps({"type": "send", "text": "[[words=9000]] [[delay=0]]", "client_id": "c"}))
        time.sleep(1)  # not reading: the socket's buffers fill
        messages = []
        while not messages or messages[-1]["type"] != "reply.ended":
            raw = socket_.recv(timeout=60)
            messages.append(json.loads(raw))
            messages[-1]["bytes"] = len(raw.encode())
            if messages[-1]["type"] == "frame.piece":
                pieces = [m for m in messages if m["type"] == "frame.piece" and m["id"] == messages[-1]["id"]]
                if len(pieces) == messages[-1]["count"]:
                    messages.append(joined(pieces)[0])
    sizes = [m["bytes"] for m in messages if "bytes" in m]
    assert min(sizes) < 126 and any(126 <= n < 65536 for n in sizes) and max(sizes) >= 65536, sizes
    reply = [m for m in messages if m.get("message_id") == messages[-1]["message_id"]]
    assert [m["seq"] for m in reply] == list(range(reply[0]["seq"], reply[-1]["seq"] + 1))
    assert "".join(m["text"] for m in reply if m["type"] == "text_delta") == messages[-1]["text"]
    assert messages[-1]["status"] == "complete"


def test_a_websocket_does_not_keep_the_http_request_it_was_upgraded_from():
    from twisted.internet.task import Clock
    from twisted.internet.testing import StringTransport
    from twisted.web.http import HTTPChannel

    from chatsite.daphne_limits import release_upgraded_channel

    clock = Clock()
    channel = HTTPChannel()
    channel.callLater = clock.callLater
    transport = StringTransport()
    channel.makeConnection(transport)
    assert transport.producer is channel  # what kept the channel, its request and headers alive

    release_upgraded_channel(channel)

    assert transport.producer is None
    assert clock.getDelayedCalls() == []
    released = weakref.ref(channel)
    del channel
    gc.collect()
    assert released() is None
