"""``POST /auth/token/`` (RFC 6749 §3.2, §4.3, §4.4, §6; contract §1): load, decide, persist, render.

The order of checks is part of the contract: framing and parameters first (no storage touched),
then the failure limits, then client authentication, then whether the client may use the grant
(before any password is looked at: no password oracle), then the grant itself.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from tokenturn.core.errors import InvalidGrant
from tokenturn.core.grants import client_credentials, password, refresh_token
from tokenturn.core.grants.base import check_grant_allowed, check_grant_type, require
from tokenturn.core.http import HttpRequest, Response
from tokenturn.core.models import (
    GRANT_CLIENT_CREDENTIALS,
    GRANT_PASSWORD,
    Client,
    Rotation,
)
from tokenturn.core.request import check_framing
from tokenturn.core.response import token_response
from tokenturn.server import metrics
from tokenturn.server.services import Services

log = logging.getLogger("tokenturn.audit")

_REQUIRED = {
    GRANT_PASSWORD: password.REQUIRED,
    GRANT_CLIENT_CREDENTIALS: (),
    "refresh_token": refresh_token.REQUIRED,
}


def _audit(event: str, **fields: Any) -> dict[str, Any]:
    return {"event": event, **fields}


class TokenEndpoint:
    def __init__(self, services: Services) -> None:
        self.s = services

    async def __call__(self, request: HttpRequest) -> Response:
        form = check_framing(request)
        grant_type = check_grant_type(form)
        require(form, *_REQUIRED[grant_type])
        now = self.s.clock()
        client = await self.s.authenticate_client(request, form, now)
        check_grant_allowed(client, grant_type)
        if grant_type == GRANT_PASSWORD:
            return await self._password(client, form, now)
        if grant_type == GRANT_CLIENT_CREDENTIALS:
            return await self._client_credentials(client, form, now)
        return await self._refresh(client, form, now)

    async def _password(self, client: Client, form: Mapping[str, str], now: float) -> Response:
        username, secret = form["username"], form["password"]
        user_key = f"user:{username}"
        await self.s.check_limit(user_key, "username", now)
        user = await self.s.storage.get_user(username)
        verification = await self.s.passwords.verify(user.password_hash if user else None, secret)
        if not verification.ok:
            await self.s.limiter.record_failure(user_key, self.s.settings.rate_limit_username, now)
        issue = password.decide(client, user, verification.ok, form, int(now), self.s.policy, self.s.keys)
        await self.s.storage.save_issue(issue)
        if verification.new_hash is not None:
            await self.s.storage.set_password_hash(username, verification.new_hash)
        return token_response(
            issue.access_token,
            issue.access.expires_at - int(now),
            issue.access.scope,
            issue.refresh_token,
            _audit(
                "token.issued",
                grant="password",
                client_id=client.client_id,
                username=username,
                family_id=issue.access.family_id,
            ),
        )

    async def _client_credentials(self, client: Client, form: Mapping[str, str], now: float) -> Response:
        issue = client_credentials.decide(client, form, int(now), self.s.policy, self.s.keys)
        await self.s.storage.save_issue(issue)
        return token_response(
            issue.access_token,
            issue.access.expires_at - int(now),
            issue.access.scope,
            None,
            _audit("token.issued", grant="client_credentials", client_id=client.client_id),
        )

    async def _refresh(self, client: Client, form: Mapping[str, str], now: float) -> Response:
        presented = form["refresh_token"]
        keys, storage, policy = self.s.keys, self.s.storage, self.s.policy
        presented_hash = keys.hash_token(presented)
        try:
            plan = refresh_token.plan_rotation(
                presented, await storage.get_refresh_token(presented_hash), client, form, now, policy, keys
            )
            if isinstance(plan, Rotation):
                if await storage.rotate(plan):
                    return token_response(
                        plan.access_token,
                        plan.access.expires_at - int(now),
                        plan.access.scope,
                        plan.refresh_token,
                        _audit("token.refreshed", client_id=client.client_id, family_id=plan.refresh.family_id),
                    )
                # Another request used the token between our read and our write: it won; see what it did.
                record = await storage.get_refresh_token(presented_hash)
                if record is None:
                    raise InvalidGrant("The refresh token is invalid.", detail="refresh token vanished")
            else:
                record = plan.record
            access_hash, refresh_hash = refresh_token.successor_hashes(presented, keys)
            replay = refresh_token.decide_replay(
                presented,
                record,
                client,
                await storage.get_access_token(access_hash),
                await storage.get_refresh_token(refresh_hash),
                now,
                policy,
                keys,
            )
        except refresh_token.ReuseDetected as exc:
            revoked = await storage.revoke_family(exc.family_id, int(now))
            metrics.reuse_detected(revoked)
            log.warning(
                "refresh token reuse",
                extra={
                    "audit": _audit(
                        "token.reuse_detected",
                        client_id=client.client_id,
                        family_id=exc.family_id,
                        reason=exc.detail,
                        family_revoked=revoked,
                    )
                },
            )
            raise
        return token_response(
            replay.access_token,
            replay.expires_in,
            replay.scope,
            replay.refresh_token,
            _audit("token.replayed", client_id=client.client_id, family_id=record.family_id),
        )
