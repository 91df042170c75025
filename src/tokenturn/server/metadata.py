"""``GET /.well-known/oauth-authorization-server``: authorization server metadata (RFC 8414 §2, §3).

Built from the running configuration: the issuer is ``TOKENTURN_ISSUER`` (``tokenturn serve``
sets it from ``--host``/``--port`` when unset; an app run some other way without it falls back
to the request's own scheme and host), endpoints are the issuer plus the contract's paths, and
``scopes_supported`` is the union of the registered clients' scopes, read on each request so a
new client shows at once (contract §4: administrative changes take effect at once).

There is no authorization endpoint (no grant here redirects a browser), so
``response_types_supported`` is empty and ``authorization_endpoint`` is left out (RFC 8414 §2).
"""

from __future__ import annotations

from typing import Any

from tokenturn.core.http import HttpRequest, Response, json_response
from tokenturn.core.models import GRANT_TYPES
from tokenturn.core.request import method_not_allowed
from tokenturn.server.services import Services

AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
PATHS = {
    "token_endpoint": "/auth/token/",
    "revocation_endpoint": "/auth/revoke_token/",
    "introspection_endpoint": "/auth/introspect/",
}


def issuer_of(services: Services, request: HttpRequest) -> str:
    if services.settings.issuer:
        return services.settings.issuer.rstrip("/")
    host = request.headers.get("host", "localhost")
    return f"http://{host}"


def metadata(issuer: str, scopes: list[str]) -> dict[str, Any]:
    auth = list(AUTH_METHODS)
    return {
        "issuer": issuer,
        **{name: issuer + path for name, path in PATHS.items()},
        "grant_types_supported": list(GRANT_TYPES),
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": auth,
        "revocation_endpoint_auth_methods_supported": auth,
        "introspection_endpoint_auth_methods_supported": auth,
        "scopes_supported": scopes,
        "service_documentation": issuer + "/openapi.json",
    }


class MetadataEndpoint:
    def __init__(self, services: Services) -> None:
        self.s = services

    async def __call__(self, request: HttpRequest) -> Response:
        if request.method not in ("GET", "HEAD"):
            raise method_not_allowed("GET", "HEAD")
        scopes = sorted({s for client in await self.s.storage.list_clients() for s in client.scope})
        return json_response(
            200, metadata(issuer_of(self.s, request), scopes), no_store=False, extra=(("cache-control", "no-cache"),)
        )
