"""The refresh proxy (contract §3): the seed's Express ``/refresh`` server, done right.

``POST /refresh`` turns ``{"refreshToken"}`` into an RFC 6749 §6 refresh grant made with the proxy's
own client credentials, so a browser never holds the client secret, and answers with the upstream's
status and JSON body unchanged. Upstream transport failures are ``502``/``504``
``temporarily_unavailable``; bad input is ``400 invalid_request`` and never reaches the upstream.
Cookie mode (``/login``, ``/refresh``, ``/logout``) keeps the refresh token in an HttpOnly cookie
(RFC 9700 §4.14, and the "token-mediating backend" of draft-ietf-oauth-browser-based-apps §6.2).
Nothing here logs or returns a token, a password or the client secret.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tokenturn.asgi import BodyTooLarge, ClientDisconnected, Receive, Scope, Send, headers_of, read_body, send_response
from tokenturn.core.http import Response, json_response
from tokenturn.proxy.asgi import ProxyRequest, to_request
from tokenturn.proxy.config import ProxyConfig
from tokenturn.proxy.cors import OriginPolicy
from tokenturn.proxy.dedupe import SingleFlight
from tokenturn.proxy.limits import WindowLimiter
from tokenturn.proxy.pages import DemoPages
from tokenturn.proxy.session import SessionEndpoints, error, pass_through
from tokenturn.proxy.upstream import Upstream, UpstreamAnswer, UpstreamUnavailable

Action = Callable[[ProxyRequest], Awaitable[Response]]

log = logging.getLogger("tokenturn.proxy")

NOT_FOUND = json_response(404, {"error": "not_found", "error_description": "No such endpoint."})


class ProxyApp:
    """ASGI app of ``tokenturn proxy``. ``transport`` lets tests point the upstream client anywhere."""

    def __init__(
        self,
        config: ProxyConfig,
        *,
        upstream: Upstream | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.upstream = upstream or Upstream(config)
        self.flights = SingleFlight(config.dedupe_seconds, clock=clock)
        self.limiter = WindowLimiter(clock=clock)
        self.origins = OriginPolicy(config.allow_origins, credentials=config.cookie_mode)
        self.session = SessionEndpoints(config, self.upstream, self._shared_refresh)
        self.actions: dict[str, Action] = {"/refresh": self.refresh}
        if config.cookie_mode:
            self.actions.update({"/login": self.session.login, "/logout": self.session.logout})
        self.pages = DemoPages(config.upstream) if config.demo_page else None

    # -- endpoints ------------------------------------------------------------------------------
    async def refresh(self, request: ProxyRequest) -> Response:
        """Body token -> upstream answer unchanged; no body token in cookie mode -> the session cookie."""
        data = _json_object(request.body, allow_empty=self.config.cookie_mode)
        if isinstance(data, Response):
            return data
        if "refreshToken" not in data and self.config.cookie_mode:
            return await self.session.refresh_from_cookie(request)
        token = data.get("refreshToken")
        if not isinstance(token, str) or not token:
            return error(400, "invalid_request", "refreshToken is required and must be a non-empty string.")
        answer, shared = await self._shared_refresh(token)
        return pass_through(answer, shared=shared)

    async def _shared_refresh(self, token: str) -> tuple[UpstreamAnswer, bool]:
        return await self.flights.run(token, lambda: self.upstream.refresh(token))

    # -- ASGI -----------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.upstream.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        headers = headers_of(scope)
        method = scope["method"]
        extra: tuple[tuple[str, str], ...] = ()
        if path == "/healthz":
            response = json_response(200, {"status": "ok"}, no_store=False)
        elif self.pages is not None and path in self.pages:
            response = self.pages.get(path, method)
        elif (action := self.actions.get(path)) is None:
            response = NOT_FOUND
        else:
            extra = self.origins.response_headers(headers)
            try:
                response = await self._guarded(action, path, scope, receive, headers)
            except ClientDisconnected:
                return
            if method == "OPTIONS":
                extra = ()  # the preflight answer carries its own CORS headers
        _log_request(method, path, response, started)
        await send_response(send, response, extra)

    async def _guarded(
        self, action: Action, path: str, scope: Scope, receive: Receive, headers: Mapping[str, str]
    ) -> Response:
        """Preflight, method, origin, rate limit and size checks, then ``action``."""
        method = scope["method"]
        if method == "OPTIONS":
            allowed = self.origins.preflight_headers(headers)
            if allowed is None:
                return error(403, "invalid_request", "This origin may not call the proxy.")
            return Response(204, allowed)
        if method != "POST":
            return error(405, "invalid_request", "Use POST.", extra=(("allow", "POST, OPTIONS"),))
        if not self.origins.permits(headers, scope.get("scheme", "http")):
            return error(403, "invalid_request", "This origin may not call the proxy.")
        client = scope.get("client")
        limit = self.config.rate_limit_login if path == "/login" else self.config.rate_limit_refresh
        if path != "/logout" and (wait := self.limiter.hit(f"{path} {client[0] if client else ''}", limit)):
            return error(
                429, "too_many_requests", f"Too many requests; retry in {wait} s.", extra=(("retry-after", str(wait)),)
            )
        try:
            body = await read_body(receive, headers, self.config.max_body)
        except BodyTooLarge:
            return error(413, "invalid_request", f"The request body is larger than {self.config.max_body // 1024} KiB.")
        try:
            return await action(to_request(scope, headers, body))
        except UpstreamUnavailable as exc:
            response = error(exc.status, "temporarily_unavailable", exc.description)
            return Response(response.status, response.headers, response.body, {"upstream": exc.detail})
        except Exception:
            log.error("unexpected error", exc_info=True, extra={"audit": {"event": "proxy.error", "path": path}})
            return error(503, "temporarily_unavailable", "The proxy hit an unexpected error; retry shortly.")


def _json_object(body: bytes, *, allow_empty: bool) -> dict[str, Any] | Response:
    """The body as a JSON object, or the ``400 invalid_request`` answer for anything else."""
    if allow_empty and not body.strip():
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        return error(400, "invalid_request", 'The body must be JSON like {"refreshToken": "..."}.')
    if not isinstance(data, dict):
        return error(400, "invalid_request", "The body must be a JSON object.")
    return data


def _log_request(method: str, path: str, response: Response, started: float) -> None:
    # Path, status and timing only: bodies, cookies and headers may carry tokens and are never logged.
    fields: dict[str, Any] = {"event": "proxy.request", "method": method, "path": path, "status": response.status}
    fields.update(response.audit)
    fields["ms"] = round((time.perf_counter() - started) * 1000, 1)
    log.info("proxy request", extra={"audit": fields})


__all__ = ["ProxyApp"]
