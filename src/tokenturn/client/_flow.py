"""The OAuth calls as sans-I/O flows: build the request, read the answer (RFC 6749 §2.3.1, §4.3, §4.4, §5, §6;
RFC 7009 §2; RFC 7662 §2).

A flow is a generator that yields :class:`Call` / :class:`Sleep` instructions, receives :class:`Reply`
objects (or has :class:`TransportError` thrown in) and returns its result. It is written once here and
driven by the sync and async drivers in ``_client``; it never touches a socket or a clock of its own.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast
from urllib.parse import quote, urlencode, urlsplit

from tokenturn.client._errors import UnexpectedResponse, oauth_error
from tokenturn.client._retry import Call, Reply, RetryPolicy, Sleep, exchange, retry_after
from tokenturn.client._types import AccessToken, IntrospectionResponse, Token

T = TypeVar("T")
Flow = Generator[Call | Sleep, Reply | None, T]
AuthMethod = Literal["post", "basic"]

#: Named servers (contract §4): the Bakrypt deployments.
SERVERS = {"testnet": "https://testnet.bakrypt.io", "mainnet": "https://bakrypt.io"}
TOKEN_PATH, REVOKE_PATH, INTROSPECT_PATH = "/auth/token/", "/auth/revoke_token/", "/auth/introspect/"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class Endpoints:
    """The three endpoint URLs of one authorization server."""

    token: str
    revoke: str
    introspect: str

    @classmethod
    def for_server(cls, server: str) -> Endpoints:
        """``testnet``, ``mainnet``, a base URL, or a token endpoint URL ending in ``/auth/token/``."""
        base = SERVERS.get(server.strip().lower(), server.strip())
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError(f"server must be testnet, mainnet or an http(s) URL, got {server!r}")
        base = base.rstrip("/").removesuffix(TOKEN_PATH.rstrip("/"))
        return cls(base + TOKEN_PATH, base + REVOKE_PATH, base + INTROSPECT_PATH)


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who the client is and how it authenticates at the endpoints (RFC 6749 §2.3.1)."""

    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    method: AuthMethod = "post"

    def apply(self, params: dict[str, str]) -> tuple[dict[str, str], tuple[tuple[str, str], ...]]:
        """Add client authentication to a form; return (form, extra headers)."""
        if self.client_secret is None:  # public client: identify, do not authenticate
            return {"client_id": self.client_id, **params}, ()
        if self.method == "basic":
            pair = f"{quote(self.client_id, safe='')}:{quote(self.client_secret, safe='')}"
            return params, (("Authorization", "Basic " + base64.b64encode(pair.encode()).decode()),)
        return {"client_id": self.client_id, "client_secret": self.client_secret, **params}, ()


def form_call(url: str, credentials: Credentials, params: Mapping[str, str | None]) -> Call:
    form, headers = credentials.apply({k: v for k, v in params.items() if v is not None})
    headers = (("Content-Type", FORM), ("Accept", "application/json"), *headers)
    return Call("POST", url, headers, urlencode(form).encode())


def _json(reply: Reply) -> Any:
    try:
        return json.loads(reply.body)
    except ValueError:
        return None


def raise_for_error(reply: Reply, now: float) -> None:
    """Raise the OAuth error class the server named, or :class:`UnexpectedResponse` for a non-OAuth answer."""
    if 200 <= reply.status < 300:
        return
    body = _json(reply)
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        description = body.get("error_description")
        raise oauth_error(
            body["error"],
            description if isinstance(description, str) else "",
            reply.status,
            retry_after(reply.headers, now),
        )
    raise UnexpectedResponse(reply.status, "not an OAuth error response")


