"""An in-process stand-in for a token endpoint, for unit tests that step the flow (httpx MockTransport).

The real-server tests (``test_real_server.py``) never use it.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

import httpx

from tokenturn.client import Session, Token, TokenClient


@dataclass
class FakeTokenServer:
    """Rotates refresh tokens; counts calls; ``script`` can force answers for the next calls."""

    expires_in: int = 3600
    delay: float = 0.0
    refresh_calls: int = 0
    forms: list[dict[str, str]] = field(default_factory=list)
    headers: list[httpx.Headers] = field(default_factory=list)
    script: list[httpx.Response | Exception] = field(default_factory=list)
    valid_refresh: set[str] = field(default_factory=lambda: {"rt-0"})
    omit_refresh: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def pair(self) -> dict[str, object]:
        n = next(self._ids)
        body: dict[str, object] = {
            "access_token": f"at-{n}",
            "expires_in": self.expires_in,
            "token_type": "Bearer",
            "scope": "read write",
        }
        if not self.omit_refresh:
            body["refresh_token"] = f"rt-{n}"
            self.valid_refresh.add(f"rt-{n}")
        return body

    def handle(self, request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode()))
        with self._lock:
            self.forms.append(form)
            self.headers.append(request.headers)
            if self.script:
                item = self.script.pop(0)
                if isinstance(item, Exception):
                    raise item
                return item
            if form.get("grant_type") == "refresh_token":
                self.refresh_calls += 1
                if form.get("refresh_token") not in self.valid_refresh:
                    return error(400, "invalid_grant")
                self.valid_refresh.discard(form["refresh_token"])
            return httpx.Response(200, json=self.pair())

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def async_transport(self) -> httpx.MockTransport:
        async def handler(request: httpx.Request) -> httpx.Response:
            import asyncio

            await request.aread()
            if self.delay:
                await asyncio.sleep(self.delay)
            return self.handle(request)

        return httpx.MockTransport(handler)

    def client(self, **kwargs: object) -> TokenClient:
        return TokenClient(
            "http://auth.test",
            client_id="cid",
            client_secret="csecret",
            transport=self.transport(),
            async_transport=self.async_transport(),
            **kwargs,
        )  # type: ignore[arg-type]


def error(status: int, code: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": code, "error_description": f"{code} here"}, headers=headers)


def expired(refresh_token: str = "rt-0") -> Token:
    return Token("stale-at", "Bearer", 3600, "read write", refresh_token, time.time() - 7200, time.time() - 3600)


def fresh(access: str = "fresh-at", refresh_token: str = "rt-0", expires_in: int = 3600) -> Token:
    now = time.time()
    return Token(access, "Bearer", expires_in, "read write", refresh_token, now, now + expires_in)


def session_with(server: FakeTokenServer, token: Token | None, **kwargs: object) -> Session:
    from tokenturn.client import MemoryStore

    return Session(server.client(), MemoryStore(token), **kwargs)  # type: ignore[arg-type]


def api_transport(valid: Callable[[str], bool]) -> httpx.MockTransport:
    """A protected API: 200 with the bearer token it saw when ``valid(token)``, else 401."""

    def handler(request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        if not valid(token):
            return httpx.Response(401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return httpx.Response(200, content=json.dumps({"token": token, "body": request.content.decode()}))

    return httpx.MockTransport(handler)
