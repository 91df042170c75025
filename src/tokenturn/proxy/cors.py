"""Who may call the proxy from a browser: CORS (Fetch standard) and the CSRF checks of cookie mode.

Only the configured origins get ``Access-Control-Allow-Origin`` -- echoed exactly, with
``Vary: Origin``, never ``*`` (which browsers refuse with credentials anyway). A request whose
``Origin`` is neither configured nor the proxy's own is refused before anything goes upstream.
Cookie mode adds the OWASP "custom request header" defence (RFC 6749 §10.12 asks for CSRF
protection): a cookie-carrying request must send ``X-Tokenturn-CSRF`` (or ``X-Requested-With``),
which a cross-site form cannot set and a cross-site script cannot send without passing a preflight.
"""

from __future__ import annotations

from collections.abc import Mapping

CSRF_HEADERS = ("x-tokenturn-csrf", "x-requested-with")
ALLOWED_REQUEST_HEADERS = ("content-type", *CSRF_HEADERS)
PREFLIGHT_MAX_AGE = 600


class OriginPolicy:
    """The allow-list plus "same origin as the proxy itself" (the demo page)."""

    def __init__(self, allow_origins: tuple[str, ...], *, credentials: bool) -> None:
        self._allowed = frozenset(allow_origins)
        self._credentials = credentials

    @staticmethod
    def own_origin(headers: Mapping[str, str], scheme: str) -> str | None:
        host = headers.get("host")
        return f"{scheme}://{host}".lower() if host else None

    def is_listed(self, origin: str | None) -> bool:
        return origin is not None and origin.lower() in self._allowed

    def permits(self, headers: Mapping[str, str], scheme: str) -> bool:
        """No ``Origin`` (not a browser's cross-origin call), a listed one, or the proxy's own."""
        origin = headers.get("origin")
        if origin is None:
            return True
        return self.is_listed(origin) or origin.lower() == self.own_origin(headers, scheme)

    def response_headers(self, headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
        """CORS headers for an actual (non-preflight) response; none for unlisted origins."""
        origin = headers.get("origin")
        if origin is None or not self.is_listed(origin):
            return (("vary", "Origin"),)
        out: tuple[tuple[str, str], ...] = (
            ("access-control-allow-origin", origin),
            ("vary", "Origin"),
            ("access-control-expose-headers", "Retry-After"),
        )
        if self._credentials:
            out += (("access-control-allow-credentials", "true"),)
        return out

    def preflight_headers(self, headers: Mapping[str, str]) -> tuple[tuple[str, str], ...] | None:
        """Headers for a listed origin's ``OPTIONS`` preflight asking for POST; None to refuse it."""
        if not self.is_listed(headers.get("origin")):
            return None
        if headers.get("access-control-request-method", "POST").upper() != "POST":
            return None
        return (
            *self.response_headers(headers),
            ("access-control-allow-methods", "POST"),
            ("access-control-allow-headers", ", ".join(ALLOWED_REQUEST_HEADERS)),
            ("access-control-max-age", str(PREFLIGHT_MAX_AGE)),
        )


def has_csrf_header(headers: Mapping[str, str]) -> bool:
    return any(headers.get(name, "").strip() for name in CSRF_HEADERS)
