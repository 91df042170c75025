"""OAuth 2.0 error responses (RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 6750 §3.1).

One hierarchy for the server. Each error carries the wire code, the HTTP status and a
``description`` that is safe to return to the caller; ``detail`` is for logs only and is never
rendered. Neither may contain a token, secret or password.
"""

from __future__ import annotations


class OAuthError(Exception):
    """An error answered as ``{"error", "error_description"}`` with ``status``."""

    error = "server_error"
    status = 400

    def __init__(
        self,
        description: str,
        *,
        detail: str = "",
        headers: dict[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(description)
        self.description = description
        self.detail = detail
        self.headers: dict[str, str] = headers or {}
        if status is not None:
            self.status = status


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    error = "invalid_client"
    status = 401


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class UnsupportedTokenType(OAuthError):
    error = "unsupported_token_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class TooManyRequests(OAuthError):
    error = "too_many_requests"
    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "Too many failed attempts; try again later.",
            headers={"Retry-After": str(max(1, retry_after))},
        )
        self.retry_after = max(1, retry_after)


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status = 503

    def __init__(
        self,
        description: str = "The token store is unavailable; retry shortly.",
        *,
        retry_after: int = 2,
        detail: str = "",
    ) -> None:
        super().__init__(description, detail=detail, headers={"Retry-After": str(retry_after)})


class InvalidToken(OAuthError):
    """RFC 6750 §3.1: the bearer token is missing, expired, revoked or malformed."""

    error = "invalid_token"
    status = 401


class InsufficientScope(OAuthError):
    """RFC 6750 §3.1: the token lacks a scope the resource requires."""

    error = "insufficient_scope"
    status = 403
