"""Successful token responses (RFC 6749 §5.1), exactly the seed's ``AccessToken`` shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tokenturn.core.http import Response, json_response


def token_response(
    access_token: str,
    expires_in: int,
    scope: str,
    refresh_token: str | None,
    audit: Mapping[str, Any] | None = None,
) -> Response:
    payload: dict[str, Any] = {
        "access_token": access_token,
        "expires_in": expires_in,
        "token_type": "Bearer",
        "scope": scope,
    }
    if refresh_token is not None:
        payload["refresh_token"] = refresh_token
    return json_response(200, payload, audit=audit)
