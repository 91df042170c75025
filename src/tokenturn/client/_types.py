"""The client's vocabulary: the seed's wire shapes (RFC 6749 §5.1, §5.2; RFC 7662 §2.2) and a token record.

:class:`Token` is what the SDK keeps: the server's answer plus an absolute expiry (wall-clock epoch
seconds) computed the moment the answer arrived, so a token read back from a file hours later still
knows when it runs out. In-process freshness checks use the monotonic clock (see ``_session``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict


class AccessToken(TypedDict):
    """A successful token response, exactly as the seed types it (RFC 6749 §5.1)."""

    access_token: str
    expires_in: int
    token_type: str
    scope: str
    refresh_token: NotRequired[str]  # absent for client_credentials (RFC 6749 §4.4.3)


class ErrorResponse(TypedDict):
    """An error response, exactly as the seed types it (RFC 6749 §5.2)."""

    error: str
    error_description: str


class IntrospectionResponse(TypedDict, total=False):
    """An introspection answer (RFC 7662 §2.2); only ``active`` is always present."""

    active: bool
    scope: str
    client_id: str
    username: str
    token_type: str
    exp: int
    iat: int
    sub: str


@dataclass(frozen=True, slots=True)
class Token:
    """An access token (and maybe a refresh token) with its absolute expiry.

    ``expires_at`` and ``obtained_at`` are wall-clock epoch seconds; ``expires_in`` is the lifetime the
    server granted, kept so the refresh leeway can be capped at half of it.
    """

    access_token: str
    token_type: str
    expires_in: int
    scope: str
    refresh_token: str | None
    obtained_at: float
    expires_at: float

    @classmethod
    def from_response(cls, body: AccessToken, received_at: float, previous_refresh: str | None = None) -> Token:
        """Build the record at receipt; keep ``previous_refresh`` if the server sent no new one (RFC 6749 §6)."""
        return cls(
            access_token=body["access_token"],
            token_type=body["token_type"],
            expires_in=body["expires_in"],
            scope=body["scope"],
            refresh_token=body.get("refresh_token") or previous_refresh,
            obtained_at=received_at,
            expires_at=received_at + body["expires_in"],
        )

    @classmethod
    def from_refresh_token(cls, refresh_token: str, scope: str = "") -> Token:
        """A record that holds only a refresh token (already expired), so the first use refreshes it."""
        return cls("", "Bearer", 0, scope, refresh_token, 0.0, 0.0)

    def as_access_token(self) -> AccessToken:
        """The seed's ``AccessToken`` shape (``expires_in`` as granted, not as remaining)."""
        body = AccessToken(
            access_token=self.access_token, expires_in=self.expires_in, token_type=self.token_type, scope=self.scope
        )
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        return body

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Token:
        """Read a record written by :meth:`to_json`; raises ``ValueError`` on anything else."""
        try:
            token = cls(
                access_token=str(data["access_token"]),
                token_type=str(data["token_type"]),
                expires_in=int(data["expires_in"]),
                scope=str(data["scope"]),
                refresh_token=None if data.get("refresh_token") is None else str(data["refresh_token"]),
                obtained_at=float(data["obtained_at"]),
                expires_at=float(data["expires_at"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a token record: {type(exc).__name__}") from None
        return token

    def __repr__(self) -> str:
        # Never print a token: reprs end up in logs and tracebacks.
        return (
            f"Token(token_type={self.token_type!r}, scope={self.scope!r}, expires_at={self.expires_at:.0f}, "
            f"refresh_token={'yes' if self.refresh_token else 'no'})"
        )
