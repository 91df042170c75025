"""The proxy's request shape (scheme and ``root_path`` matter to its cookies and origin checks);
the plumbing is :mod:`tokenturn.asgi`, shared with the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tokenturn.asgi import Scope


@dataclass(frozen=True, slots=True)
class ProxyRequest:
    method: str
    path: str
    scheme: str
    root_path: str
    headers: Mapping[str, str]
    body: bytes
    client_host: str


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
