"""A plain socket server on 127.0.0.1 that records every request it receives: the "internal service"
or "other host" of the address-guard tests, which must receive nothing (or only what it should)."""

import socket
import threading

ANSWER = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 27\r\n"
    b"connection: close\r\n\r\n"
    b'{"secret": "internal-only"}'
)


class RecordingServer:
    """Accepts connections, keeps the raw bytes of each request, answers a small JSON body."""

    def __init__(self, host: str = "127.0.0.1"):
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, 0))
        self._socket.listen(16)
        self._socket.settimeout(0.2)
        self.port: int = self._socket.getsockname()[1]
        self.received: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"recording-{self.port}", daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(2)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = connection.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    connection.sendall(ANSWER)
                except OSError:
                    pass
                self.received.append(data)

    def __enter__(self) -> "RecordingServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.close()
