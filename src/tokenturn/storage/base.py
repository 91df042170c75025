"""What the server asks of a store, split by concern (fosite-style small interfaces).

Every backend implements all of them; a handler asks only for the part it needs. Two rules
hold for every backend:

* :meth:`TokenStore.rotate` is ONE atomic conditional write: it marks the presented refresh
  token used only if it is still unused (and its family not revoked) and inserts the successors
  in the same transaction, so exactly one of any number of concurrent callers wins, on one node
  or many;
* nothing in clear: tokens and client secrets arrive here already hashed.

A backend that cannot reach its database raises :class:`StorageUnavailable` (answered 503).
"""

from __future__ import annotations

from typing import Protocol

from tokenturn.core.models import AccessToken, Client, Issue, RefreshToken, Rotation, User

#: The longest refresh grace window settings allow (``TOKENTURN_REFRESH_GRACE_SECONDS`` is 0 to 60).
MAX_GRACE_SECONDS = 60


class StorageError(Exception):
    """Base of the storage errors; messages never contain token or secret material."""


class StorageUnavailable(StorageError):
    """The database cannot be reached or timed out; the request may be retried."""


class Conflict(StorageError):
    """A record with that key exists already (client_id, username)."""


class ClientStore(Protocol):
    async def get_client(self, client_id: str) -> Client | None: ...
    async def create_client(self, client: Client) -> None: ...
    async def list_clients(self) -> list[Client]: ...
    async def delete_client(self, client_id: str) -> bool: ...
    async def set_client_secret(self, client_id: str, secret_hash: bytes) -> bool: ...


class UserStore(Protocol):
    async def get_user(self, username: str) -> User | None: ...
    async def create_user(self, user: User) -> None: ...
    async def list_users(self) -> list[User]: ...
    async def set_user_disabled(self, username: str, disabled: bool) -> bool: ...
    async def set_password_hash(self, username: str, password_hash: str) -> None: ...


class TokenStore(Protocol):
    async def save_issue(self, issue: Issue) -> None:
        """Write a password or client_credentials grant's records in one transaction."""

    async def rotate(self, rotation: Rotation) -> bool:
        """The conditional write; True if this call used the token, False if it was used already."""

    async def get_refresh_token(self, token_hash: bytes) -> RefreshToken | None: ...

    async def get_access_token(self, token_hash: bytes) -> AccessToken | None:
        """The token with ``revoked`` set if it, its family, its user or its client was revoked/disabled."""

    async def revoke_family(self, family_id: str, now: int) -> bool: ...
    async def revoke_access_token(self, token_hash: bytes, now: int) -> bool: ...


class Storage(ClientStore, UserStore, TokenStore, Protocol):
    """A whole backend: the three stores plus lifecycle."""

    async def migrate(self) -> list[str]:
        """Apply pending schema migrations; return the names applied."""

    async def secret_key(self, generate: bool) -> str | None:
        """The key kept in the store (embedded default), generated on first use if ``generate``."""

    async def ping(self) -> None:
        """Raise :class:`StorageUnavailable` unless the database answers."""

    async def purge(self, now: int, retention: int, batch: int = 1000) -> int:
        """Delete up to ``batch`` records that are expired or revoked for over ``retention`` seconds.

        What must survive, because reuse detection and the grace window read it (RFC 9700 §4.14.2):
        a *used* refresh token is kept until its family is deleted (family ended or revoked, plus
        ``retention``), however long ago its own idle lifetime ended; an access token is kept for
        at least :data:`MAX_GRACE_SECONDS` after it expired or was revoked, even with a zero
        ``retention`` (a grace-window replay looks up the successor access token).
        """

    async def close(self) -> None: ...
