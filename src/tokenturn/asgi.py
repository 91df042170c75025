"""ASGI plumbing shared by the server and the refresh proxy (ASGI 3.0 HTTP): the message types, the
headers of a scope, a capped body read, and a :class:`~tokenturn.core.http.Response` sent as messages.

Hand-written rather than Starlette's ``Request``: both apps parse raw bodies with the standard
library on their hot paths. Neither side's policy lives here (the server answers an oversized
body with the contract's 413, the proxy with its own): this module only reads and writes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from tokenturn.core.http import Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ClientDisconnected(Exception):
    """The client went away before sending its whole body."""


class BodyTooLarge(Exception):
    """The request body is over the caller's limit."""


def headers_of(scope: Scope) -> dict[str, str]:
    """Lower-cased header names; a header sent twice is joined with ", " (RFC 9110 §5.3), so a
    repeated ``Authorization`` or ``Content-Type`` fails to parse instead of one copy winning."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


async def read_body(receive: Receive, headers: Mapping[str, str], limit: int) -> bytes:
    """The whole body, or :class:`BodyTooLarge` as soon as it is known to exceed ``limit``."""
    # An honest oversized upload is refused on its Content-Length, without reading it.
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


async def send_response(send: Send, response: Response, extra: tuple[tuple[str, str], ...] = ()) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (*response.headers, *extra)]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
