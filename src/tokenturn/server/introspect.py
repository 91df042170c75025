"""``POST /auth/introspect/`` (RFC 7662; contract §2): authenticate the caller, one lookup, answer.

Framing and client authentication are the token endpoint's. The token's prefix says which table
holds it, so an introspection costs the client lookup plus one indexed token lookup. What the
answer contains is decided by :mod:`tokenturn.core.introspection`: ``{"active": false}`` alone
for anything not active or not the caller's to see. Answers carry ``Cache-Control: no-store``
(RFC 7662 §4: responses must not be cached beyond the token's state).
"""

from __future__ import annotations

from typing import Any

from tokenturn.core.grants.base import require
from tokenturn.core.http import HttpRequest, Response, json_response
from tokenturn.core.introspection import INACTIVE, introspect_access, introspect_refresh
from tokenturn.core.request import check_framing
from tokenturn.server.services import Services


class IntrospectionEndpoint:
    def __init__(self, services: Services) -> None:
        self.s = services

    async def __call__(self, request: HttpRequest) -> Response:
        form = check_framing(request)
        (token,) = require(form, "token")
        now = self.s.clock()
        client = await self.s.authenticate_client(request, form, now)
        access, refresh = await self.s.find_token(token, form.get("token_type_hint"))
        answer: dict[str, Any] = INACTIVE
        if access is not None:
            answer = introspect_access(client, access, now)
        elif refresh is not None:
            answer = introspect_refresh(client, refresh, now)
        return json_response(200, answer)
