"""``POST /auth/introspect/`` (RFC 7662; contract §2): authenticate the caller, one lookup, answer.

Framing and client authentication are the token endpoint's. The token's prefix says which table
holds it, so an introspection costs the client lookup plus one indexed token lookup. What the
answer contains is decided by :mod:`tokenturn.core.introspection`: ``{"active": false}`` alone
for anything not active or not the caller's to see. Answers carry ``Cache-Control: no-store``
(RFC 7662 §4: responses must not be cached beyond the token's state).
"""

from __future__ import annotations

from typing import Any

from tokenturn.core.http import HttpRequest, Response, json_response
from tokenturn.core.introspection import INACTIVE, introspect_access, introspect_refresh
from tokenturn.server.services import Services


class IntrospectionEndpoint:
    def __init__(self, services: Services) -> None:
        self.s = services

    async def __call__(self, request: HttpRequest) -> Response:
        query = await self.s.token_query(request)
        answer: dict[str, Any] = INACTIVE
        if query.access is not None:
            answer = introspect_access(query.client, query.access, query.now)
        elif query.refresh is not None:
            answer = introspect_refresh(query.client, query.refresh, query.now)
        return json_response(200, answer)
