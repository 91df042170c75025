"""``GET /v1/me/``: tokenturn's own protected resource (RFC 6750; contract §2), and its CORS.

Answers ``{"username", "client_id", "scope"}`` for a valid access token (``username`` is null for
client_credentials tokens) through the same :class:`~tokenturn.server.resource.BearerAuth` users
mount on their apps. Cross-origin access (Fetch standard, CORS protocol) only for the origins in
``TOKENTURN_CORS_ORIGINS``: a listed origin is echoed back with ``Vary: Origin``; any other gets
no CORS headers at all, so the browser blocks it. Credentials mode is not enabled: the bearer
token travels in a header the page sets itself, not a cookie.
"""

from __future__ import annotations

from tokenturn.core.bearer import bearer_error_response
from tokenturn.core.errors import InvalidRequest, OAuthError
from tokenturn.core.http import HttpRequest, Response, json_response
from tokenturn.server.resource import BearerAuth

_ALLOW = "GET, HEAD, OPTIONS"


class MeEndpoint:
    def __init__(self, auth: BearerAuth, cors_origins: tuple[str, ...] = ()) -> None:
        self.auth = auth
        self.origins = frozenset(cors_origins)

    def _cors(self, request: HttpRequest) -> tuple[tuple[str, str], ...]:
        origin = request.headers.get("origin")
        if origin is None or origin not in self.origins:
            return (("vary", "Origin"),) if self.origins else ()
        return (("access-control-allow-origin", origin), ("vary", "Origin"))

    async def __call__(self, request: HttpRequest) -> Response:
        cors = self._cors(request)
        if request.method == "OPTIONS":
            return self._preflight(request, cors)
        if request.method not in ("GET", "HEAD"):
            exc = InvalidRequest("Use GET.", status=405, headers={"Allow": _ALLOW})
            return _with(bearer_error_response(exc, self.auth.realm), cors)
        try:
            principal = await self.auth.authenticate(request.headers, request.query)
        except OAuthError as exc:
            return _with(bearer_error_response(exc, self.auth.realm), cors)
        return json_response(200, principal.as_json(), extra=cors)

    def _preflight(self, request: HttpRequest, cors: tuple[tuple[str, str], ...]) -> Response:
        if not any(name == "access-control-allow-origin" for name, _ in cors):
            return Response(204, (("allow", _ALLOW), *cors))
        return Response(
            204,
            (
                *cors,
                ("access-control-allow-methods", "GET, HEAD"),
                ("access-control-allow-headers", "Authorization"),
                ("access-control-max-age", "600"),
            ),
        )


def _with(response: Response, extra: tuple[tuple[str, str], ...]) -> Response:
    if not extra:
        return response
    return Response(response.status, (*response.headers, *extra), response.body, response.audit)
