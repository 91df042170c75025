"""Client-side errors: OAuth error responses mapped from the wire, and a separate transport branch.

Every OAuth ``error`` code of RFC 6749 §5.2, RFC 7009 §2.2.1 and RFC 6750 §3.1 maps to a class
(oauthlib habit); an unknown code becomes plain :class:`OAuthError`. Transport failures (nothing or
not all of an answer arrived) are :class:`TransportError` and never an :class:`OAuthError`, so callers
can tell "the server said no" from "we could not ask". Messages carry the server's description only,
never a token or secret.
"""

from __future__ import annotations

from collections.abc import Mapping


class ClientError(Exception):
    """Base of every error the tokenturn client raises."""


class OAuthError(ClientError):
    """The authorization server answered with an OAuth error (RFC 6749 §5.2)."""

    error = "oauth_error"

    def __init__(
        self, description: str = "", *, status: int = 400, error: str | None = None, retry_after: float | None = None
    ) -> None:
        self.description = description
        self.status = status
        self.retry_after = retry_after
        if error is not None:
            self.error = error
        super().__init__(f"{self.error}: {description}" if description else self.error)


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    error = "invalid_client"


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class AccessDenied(OAuthError):
    error = "access_denied"


class UnsupportedTokenType(OAuthError):
    error = "unsupported_token_type"


class InvalidToken(OAuthError):
    error = "invalid_token"


class ServerError(OAuthError):
    error = "server_error"


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"


class TooManyRequests(OAuthError):
    error = "too_many_requests"


_BY_CODE: Mapping[str, type[OAuthError]] = {
    cls.error: cls
    for cls in (
        InvalidRequest,
        InvalidClient,
        InvalidGrant,
        UnauthorizedClient,
        UnsupportedGrantType,
        InvalidScope,
        AccessDenied,
        UnsupportedTokenType,
        InvalidToken,
        ServerError,
        TemporarilyUnavailable,
        TooManyRequests,
    )
}


def oauth_error(code: str, description: str, status: int, retry_after: float | None = None) -> OAuthError:
    """The exception for a wire ``error`` code; an unknown code keeps its name on a plain :class:`OAuthError`."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return OAuthError(description, status=status, error=code, retry_after=retry_after)
    return cls(description, status=status, retry_after=retry_after)


class TransportError(ClientError):
    """No complete answer: connection refused, timed out, or dropped.

    ``maybe_sent`` is true when the server may have received (and acted on) the request, e.g. a read
    timeout or a connection closed before the response; false when the request surely never left.
    """

    def __init__(self, message: str, *, maybe_sent: bool) -> None:
        self.maybe_sent = maybe_sent
        super().__init__(message)


class UnexpectedResponse(ClientError):
    """An answer that is neither a token response nor an OAuth error (e.g. an HTML page from a proxy)."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"HTTP {status}: {message}")


class LoginRequired(ClientError):
    """No usable token or refresh token: the session must log in again (e.g. its family was revoked)."""


class StoreError(ClientError):
    """A token store could not be read, written or locked."""