def parse_token(reply: Reply, received_at: float, previous_refresh: str | None = None) -> Token:
    """A token response (RFC 6749 §5.1) as a :class:`Token` whose expiry is fixed at ``received_at``."""
    raise_for_error(reply, received_at)
    body = _json(reply)
    if not isinstance(body, dict):
        raise UnexpectedResponse(reply.status, "token response is not a JSON object")
    access, kind, expires_in = body.get("access_token"), body.get("token_type"), body.get("expires_in", 3600)
    if not isinstance(access, str) or not access or not isinstance(kind, str) or kind.lower() != "bearer":
        raise UnexpectedResponse(reply.status, "token response lacks a bearer access_token")
    if isinstance(expires_in, str) and expires_in.isdigit():  # some servers send it as a string
        expires_in = int(expires_in)
    if not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in < 0:
        raise UnexpectedResponse(reply.status, "token response has a bad expires_in")
    refresh, scope = body.get("refresh_token"), body.get("scope")
    shaped = AccessToken(
        access_token=access,
        expires_in=expires_in,
        token_type="Bearer",  # noqa: S106  (a token type, not a secret)
        scope=scope if isinstance(scope, str) else "",
    )
    if isinstance(refresh, str) and refresh:
        shaped["refresh_token"] = refresh
    return Token.from_response(shaped, received_at, previous_refresh)


def token_flow(
    endpoints: Endpoints,
    credentials: Credentials,
    params: Mapping[str, str | None],
    policy: RetryPolicy,
    clock: Callable[[], float],
    *,
    previous_refresh: str | None = None,
) -> Flow[Token]:
    """Any grant at the token endpoint; a refresh grant is retried as a non-idempotent call."""
    call = form_call(endpoints.token, credentials, params)
    idempotent = params.get("grant_type") != "refresh_token"
    reply = yield from exchange(call, policy, idempotent=idempotent, wall_clock=clock)
    return parse_token(reply, clock(), previous_refresh)


def password_flow(
    endpoints: Endpoints,
    credentials: Credentials,
    username: str,
    password: str,
    scope: str | None,
    policy: RetryPolicy,
    clock: Callable[[], float],
) -> Flow[Token]:
    params = {"grant_type": "password", "username": username, "password": password, "scope": scope}
    return token_flow(endpoints, credentials, params, policy, clock)


def client_credentials_flow(
    endpoints: Endpoints, credentials: Credentials, scope: str | None, policy: RetryPolicy, clock: Callable[[], float]
) -> Flow[Token]:
    return token_flow(endpoints, credentials, {"grant_type": "client_credentials", "scope": scope}, policy, clock)


def refresh_flow(
    endpoints: Endpoints,
    credentials: Credentials,
    refresh_token: str,
    scope: str | None,
    policy: RetryPolicy,
    clock: Callable[[], float],
) -> Flow[Token]:
    params = {"grant_type": "refresh_token", "refresh_token": refresh_token, "scope": scope}
    return token_flow(endpoints, credentials, params, policy, clock, previous_refresh=refresh_token)


def revoke_flow(
    endpoints: Endpoints,
    credentials: Credentials,
    token: str,
    hint: str | None,
    policy: RetryPolicy,
    clock: Callable[[], float],
) -> Flow[None]:
    """RFC 7009 §2.1: revocation is idempotent, so every failure kind may be retried."""
    call = form_call(endpoints.revoke, credentials, {"token": token, "token_type_hint": hint})
    reply = yield from exchange(call, policy, idempotent=True, wall_clock=clock)
    raise_for_error(reply, clock())


def introspect_flow(
    endpoints: Endpoints,
    credentials: Credentials,
    token: str,
    hint: str | None,
    policy: RetryPolicy,
    clock: Callable[[], float],
) -> Flow[IntrospectionResponse]:
    call = form_call(endpoints.introspect, credentials, {"token": token, "token_type_hint": hint})
    reply = yield from exchange(call, policy, idempotent=True, wall_clock=clock)
    raise_for_error(reply, clock())
    body = _json(reply)
    if not isinstance(body, dict) or not isinstance(body.get("active"), bool):
        raise UnexpectedResponse(reply.status, "introspection response lacks 'active'")
    return cast(IntrospectionResponse, body)
