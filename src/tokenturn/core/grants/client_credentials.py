"""Client credentials grant (RFC 6749 §4.4): confidential clients only, no refresh token (§4.4.3)."""

from __future__ import annotations

from collections.abc import Mapping

from tokenturn.core.crypto import Keys
from tokenturn.core.errors import UnauthorizedClient
from tokenturn.core.grants.base import Policy, issue_tokens
from tokenturn.core.models import Client, Issue
from tokenturn.core.scopes import format_scope, narrow


def decide(client: Client, form: Mapping[str, str], now: int, policy: Policy, keys: Keys) -> Issue:
    if client.is_public:
        raise UnauthorizedClient("Public clients may not use the client_credentials grant.")
    scope = narrow(form.get("scope"), client.scope, what="the client's allowed scope")
    return issue_tokens(client, None, format_scope(scope), now, policy, keys, with_refresh=False)
