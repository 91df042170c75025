"""The ASGI edge: turn a scope + body into :class:`HttpRequest`, and a :class:`Response` into messages.

Hand-written instead of Starlette's ``Request.form()`` on purpose: the token endpoint is the hot
path, and parsing the raw body with the standard library keeps it several times faster.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from tokenturn.core.errors import InvalidRequest
from tokenturn.core.form import MAX_BODY
from tokenturn.core.http import HttpRequest, Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ClientDisconnected(Exception):
    """The client went away before sending its whole body."""


def headers_of(scope: Scope) -> dict[str, str]:
    """Lower-cased header names; a header sent twice is joined with ", " (and so fails to parse)."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


async def read_body(receive: Receive, headers: dict[str, str], limit: int = MAX_BODY) -> bytes:
    length = headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise InvalidRequest("The request body is larger than 64 KiB.", status=413)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        body = message.get("body", b"")
        size += len(body)
        if size > limit:
            raise InvalidRequest("The request body is larger than 64 KiB.", status=413)
        chunks.append(body)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def to_request(scope: Scope, receive: Receive, *, read: bool = True) -> HttpRequest:
    headers = headers_of(scope)
    body = await read_body(receive, headers) if read and scope["method"] == "POST" else b""
    client = scope.get("client")
    return HttpRequest(
        method=scope["method"],
        path=scope["path"],
        query=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=body,
        client_host=client[0] if client else "",
    )


async def send_response(send: Send, response: Response) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
            + [(b"content-length", str(len(response.body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": response.body})
