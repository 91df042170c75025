"""Token introspection answers (RFC 7662 §2.2; contract §2). Plain records and ``now`` in, a JSON object out.

An inactive token, whatever the reason, is ``{"active": false}`` and nothing more (RFC 7662
§2.2: the server "SHOULD NOT include any additional information about an inactive token"), so
a caller cannot tell expired from revoked from unknown. Inactive means: unknown, expired,
revoked (itself, its family, its user disabled), a refresh token already used (also inside the
grace window: the retry path exists for the token endpoint only), or issued to another client
when the caller lacks the introspection permission (RFC 7662 §4: "the authorization server MAY
respond ... as if the token were inactive" to a caller not allowed to see it).

An active token is exactly ``{"active", "scope", "client_id", "username", "token_type", "exp",
"iat", "sub"}``; ``sub`` is the username for user tokens and the client_id for client_credentials
tokens, which carry no ``username`` key (RFC 7662 §2.2, RFC 7519 §4.1.2).
"""

from __future__ import annotations

from typing import Any

from tokenturn.core.models import AccessToken, Client, RefreshToken

INACTIVE: dict[str, Any] = {"active": False}


def may_see(caller: Client, owner_client_id: str) -> bool:
    """A client sees its own tokens; one registered with the introspection permission sees all."""
    return caller.introspection or caller.client_id == owner_client_id


def _active(client_id: str, username: str | None, scope: str, token_type: str, exp: int, iat: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "active": True,
        "scope": scope,
        "client_id": client_id,
        "token_type": token_type,
        "exp": exp,
        "iat": iat,
        "sub": username if username is not None else client_id,
    }
    if username is not None:
        answer["username"] = username
    return answer


def introspect_access(caller: Client, record: AccessToken | None, now: float) -> dict[str, Any]:
    if record is None or record.revoked or now >= record.expires_at or not may_see(caller, record.client_id):
        return INACTIVE
    return _active(record.client_id, record.username, record.scope, "Bearer", record.expires_at, record.issued_at)


def introspect_refresh(caller: Client, record: RefreshToken | None, now: float) -> dict[str, Any]:
    if (
        record is None
        or record.used_at is not None
        or record.family_revoked
        or record.user_disabled
        or now >= record.expires_at
        or now >= record.family_expires_at
        or not may_see(caller, record.client_id)
    ):
        return INACTIVE
    return _active(
        record.client_id, record.username, record.scope, "refresh_token", record.expires_at, record.issued_at
    )
