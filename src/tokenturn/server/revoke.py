"""``POST /auth/revoke_token/`` (RFC 7009; contract §2): load, decide (:mod:`tokenturn.core.revocation`), persist.

Framing and client authentication are the token endpoint's (same helpers, same failure limits):
POST only, form body, 64 KiB, no credentials or tokens in the query string. The parameters are
checked before any storage is touched. The answer is ``200`` with an empty body whether the token
was known or not (RFC 7009 §2.2); a store that cannot be reached raises
:class:`StorageUnavailable`, which the app answers ``503`` — never a 200 that revoked nothing.
"""

from __future__ import annotations

from typing import Any

from tokenturn.core.http import NO_STORE, HttpRequest, Response
from tokenturn.core.revocation import RevokeAccessToken, RevokeFamily, decide_revocation
from tokenturn.server.services import Services


class RevocationEndpoint:
    def __init__(self, services: Services) -> None:
        self.s = services

    async def __call__(self, request: HttpRequest) -> Response:
        query = await self.s.token_query(request)
        client = query.client
        decision = decide_revocation(client, query.access, query.refresh)
        storage, t = self.s.storage, int(query.now)
        audit: dict[str, Any] = {"event": "token.revoked", "client_id": client.client_id}
        if isinstance(decision, RevokeFamily):
            revoked = await storage.revoke_family(decision.family_id, t)
            audit.update(kind="family", family_id=decision.family_id, changed=revoked)
        elif isinstance(decision, RevokeAccessToken):
            revoked = await storage.revoke_access_token(decision.token_hash, t)
            audit.update(kind="access_token", family_id=decision.family_id, changed=revoked)
        else:
            # Nothing to log at INFO: an unknown token is not an event (and may be a probe).
            audit = {"kind": "unknown"}
        return Response(200, NO_STORE, b"", audit)
