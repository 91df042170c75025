"""Protecting resources with tokenturn access tokens (RFC 6750): for tokenturn's own ``/v1/me/`` and any ASGI app.

Three ways in, one check (:meth:`BearerAuth.authenticate`: parse the header, one indexed lookup
of the token's keyed hash, expiry/revocation/scope decided by :mod:`tokenturn.core.bearer`):

* :class:`BearerAuthMiddleware` — pure ASGI middleware: refuses a request with the RFC 6750 error
  or passes it on with the :class:`Principal` in ``scope["state"]["principal"]`` (Starlette's
  ``request.state.principal``);
* :meth:`BearerAuth.require` — a dependency for Starlette/FastAPI routes,
  ``principal = Depends(auth.require("read"))``; it raises :class:`BearerError`, a Starlette
  ``HTTPException`` carrying the ``WWW-Authenticate`` challenge; register
  :func:`bearer_error_handler` to answer in the contract's JSON error shape;
* :meth:`BearerAuth.authenticate` — plain headers in, :class:`Principal` out, for anything else.

A request whose token store cannot be reached gets ``503 temporarily_unavailable``, never a pass.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Protocol

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response as StarletteResponse

from tokenturn.asgi import ASGIApp, Receive, Scope, Send, headers_of, send_response
from tokenturn.config import Settings
from tokenturn.core.bearer import Principal, bearer_error_response, bearer_token, challenge, check_access_token
from tokenturn.core.crypto import ACCESS_PREFIX, Keys
from tokenturn.core.errors import OAuthError, TemporarilyUnavailable
from tokenturn.core.models import AccessToken
from tokenturn.storage import Storage, StorageUnavailable, open_storage

__all__ = [
    "BearerAuth",
    "BearerAuthMiddleware",
    "BearerError",
    "Principal",
    "bearer_error_handler",
    "principal_of",
]

PRINCIPAL_KEY = "principal"


class AccessTokenReader(Protocol):
    """The one storage call a resource server needs."""

    async def get_access_token(self, token_hash: bytes) -> AccessToken | None: ...


class BearerError(HTTPException):
    """An RFC 6750 refusal raised by :meth:`BearerAuth.require`; ``oauth`` is the error it renders."""

    def __init__(self, oauth: OAuthError, realm: str) -> None:
        headers = dict(oauth.headers)
        if oauth.status in (400, 401, 403):
            headers["WWW-Authenticate"] = challenge(oauth, realm)
        super().__init__(oauth.status, oauth.description, headers)
        self.oauth, self.realm = oauth, realm


class BearerAuth:
    """Validates ``Authorization: Bearer`` access tokens against a tokenturn store."""

    def __init__(
        self,
        storage: AccessTokenReader | None = None,
        keys: Keys | None = None,
        *,
        settings: Settings | None = None,
        clock: Callable[[], float] = time.time,
        realm: str = "tokenturn",
    ) -> None:
        if (storage is None or keys is None) and settings is None:
            raise ValueError("give storage and keys, or settings to open them from")
        self._storage, self._keys, self._settings = storage, keys, settings
        self._clock, self.realm = clock, realm
        self._opening = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: object) -> BearerAuth:
        """Open the store named by ``settings`` on first use (same secret key as the server)."""
        return cls(settings=settings, **kwargs)  # type: ignore[arg-type]

    async def _ready(self) -> tuple[AccessTokenReader, Keys]:
        if self._storage is not None and self._keys is not None:
            return self._storage, self._keys
        async with self._opening:
            if self._storage is None or self._keys is None:
                assert self._settings is not None
                storage: Storage = open_storage(self._settings.database_url)
                secret = self._settings.secret_key or await storage.secret_key(generate=False)
                if secret is None:
                    raise StorageUnavailable("the store holds no secret key yet; start the server once")
                self._storage, self._keys = storage, Keys(secret)
        return self._storage, self._keys

    async def close(self) -> None:
        """Close a store this helper opened itself (call it from your app's shutdown)."""
        if self._settings is not None and self._storage is not None:
            storage, self._storage = self._storage, None
            close = getattr(storage, "close", None)
            if close is not None:
                await close()

    async def authenticate(
        self, headers: Mapping[str, str], query: str = "", required: Iterable[str] = ()
    ) -> Principal:
        """The principal of the request's bearer token (lower-cased header names), or an ``OAuthError``."""
        token = bearer_token(headers, query)
        storage, keys = await self._ready()
        # Only access tokens are bearer tokens; anything else cannot be in the table.
        record = await storage.get_access_token(keys.hash_token(token)) if token.startswith(ACCESS_PREFIX) else None
        return check_access_token(record, self._clock(), required)

    def require(self, *scopes: str) -> Callable[[Request], Awaitable[Principal]]:
        """A route dependency answering the :class:`Principal`, or raising :class:`BearerError`."""

        async def dependency(request: Request) -> Principal:
            try:
                principal = await self.authenticate(
                    {k.lower(): v for k, v in request.headers.items()}, request.url.query, scopes
                )
            except OAuthError as exc:
                raise BearerError(exc, self.realm) from None
            except StorageUnavailable:
                raise BearerError(TemporarilyUnavailable(), self.realm) from None
            request.state.principal = principal
            return principal

        return dependency


def principal_of(request: Request) -> Principal:
    """The principal :class:`BearerAuthMiddleware` attached to ``request``."""
    principal = getattr(request.state, PRINCIPAL_KEY, None)
    if not isinstance(principal, Principal):
        raise RuntimeError("no principal: is the route behind BearerAuthMiddleware?")
    return principal


async def bearer_error_handler(request: Request, exc: Exception) -> StarletteResponse:
    """Render :class:`BearerError` as ``{"error", "error_description"}`` with its challenge header."""
    oauth = exc.oauth if isinstance(exc, BearerError) else TemporarilyUnavailable()
    realm = exc.realm if isinstance(exc, BearerError) else "tokenturn"
    r = bearer_error_response(oauth, realm)
    return StarletteResponse(r.body, r.status, {k: v for k, v in r.headers if k != "content-type"}, "application/json")


class BearerAuthMiddleware:
    """Pure ASGI middleware: every HTTP request needs a valid access token with ``scopes``.

    ``exempt`` lists path prefixes that pass without a token (health checks, say). WebSocket
    connections without a valid token are closed with code 1008 (policy violation).
    """

    def __init__(self, app: ASGIApp, auth: BearerAuth, scopes: Iterable[str] = (), exempt: Iterable[str] = ()) -> None:
        self.app, self.auth = app, auth
        self.scopes = tuple(scopes)
        self.exempt = tuple(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"].startswith(self.exempt or ("\0",)):
            await self.app(scope, receive, send)
            return
        try:
            principal = await self.auth.authenticate(
                headers_of(scope), scope.get("query_string", b"").decode("latin-1"), self.scopes
            )
        except (OAuthError, StorageUnavailable) as exc:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            oauth = exc if isinstance(exc, OAuthError) else TemporarilyUnavailable()
            await send_response(send, bearer_error_response(oauth, self.auth.realm))
            return
        scope.setdefault("state", {})[PRINCIPAL_KEY] = principal
        await self.app(scope, receive, send)
