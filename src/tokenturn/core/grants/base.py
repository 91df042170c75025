"""What every grant shares: lifetimes, the per-client grant check, required parameters."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from tokenturn.core.crypto import ACCESS_PREFIX, REFRESH_PREFIX, Keys, new_token
from tokenturn.core.errors import InvalidRequest, UnauthorizedClient, UnsupportedGrantType
from tokenturn.core.models import GRANT_TYPES, AccessToken, Client, Family, Issue, RefreshToken


@dataclass(frozen=True, slots=True)
class Policy:
    """Lifetimes in seconds (contract §5)."""

    access_ttl: int = 3600
    refresh_ttl: int = 2_592_000
    family_ttl: int = 7_776_000
    grace: int = 10


def check_grant_type(form: Mapping[str, str]) -> str:
    grant_type = form.get("grant_type")
    if grant_type is None:
        raise InvalidRequest("The grant_type parameter is missing.")
    if grant_type not in GRANT_TYPES:
        raise UnsupportedGrantType("This grant type is not supported.")
    return grant_type


def check_grant_allowed(client: Client, grant_type: str) -> None:
    if grant_type not in client.grant_types:
        raise UnauthorizedClient(f"This client may not use the {grant_type} grant.")


def require(form: Mapping[str, str], *names: str) -> tuple[str, ...]:
    missing = [n for n in names if n not in form]
    if missing:
        raise InvalidRequest(f"The {missing[0]} parameter is missing.")
    return tuple(form[n] for n in names)


def new_family_id() -> str:
    return secrets.token_hex(16)


def issue_tokens(
    client: Client,
    username: str | None,
    scope: str,
    now: int,
    policy: Policy,
    keys: Keys,
    *,
    with_refresh: bool,
) -> Issue:
    """Fresh tokens for a password (new family) or client_credentials grant."""
    access_token = new_token(ACCESS_PREFIX)
    if not with_refresh:
        access = AccessToken(
            keys.hash_token(access_token), client.client_id, username, scope, now, now + policy.access_ttl
        )
        return Issue(access_token, access)
    family = Family(new_family_id(), client.client_id, username, scope, now, now + policy.family_ttl)
    refresh_token = new_token(REFRESH_PREFIX)
    access = AccessToken(
        keys.hash_token(access_token),
        client.client_id,
        username,
        scope,
        now,
        min(now + policy.access_ttl, family.expires_at),
        family.family_id,
    )
    refresh = RefreshToken(
        keys.hash_token(refresh_token),
        family.family_id,
        client.client_id,
        username,
        scope,
        now,
        min(now + policy.refresh_ttl, family.expires_at),
        family.expires_at,
    )
    return Issue(access_token, access, family, refresh_token, refresh)
