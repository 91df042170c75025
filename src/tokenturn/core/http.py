"""Plain-data HTTP values: what the core receives and what it answers.

Headers are lower-cased ``(name, value)`` pairs as ASGI gives them, decoded as latin-1.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tokenturn.core.errors import InvalidClient, OAuthError

NO_STORE = (("cache-control", "no-store"), ("pragma", "no-cache"))
JSON = ("content-type", "application/json")


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One request as the core sees it: no framework types."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    client_host: str = ""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    # Values for logs and metrics only, never rendered (event name, client_id, grant, ...).
    audit: Mapping[str, Any] = field(default_factory=dict)


def json_response(
    status: int,
    payload: Mapping[str, Any],
    *,
    no_store: bool = True,
    extra: tuple[tuple[str, str], ...] = (),
    audit: Mapping[str, Any] | None = None,
) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = (JSON, *NO_STORE, *extra) if no_store else (JSON, *extra)
    return Response(status, headers, body, audit or {})


def error_response(exc: OAuthError, *, basic_used: bool = False) -> Response:
    """Render RFC 6749 §5.2 ``{"error", "error_description"}`` with the no-store headers."""
    extra = tuple((k.lower(), v) for k, v in exc.headers.items())
    if isinstance(exc, InvalidClient) and basic_used:
        extra += (("www-authenticate", 'Basic realm="tokenturn"'),)
    return json_response(
        exc.status,
        {"error": exc.error, "error_description": exc.description},
        extra=extra,
        audit={"error": exc.error, "detail": exc.detail},
    )
