"""The proxy's ASGI edge: a capped body read and the response messages (ASGI 3.0 HTTP spec).

The proxy's own copy, not the server's: the client side never imports the server (STYLE.md), and
the proxy's limit (16 KiB) and request shape (scheme, ``root_path``) differ from the token endpoint's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from tokenturn.core.http import Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ClientDisconnected(Exception):
    """The caller went away before its body arrived."""


class BodyTooLarge(Exception):
    """The request body is over the proxy's limit."""


@dataclass(frozen=True, slots=True)
class ProxyRequest:
    method: str
    path: str
    scheme: str
    root_path: str
    headers: Mapping[str, str]
    body: bytes
    client_host: str


def headers_of(scope: Scope) -> dict[str, str]:
    """Lower-cased names; a repeated header is joined with ", " as RFC 9110 §5.3 allows."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


async def read_body(receive: Receive, headers: Mapping[str, str], limit: int) -> bytes:
    # Content-Length is checked first so an honest oversized upload is refused without reading it.
    length = headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def to_request(scope: Scope, headers: Mapping[str, str], body: bytes) -> ProxyRequest:
    client = scope.get("client")
    return ProxyRequest(
        method=scope["method"],
        path=scope["path"],
        scheme=scope.get("scheme", "http"),
        root_path=scope.get("root_path", ""),
        headers=headers,
        body=body,
        client_host=client[0] if client else "",
    )


async def send_response(send: Send, response: Response, extra: tuple[tuple[str, str], ...] = ()) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (*response.headers, *extra)]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
