"""The services every endpoint shares, built once at startup and passed down."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tokenturn.config import Settings
from tokenturn.core.client_auth import authenticate, extract_credentials
from tokenturn.core.crypto import Keys
from tokenturn.core.errors import InvalidClient, TooManyRequests
from tokenturn.core.grants.base import Policy, require
from tokenturn.core.http import HttpRequest
from tokenturn.core.models import AccessToken, Client, RefreshToken
from tokenturn.core.request import check_framing
from tokenturn.core.revocation import ACCESS, lookup_order
from tokenturn.passwords import Passwords
from tokenturn.server.limits import FailureLimiter
from tokenturn.storage.base import Storage


@dataclass
class Services:
    """What the endpoints need, built once at startup."""

    settings: Settings
    storage: Storage
    keys: Keys
    passwords: Passwords
    limiter: FailureLimiter
    clock: Callable[[], float] = time.time

    @functools.cached_property
    def policy(self) -> Policy:
        s = self.settings
        return Policy(s.access_token_ttl, s.refresh_token_ttl, s.family_ttl, s.refresh_grace_seconds)

    async def check_limit(self, key: str, which: str, now: float) -> None:
        limit = getattr(self.settings, f"rate_limit_{which}")
        wait = await self.limiter.retry_after(key, limit, now)
        if wait:
            raise TooManyRequests(wait)

    async def authenticate_client(self, request: HttpRequest, form: Mapping[str, str], now: float) -> Client:
        """Client authentication under the per-client and per-address failure limits.

        Over a limit, a failed attempt is answered 429 (and not counted, so the limit decays), but
        a request with the right credentials still passes: client secrets are server-generated
        with 256 bits, so the limit is not what stops guessing, and an attacker sending bad
        secrets under a victim's client_id (or from a shared address) must not lock it out.
        """
        creds = extract_credentials(request.headers, form)
        client_key, addr_key = f"client:{creds.client_id}", f"addr:{request.client_host}"
        limits = self.settings
        wait = max(
            await self.limiter.retry_after(client_key, limits.rate_limit_client, now),
            await self.limiter.retry_after(addr_key, limits.rate_limit_address, now),
        )
        try:
            return authenticate(await self.storage.get_client(creds.client_id), creds, self.keys)
        except InvalidClient:
            if wait:
                raise TooManyRequests(wait) from None
            await self.limiter.record_failure(client_key, limits.rate_limit_client, now)
            await self.limiter.record_failure(addr_key, limits.rate_limit_address, now)
            raise

    async def token_query(self, request: HttpRequest) -> TokenQuery:
        """Revocation and introspection alike (RFC 7009 §2.1, RFC 7662 §2.1): the token endpoint's
        framing and client authentication, then the stored token that ``token`` names."""
        form = check_framing(request)
        (token,) = require(form, "token")
        now = self.clock()
        client = await self.authenticate_client(request, form, now)
        # The token's prefix says which table holds it, so usually one indexed lookup.
        token_hash = self.keys.hash_token(token)
        access: AccessToken | None = None
        refresh: RefreshToken | None = None
        for kind in lookup_order(token, form.get("token_type_hint")):
            if kind == ACCESS:
                access = await self.storage.get_access_token(token_hash)
            else:
                refresh = await self.storage.get_refresh_token(token_hash)
            if access is not None or refresh is not None:
                break
        return TokenQuery(client, now, access, refresh)


@dataclass(frozen=True, slots=True)
class TokenQuery:
    """An authenticated client asking about one token: at most one of ``access``/``refresh`` is set."""

    client: Client
    now: float
    access: AccessToken | None
    refresh: RefreshToken | None
