"""Token revocation decisions (RFC 7009 §2.1, §2.2; contract §2). Plain records in, a decision out.

* A refresh token revokes its whole family: every access and refresh token descending from the
  same grant (RFC 7009 §2.1: the server "SHOULD also invalidate all access tokens based on the
  same authorization grant"; RFC 9700 §4.14.2 for rotated families).
* An access token revokes that token only.
* A token the server does not know is answered 200 like a known one (RFC 7009 §2.2): the caller
  learns nothing from the answer.
* A token issued to another client is refused with ``unauthorized_client`` and stays valid
  (RFC 7009 §2.1: the server "verifies whether the token was issued to the client making the
  revocation request"; contract §2 fixes the error code).

``token_type_hint`` (RFC 7009 §2.1) only decides which table is looked at first; the tokens'
prefixes (``tt_at_``/``tt_rt_``) already say which one, so normally one lookup is enough.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenturn.core.crypto import ACCESS_PREFIX, REFRESH_PREFIX
from tokenturn.core.errors import UnauthorizedClient
from tokenturn.core.models import AccessToken, Client, RefreshToken

ACCESS = "access_token"
REFRESH = "refresh_token"


def lookup_order(token: str, hint: str | None) -> tuple[str, ...]:
    """Which token kinds to look up, in order: the prefix decides, else the hint, else both.

    A token without one of our prefixes cannot be ours (every token we issue carries one), but it
    is still looked up in both tables: an unknown hint value is ignored (RFC 7009 §2.1 lets the
    server "extend its search across all of its supported token types").
    """
    if token.startswith(ACCESS_PREFIX):
        return (ACCESS,)
    if token.startswith(REFRESH_PREFIX):
        return (REFRESH,)
    return (REFRESH, ACCESS) if hint == REFRESH else (ACCESS, REFRESH)


@dataclass(frozen=True, slots=True)
class RevokeFamily:
    family_id: str
    client_id: str


@dataclass(frozen=True, slots=True)
class RevokeAccessToken:
    token_hash: bytes
    client_id: str
    family_id: str | None


@dataclass(frozen=True, slots=True)
class NothingToRevoke:
    """Unknown token: answered 200 all the same."""


Decision = RevokeFamily | RevokeAccessToken | NothingToRevoke


def _check_owner(record_client_id: str, client: Client) -> None:
    if record_client_id != client.client_id:
        raise UnauthorizedClient(
            "The token was not issued to this client.", detail="revocation of another client's token"
        )


def decide_revocation(
    client: Client, access: AccessToken | None = None, refresh: RefreshToken | None = None
) -> Decision:
    """What revoking the token found as ``access`` or ``refresh`` (at most one) means for ``client``.

    Expired, used and already revoked tokens are revoked again all the same: revocation is
    idempotent and a used refresh token still names a family the client may want ended.
    """
    if refresh is not None:
        _check_owner(refresh.client_id, client)
        return RevokeFamily(refresh.family_id, refresh.client_id)
    if access is not None:
        _check_owner(access.client_id, client)
        return RevokeAccessToken(access.token_hash, access.client_id, access.family_id)
    return NothingToRevoke()
