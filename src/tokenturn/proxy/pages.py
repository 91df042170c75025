"""The demo page (``--demo-page``): three static files served from the package, no build step.

The page is served from the proxy's own origin, so its cookie-mode calls are same-origin; it calls the
upstream's ``/v1/me/`` directly with the access token, which the upstream must allow through CORS
(``TOKENTURN_CORS_ORIGINS``). A strict Content-Security-Policy lets it talk only to itself and to the
upstream, and run no inline script (the usual XSS hardening, RFC 9700 §4.14 depends on it).
"""

from __future__ import annotations

import html
from importlib import resources
from urllib.parse import urlsplit

from tokenturn.core.http import Response
from tokenturn.proxy.session import error

FILES = {"/": "index.html", "/app.js": "app.js", "/style.css": "style.css"}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css"}


class DemoPages:
    """GET-only static files; ``index.html`` gets the upstream URL in ``data-api``."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        upstream_origin = f"{parts.scheme}://{parts.netloc}"
        self._csp = (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' {upstream_origin}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
        package = resources.files("tokenturn.proxy") / "static"
        self._bodies: dict[str, bytes] = {}
        for path, name in FILES.items():
            text = (package / name).read_text(encoding="utf-8")
            if name == "index.html":
                text = text.replace("{{API}}", html.escape(upstream, quote=True))
            self._bodies[path] = text.encode()

    def __contains__(self, path: str) -> bool:
        return path in self._bodies

    def get(self, path: str, method: str) -> Response:
        if method not in ("GET", "HEAD"):
            return error(405, "invalid_request", "Use GET.", extra=(("allow", "GET, HEAD"),))
        name = FILES[path]
        headers = (
            ("content-type", TYPES[name[name.rindex(".") :]]),
            ("cache-control", "no-cache"),
            ("content-security-policy", self._csp),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "no-referrer"),
            ("x-frame-options", "DENY"),
        )
        # The ASGI server drops the body of a HEAD answer itself and keeps its Content-Length.
        return Response(200, headers, self._bodies[path])
