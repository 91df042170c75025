"""Support for the real-server tests: a tokenturn server on loopback, refresh counting, a lossy relay."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

from tokenturn.client import Session, Token, TokenClient
from tokenturn.testing import Seeded, ServerProcess, seed_sync

SECRET_KEY = "s" * 64


@dataclass
class Live:
    server: ServerProcess
    log_path: Path

    @property
    def url(self) -> str:
        return self.server.url

    def seed(self, **kwargs: object) -> Seeded:
        """A fresh client (so events can be counted per client) and a user."""
        return seed_sync(self.server.settings, **kwargs)

    def events(self, event: str, client_id: str) -> list[dict[str, object]]:
        found = []
        for line in self.log_path.read_text().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("event") == event and record.get("client_id") == client_id:
                found.append(record)
        return found

    def refreshes(self, client_id: str) -> int:
        return len(self.events("token.refreshed", client_id))

    def client(self, seeded: Seeded, url: str | None = None, **kwargs: object) -> TokenClient:
        return TokenClient(url or self.url, client_id=seeded.client_id, client_secret=seeded.client_secret, **kwargs)  # type: ignore[arg-type]

    def expired_session_token(self, seeded: Seeded) -> Token:
        """Log in for real, then make the client believe the access token has run out."""
        with self.client(seeded) as client:
            token = client.password(seeded.username, seeded.password)
        return Token(
            token.access_token,
            "Bearer",
            token.expires_in,
            token.scope,
            token.refresh_token,
            token.obtained_at - 7200,
            time.time() - 1,
        )


@contextmanager
def live_server(tmp: Path, **env: str) -> Iterator[Live]:
    log_path = tmp / "server.log"
    environ = {
        "TOKENTURN_DATABASE_URL": f"sqlite:///{tmp / 'tokenturn.db'}",
        "TOKENTURN_SECRET_KEY": SECRET_KEY,
        "TOKENTURN_ACCESS_TOKEN_TTL": "60",
        "TOKENTURN_LOG_LEVEL": "INFO",
        **env,
    }
    with ServerProcess(env=environ, log_path=log_path) as server:
        yield Live(server, log_path)


def me(session: Session, url: str) -> httpx.Response:
    from tokenturn.client import HttpxAuth

    with httpx.Client(auth=HttpxAuth(session)) as http:
        return http.get(url + "/v1/me/")


class DroppingRelay:
    """A loopback TCP relay to ``upstream`` that swallows the first response and cuts (or stalls) that connection.

    The server has committed whatever the request did by the time it answers, so the client sees a
    response lost after the fact — the case the grace window exists for.
    """

    def __init__(self, upstream_port: int, drops: int = 1, *, hold: bool = False) -> None:
        self.upstream_port = upstream_port
        self.drops = drops
        self.hold = hold  # keep the connection open, silent, so the client times out instead
        self.dropped = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._closing:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            threading.Thread(target=self._pump, args=(conn, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, conn, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, is_response: bool) -> None:
        try:
            while data := src.recv(65536):
                if is_response:
                    with self._lock:
                        drop = self.dropped < self.drops
                        self.dropped += drop
                    if drop and self.hold:
                        continue
                    if drop:
                        break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def close(self) -> None:
        self._closing = True
        self._listener.close()
