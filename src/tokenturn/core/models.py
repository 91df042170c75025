"""Records the core decides over. Storage loads and saves them; nothing here does I/O.

Times are integer seconds since the epoch. Hashes are ``Keys.hash_token`` digests.
"""

from __future__ import annotations

from dataclasses import dataclass

GRANT_PASSWORD = "password"
GRANT_CLIENT_CREDENTIALS = "client_credentials"
GRANT_REFRESH_TOKEN = "refresh_token"
GRANT_TYPES = (GRANT_PASSWORD, GRANT_CLIENT_CREDENTIALS, GRANT_REFRESH_TOKEN)


@dataclass(frozen=True, slots=True)
class Client:
    client_id: str
    name: str
    secret_hash: bytes | None  # None: a public client (RFC 6749 §2.1)
    grant_types: frozenset[str]
    scope: frozenset[str]
    introspection: bool = False
    created_at: int = 0

    @property
    def is_public(self) -> bool:
        return self.secret_hash is None


@dataclass(frozen=True, slots=True)
class User:
    username: str
    password_hash: str
    disabled: bool = False
    created_at: int = 0


@dataclass(frozen=True, slots=True)
class AccessToken:
    token_hash: bytes
    client_id: str
    username: str | None
    scope: str
    issued_at: int
    expires_at: int
    family_id: str | None = None
    revoked: bool = False


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """A refresh token with what is needed to rotate it: its family's state and its user's."""

    token_hash: bytes
    family_id: str
    client_id: str
    username: str | None
    scope: str  # the family's scope: a narrower refresh never narrows the refresh token (RFC 6749 §6)
    issued_at: int
    expires_at: int  # idle end, never past the family's absolute end
    family_expires_at: int
    used_at: float | None = None
    family_revoked: bool = False
    user_disabled: bool = False


@dataclass(frozen=True, slots=True)
class Family:
    family_id: str
    client_id: str
    username: str | None
    scope: str
    created_at: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class Issue:
    """Tokens to write for a password or client_credentials grant (plaintexts go to the client only)."""

    access_token: str
    access: AccessToken
    family: Family | None = None
    refresh_token: str | None = None
    refresh: RefreshToken | None = None


@dataclass(frozen=True, slots=True)
class Rotation:
    """The one conditional write of a refresh: mark ``presented_hash`` used at ``now``, insert successors."""

    presented_hash: bytes
    now: float  # becomes the token's used_at: sub-second, for the grace window
    access_token: str
    access: AccessToken
    refresh_token: str
    refresh: RefreshToken
