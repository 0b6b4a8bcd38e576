"""Serving an ASGI application over real HTTP on 127.0.0.1 for the length of a test session."""

import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

# Recorded and documented transcripts of the platforms, wherever the test reading them sits.
FIXTURES = Path(__file__).resolve().parent / "fixtures"


class ServedApp:
    """An ASGI app served by uvicorn in a background thread on a free local port."""

    def __init__(self, app: Any):
        self.app = app
        # The explicit protocol matters: asyncio sets TCP_NODELAY only on sockets whose
        # proto is IPPROTO_TCP, and without it every response waits ~40 ms for a delayed ACK.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=2,
            backlog=2048,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name=f"asgi-{self.port}", daemon=True
        )

    def start(self, timeout: float = 10) -> "ServedApp":
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 5) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)
        self._socket.close()

    def __enter__(self) -> "ServedApp":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class FakePlatform:
    """What a platform fixture yields: the base URL and the fake itself, to inspect or change."""

    def __init__(self, served: ServedApp):
        self.url = served.url
        self.app = served.app

    def __repr__(self) -> str:
        return f"<FakePlatform {type(self.app).__name__} at {self.url}>"


def verbatim_app(body: bytes, content_type: bytes = b"text/event-stream", status: int = 200):
    """An ASGI app answering every request with `body` as it is (golden transcripts, odd wire formats)."""

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", content_type)]}
        )
        await send({"type": "http.response.body", "body": body})

    return app
