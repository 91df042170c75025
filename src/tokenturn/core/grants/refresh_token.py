"""Refresh token grant with rotation, reuse detection and an idempotent-retry window.

RFC 6749 §6 (refreshing; a narrower scope narrows the access token only), RFC 9700 §4.14.2
(rotation: "the authorization server ... issues a new refresh token ... and invalidates the old
one"; reuse of an invalidated token revokes the active one). The grace window is contract §1:
a client that lost the response may present the used token again for
``TOKENTURN_REFRESH_GRACE_SECONDS`` and receives the same successor pair, recomputed from the
token with :meth:`Keys.successors`, as long as that successor has not itself been used.

Two steps around the storage's one conditional write:

1. :func:`plan_rotation` checks the stored record and builds the successors;
2. storage marks the token used *only if it was still unused* and inserts them, atomically;
3. if another request won that race (or the token was already used), :func:`decide_replay`
   either returns the winner's pair or raises :class:`ReuseDetected`, and the caller revokes
   the family.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tokenturn.core.crypto import Keys
from tokenturn.core.errors import InvalidGrant
from tokenturn.core.grants.base import Policy
from tokenturn.core.models import AccessToken, Client, RefreshToken, Rotation
from tokenturn.core.scopes import format_scope, narrow, parse_scope

REQUIRED = ("refresh_token",)


class ReuseDetected(InvalidGrant):
    """A used refresh token came back: the caller must revoke ``family_id`` (RFC 9700 §4.14.2)."""

    def __init__(self, family_id: str, detail: str) -> None:
        super().__init__("The refresh token is invalid.", detail=detail)
        self.family_id = family_id


@dataclass(frozen=True, slots=True)
class AlreadyUsed:
    """The presented token was used before: look up its successors and call :func:`decide_replay`."""

    record: RefreshToken


@dataclass(frozen=True, slots=True)
class Replay:
    access_token: str
    refresh_token: str
    expires_in: int
    scope: str


def _invalid(detail: str) -> InvalidGrant:
    return InvalidGrant("The refresh token is invalid.", detail=detail)


def plan_rotation(
    presented: str,
    record: RefreshToken | None,
    client: Client,
    form: Mapping[str, str],
    now: float,
    policy: Policy,
    keys: Keys,
) -> Rotation | AlreadyUsed:
    """Check the presented token against its record; return the rotation to write."""
    if record is None:
        raise _invalid("unknown refresh token")
    if record.client_id != client.client_id:
        if record.used_at is not None:
            raise ReuseDetected(record.family_id, "used refresh token presented by another client")
        raise _invalid("refresh token issued to another client")
    if record.family_revoked:
        raise _invalid("family revoked")
    if record.used_at is not None:
        return AlreadyUsed(record)
    if record.user_disabled:
        raise _invalid("user disabled")
    if now >= record.expires_at or now >= record.family_expires_at:
        raise _invalid("refresh token expired")
    scope = narrow(form.get("scope"), parse_scope(record.scope), what="the original grant")
    access_token, refresh_token = keys.successors(presented)
    t = int(now)
    access = AccessToken(
        keys.hash_token(access_token),
        client.client_id,
        record.username,
        format_scope(scope),
        t,
        min(t + policy.access_ttl, record.family_expires_at),
        record.family_id,
    )
    refresh = RefreshToken(
        keys.hash_token(refresh_token),
        record.family_id,
        client.client_id,
        record.username,
        record.scope,
        t,
        min(t + policy.refresh_ttl, record.family_expires_at),
        record.family_expires_at,
    )
    return Rotation(record.token_hash, now, access_token, access, refresh_token, refresh)


def successor_hashes(presented: str, keys: Keys) -> tuple[bytes, bytes]:
    """Hashes of the (access, refresh) successors of ``presented``, to look them up."""
    access_token, refresh_token = keys.successors(presented)
    return keys.hash_token(access_token), keys.hash_token(refresh_token)


def decide_replay(
    presented: str,
    record: RefreshToken,
    client: Client,
    successor_access: AccessToken | None,
    successor_refresh: RefreshToken | None,
    now: float,
    policy: Policy,
    keys: Keys,
) -> Replay:
    """A used token came back: the same pair inside the grace window, else reuse (family revoked)."""
    if record.client_id != client.client_id:
        raise ReuseDetected(record.family_id, "used refresh token presented by another client")
    if record.family_revoked:
        raise _invalid("family revoked")
    if record.used_at is None:  # pragma: no cover - storage returns used records only
        raise _invalid("refresh token not used")
    within_grace = now - record.used_at < policy.grace
    if not within_grace:
        raise ReuseDetected(record.family_id, "used refresh token replayed after the grace window")
    if successor_refresh is None or successor_access is None:
        raise ReuseDetected(record.family_id, "successor missing")
    if successor_refresh.used_at is not None:
        raise ReuseDetected(record.family_id, "replayed refresh token whose successor was used")
    if successor_access.revoked:
        raise _invalid("successor revoked")
    access_token, refresh_token = keys.successors(presented)
    return Replay(access_token, refresh_token, max(0, int(successor_access.expires_at - now)), successor_access.scope)
