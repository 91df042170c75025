"""Resource owner password credentials grant (RFC 6749 §4.3; RFC 9700 §2.4 discourages it).

Kept for compatibility with the Bakrypt API and granted per client. The caller checks that the
client may use this grant *before* it verifies the password, so the endpoint is no password
oracle for clients that are not allowed the grant.
"""

from __future__ import annotations

from collections.abc import Mapping

from tokenturn.core.crypto import Keys
from tokenturn.core.errors import InvalidGrant
from tokenturn.core.grants.base import Policy, issue_tokens
from tokenturn.core.models import GRANT_REFRESH_TOKEN, Client, Issue, User
from tokenturn.core.scopes import format_scope, narrow

REQUIRED = ("username", "password")


def decide(
    client: Client,
    user: User | None,
    password_ok: bool,
    form: Mapping[str, str],
    now: int,
    policy: Policy,
    keys: Keys,
) -> Issue:
    """Tokens for ``user`` once the caller has verified the password (``password_ok``)."""
    if user is None or not password_ok:
        raise InvalidGrant("The username or password is incorrect.", detail="bad credentials")
    if user.disabled:
        raise InvalidGrant("The username or password is incorrect.", detail="user disabled")
    scope = narrow(form.get("scope"), client.scope, what="the client's allowed scope")
    return issue_tokens(
        client,
        user.username,
        format_scope(scope),
        now,
        policy,
        keys,
        with_refresh=GRANT_REFRESH_TOKEN in client.grant_types,
    )
