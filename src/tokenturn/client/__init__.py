"""tokenturn's client SDK: tokens from one authorization server, kept fresh for many callers.

    from tokenturn.client import HttpxAuth, JSONFileStore, Session, TokenClient

    client = TokenClient("testnet", client_id="...", client_secret="...")
    session = Session(client, JSONFileStore("~/.config/myapp/token.json"))
    with httpx.Client(auth=HttpxAuth(session)) as http:
        http.get("https://testnet.bakrypt.io/v1/...")

Everything public is re-exported here; the modules behind it are private.
"""

from __future__ import annotations

from tokenturn.client._client import TokenClient
from tokenturn.client._errors import (
    AccessDenied,
    ClientError,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidScope,
    InvalidToken,
    LoginRequired,
    OAuthError,
    ServerError,
    StoreError,
    TemporarilyUnavailable,
    TooManyRequests,
    TransportError,
    UnauthorizedClient,
    UnexpectedResponse,
    UnsupportedGrantType,
    UnsupportedTokenType,
)
from tokenturn.client._flow import SERVERS, Endpoints
from tokenturn.client._httpx_auth import HttpxAuth
from tokenturn.client._requests_auth import RequestsAuth
from tokenturn.client._retry import Reply, RetryPolicy
from tokenturn.client._session import Session
from tokenturn.client._stores import JSONFileStore, MemoryStore, TokenStore
from tokenturn.client._types import AccessToken, ErrorResponse, IntrospectionResponse, Token

__all__ = [
    "SERVERS",
    "AccessDenied",
    "AccessToken",
    "ClientError",
    "Endpoints",
    "ErrorResponse",
    "HttpxAuth",
    "IntrospectionResponse",
    "InvalidClient",
    "InvalidGrant",
    "InvalidRequest",
    "InvalidScope",
    "InvalidToken",
    "JSONFileStore",
    "LoginRequired",
    "MemoryStore",
    "OAuthError",
    "Reply",
    "RequestsAuth",
    "RetryPolicy",
    "ServerError",
    "Session",
    "StoreError",
    "TemporarilyUnavailable",
    "Token",
    "TokenClient",
    "TokenStore",
    "TooManyRequests",
    "TransportError",
    "UnauthorizedClient",
    "UnexpectedResponse",
    "UnsupportedGrantType",
    "UnsupportedTokenType",
]
