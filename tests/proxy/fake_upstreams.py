"""Deliberately broken upstreams on loopback: a closed port, a server that never answers, one that lies.

Plain sockets in a thread, not our server: each one fails in exactly one way.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

from tokenturn.testing import free_port


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connecting is refused at once."""
    return f"http://127.0.0.1:{free_port()}"


class RawServer:
    """Accepts connections; answers each with ``reply`` once its request has arrived, or never (None)."""

    def __init__(self, reply: bytes | None) -> None:
        self.reply = reply
        self.accepted = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            self._open.append(conn)  # kept open (and silent) until the server stops
            if self.reply is not None:
                _read_request(conn)
                with contextlib.suppress(OSError):
                    conn.sendall(self.reply)
                    conn.close()

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._open:
            conn.close()
        self._sock.close()


def _read_request(conn: socket.socket) -> None:
    conn.settimeout(2)
    data = b""
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return
            body += chunk


def http_reply(status: str, body: bytes, content_type: str = "text/html") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode() + body


@contextlib.contextmanager
def silent_upstream() -> Iterator[RawServer]:
    """Accepts the connection and never says a word (a hung upstream)."""
    with RawServer(None) as server:
        yield server
