"""The server's ASGI edge: a scope and its body as the core's :class:`HttpRequest`.

An oversized body is the contract's ``413 invalid_request``; the plumbing is :mod:`tokenturn.asgi`.
"""

from __future__ import annotations

from tokenturn.asgi import BodyTooLarge, Receive, Scope, headers_of, read_body
from tokenturn.core.errors import InvalidRequest
from tokenturn.core.form import MAX_BODY
from tokenturn.core.http import HttpRequest


async def to_request(scope: Scope, receive: Receive, *, read: bool = True) -> HttpRequest:
    headers = headers_of(scope)
    body = b""
    if read and scope["method"] == "POST":
        try:
            body = await read_body(receive, headers, MAX_BODY)
        except BodyTooLarge:
            raise InvalidRequest("The request body is larger than 64 KiB.", status=413) from None
    client = scope.get("client")
    return HttpRequest(
        method=scope["method"],
        path=scope["path"],
        query=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
        body=body,
        client_host=client[0] if client else "",
    )
