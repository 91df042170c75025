"""The tokenturn ASGI application: a path table of endpoints over shared :class:`Services`.

Every endpoint is ``async (HttpRequest) -> Response``. Errors are turned into the contract's
JSON shape here, in one place: an :class:`OAuthError` is rendered as is, an unreachable store is
``503 temporarily_unavailable`` with ``Retry-After``, and anything unexpected is logged (type and
place only) and answered 503 too, never a 500 or a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from tokenturn.asgi import ClientDisconnected, Receive, Scope, Send, headers_of, send_response
from tokenturn.config import Settings, load_settings
from tokenturn.core.crypto import Keys
from tokenturn.core.errors import OAuthError, TemporarilyUnavailable
from tokenturn.core.http import HttpRequest, Response, error_response, json_response
from tokenturn.core.request import has_basic
from tokenturn.passwords import passwords_for
from tokenturn.server import metrics
from tokenturn.server.asgi import to_request
from tokenturn.server.introspect import IntrospectionEndpoint
from tokenturn.server.limits import FailureLimiter, MemoryLimiter
from tokenturn.server.logs import configure
from tokenturn.server.me import MeEndpoint
from tokenturn.server.metadata import MetadataEndpoint
from tokenturn.server.openapi import OpenAPIEndpoint
from tokenturn.server.purge import BackgroundPurge
from tokenturn.server.resource import BearerAuth
from tokenturn.server.revoke import RevocationEndpoint
from tokenturn.server.services import Services
from tokenturn.server.token_endpoint import TokenEndpoint
from tokenturn.storage import Storage, StorageUnavailable, open_storage

Endpoint = Callable[[HttpRequest], Awaitable[Response]]
Route = tuple[str, Endpoint]  # (metrics label, endpoint)

log = logging.getLogger("tokenturn.server")
audit_log = logging.getLogger("tokenturn.audit")

NOT_FOUND = json_response(404, {"error": "not_found", "error_description": "No such endpoint."}, no_store=False)


async def build_services(
    settings: Settings,
    *,
    storage: Storage | None = None,
    limiter: FailureLimiter | None = None,
    clock: Callable[[], float] = time.time,
) -> Services:
    """Open the store, bring an embedded schema up to date, and resolve the secret key."""
    storage = storage or open_storage(settings.database_url)
    if settings.is_embedded:
        await storage.migrate()
    secret = settings.secret_key or await storage.secret_key(generate=settings.is_embedded)
    if secret is None:  # pragma: no cover - settings validation requires a key for PostgreSQL
        raise RuntimeError("TOKENTURN_SECRET_KEY is required")
    passwords = passwords_for(settings)
    if limiter is None and settings.redis_url is not None:
        from tokenturn.server.redis_limits import RedisLimiter

        limiter = RedisLimiter.from_url(settings.redis_url)
    return Services(settings, storage, Keys(secret), passwords, limiter or MemoryLimiter(), clock)


class TokenturnApp:
    """ASGI app. Starts its services on the lifespan ``startup`` event or, failing that, on first use."""

    def __init__(
        self,
        settings: Settings,
        *,
        storage: Storage | None = None,
        limiter: FailureLimiter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._storage, self._limiter, self._clock = storage, limiter, clock
        self._services: Services | None = None
        self._start_lock = asyncio.Lock()
        self.routes: dict[str, Route] = {}
        self._purge: BackgroundPurge | None = None

    @property
    def services(self) -> Services:
        if self._services is None:
            raise RuntimeError("the app has not started")
        return self._services

    async def startup(self) -> None:
        async with self._start_lock:
            if self._services is not None:
                return
            services = await build_services(
                self.settings, storage=self._storage, limiter=self._limiter, clock=self._clock
            )
            self.routes = self._routes(services)
            self._services = services
            self._purge = BackgroundPurge(
                services.storage, services.clock, self.settings.purge_interval, self.settings.purge_retention
            )
            self._purge.start()

    async def shutdown(self) -> None:
        if self._purge is not None:
            await self._purge.stop()
            self._purge = None
        if self._services is not None:
            await self._services.storage.close()
            aclose = getattr(self._services.limiter, "aclose", None)
            if self._limiter is None and aclose is not None:  # a limiter we built (Redis): ours to close
                await aclose()
            self._services = None

    def _routes(self, services: Services) -> dict[str, Route]:
        """Path -> (metrics label, endpoint). Paths ending in "/" also answer without it: clients
        differ on the trailing slash, and a POST is never redirected (contract §1)."""
        bearer = BearerAuth(services.storage, services.keys, clock=services.clock)
        table: tuple[tuple[str, str, Endpoint], ...] = (
            ("/auth/token/", "token", TokenEndpoint(services)),
            ("/auth/revoke_token/", "revoke", RevocationEndpoint(services)),
            ("/auth/introspect/", "introspect", IntrospectionEndpoint(services)),
            ("/v1/me/", "me", MeEndpoint(bearer, services.settings.cors_origins)),
            ("/.well-known/oauth-authorization-server", "metadata", MetadataEndpoint(services)),
            ("/openapi.json", "openapi", OpenAPIEndpoint(services)),
            ("/metrics", "metrics", self._metrics),
            ("/healthz", "healthz", self._healthz),
            ("/readyz", "readyz", self._readyz),
        )
        routes: dict[str, Route] = {}
        for path, label, endpoint in table:
            routes[path] = routes[path.rstrip("/")] = (label, endpoint)
        return routes

    # -- tiny endpoints -----------------------------------------------------------------------
    async def _healthz(self, request: HttpRequest) -> Response:
        return json_response(200, {"status": "ok"}, no_store=False)

    async def _readyz(self, request: HttpRequest) -> Response:
        try:
            await self.services.storage.ping()
        except StorageUnavailable:
            return json_response(503, {"status": "unavailable"}, extra=(("retry-after", "2"),))
        return json_response(200, {"status": "ready"})

    async def _metrics(self, request: HttpRequest) -> Response:
        return metrics.exposition()

    # -- ASGI ---------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": f"{type(exc).__name__}: {exc}"})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._services is None:
            try:
                await self.startup()
            except StorageUnavailable:
                await send_response(send, error_response(TemporarilyUnavailable()))
                return
        started = time.perf_counter()
        route = self.routes.get(scope["path"])
        if route is None:
            metrics.observe("other", NOT_FOUND, time.perf_counter() - started)
            await send_response(send, NOT_FOUND)
            return
        label, endpoint = route
        request: HttpRequest | None = None
        try:
            request = await to_request(scope, receive)
            response = await endpoint(request)
        except ClientDisconnected:
            return
        except OAuthError as exc:
            headers = request.headers if request is not None else headers_of(scope)  # None: body refused early
            response = error_response(exc, basic_used=has_basic(headers))
        except StorageUnavailable as exc:
            log.warning("storage unavailable", extra={"audit": {"event": "storage.unavailable", "detail": str(exc)}})
            response = error_response(TemporarilyUnavailable())
        except Exception:
            log.error(
                "unexpected error",
                exc_info=True,
                extra={"audit": {"event": "server.error", "path": scope["path"]}},
            )
            response = error_response(TemporarilyUnavailable("An unexpected error occurred; retry shortly."))
        self._audit(response)
        metrics.observe(label, response, time.perf_counter() - started)
        await send_response(send, response)

    @staticmethod
    def _audit(response: Response) -> None:
        audit = response.audit
        if not audit:
            return
        if "event" in audit:
            audit_log.info(audit["event"], extra={"audit": dict(audit)})
        elif audit.get("error") and audit_log.isEnabledFor(logging.DEBUG):
            audit_log.debug("request refused", extra={"audit": {"event": "request.refused", **audit}})


def create_app(settings: Settings | None = None, **kwargs: object) -> TokenturnApp:
    """The app for ``settings`` (default: from the environment)."""
    return TokenturnApp(settings or load_settings(), **kwargs)  # type: ignore[arg-type]


def app_from_environment() -> TokenturnApp:
    """uvicorn factory for worker processes: settings and log level from ``TOKENTURN_*``."""
    settings = load_settings()
    configure(settings.log_level)
    return TokenturnApp(settings)


__all__ = ["TokenturnApp", "app_from_environment", "build_services", "create_app"]
