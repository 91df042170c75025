"""Reading a bearer token from a request (RFC 6750 §2.1, §3, §3.1). Sans-I/O: headers in, token or error out.

Only the ``Authorization: Bearer <b64token>`` header is accepted. The form-body and query
methods (§2.2, §2.3) are refused: RFC 6750 §5.3 and RFC 9700 §4.3.2 advise against tokens in
URLs, and contract §1 refuses them at every endpoint.

Errors (§3.1):

* no credentials, or another scheme (``Basic``): :class:`MissingToken`, 401 with
  ``WWW-Authenticate: Bearer realm=..., error="invalid_token"``. RFC 6750 §3.1 says such a
  challenge "SHOULD NOT" carry an error code; contract §2 names ``invalid_token`` for every 401 of
  ``/v1/me/``, and clients that key on the code treat both cases alike, so the contract wins;
* a ``Bearer`` header that does not parse, or a token in the query string: 400 ``invalid_request``;
* a token that is unknown, expired or revoked: 401 ``invalid_token``;
* a token without a scope the resource needs: 403 ``insufficient_scope`` naming the scope.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tokenturn.core.errors import InsufficientScope, InvalidRequest, InvalidToken, OAuthError
from tokenturn.core.form import parse_query_names
from tokenturn.core.http import Response, json_response
from tokenturn.core.models import AccessToken
from tokenturn.core.scopes import format_scope

REALM = "tokenturn"
# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_QUERY_TOKEN_NAMES = frozenset({"access_token", "token", "refresh_token"})


class MissingToken(OAuthError):
    """No bearer credentials at all: a challenge without an error code (RFC 6750 §3.1)."""

    error = "invalid_token"
    status = 401


class MissingScope(InsufficientScope):
    """The token is valid but lacks ``required`` (named in the challenge's ``scope``, RFC 6750 §3)."""

    def __init__(self, required: str) -> None:
        super().__init__("The access token lacks a required scope.")
        self.required = required


def challenge(exc: OAuthError, realm: str = REALM) -> str:
    """The ``WWW-Authenticate`` value for a refused request (RFC 6750 §3)."""
    if isinstance(exc, MissingToken):
        return f'Bearer realm="{realm}", error="invalid_token"'
    value = f'Bearer error="{exc.error}"'
    if isinstance(exc, MissingScope):
        value += f', scope="{exc.required}"'
    return value


def bearer_error_response(exc: OAuthError, realm: str = REALM) -> Response:
    """The JSON error (contract's ``ErrorResponse`` shape) with its ``WWW-Authenticate`` challenge."""
    extra = tuple((k.lower(), v) for k, v in exc.headers.items())
    if exc.status in (400, 401, 403):
        extra += (("www-authenticate", challenge(exc, realm)),)
    return json_response(
        exc.status,
        {"error": exc.error, "error_description": exc.description},
        extra=extra,
        audit={"error": exc.error, "detail": exc.detail},
    )


def bearer_token(headers: Mapping[str, str], query: str = "") -> str:
    """The token of ``Authorization: Bearer …``; raise the RFC 6750 error otherwise."""
    if query and not _QUERY_TOKEN_NAMES.isdisjoint(parse_query_names(query)):
        raise InvalidRequest("Send the access token in the Authorization header, not the query string.")
    authorization = headers.get("authorization")
    if authorization is None:
        raise MissingToken("An access token is required.")
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise MissingToken("An access token is required (Authorization: Bearer).")
    token = rest.strip(" ")
    if not _B64TOKEN.fullmatch(token):
        raise InvalidRequest("The Authorization header is malformed.")
    return token


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a valid access token speaks for: the user (None for client_credentials), the client, the scope."""

    username: str | None
    client_id: str
    scope: str

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())

    def as_json(self) -> dict[str, str | None]:
        return {"username": self.username, "client_id": self.client_id, "scope": self.scope}


def check_access_token(record: AccessToken | None, now: float, required: Iterable[str] = ()) -> Principal:
    """The principal of a stored access token, or ``invalid_token`` / ``insufficient_scope``."""
    if record is None or record.revoked or now >= record.expires_at:
        raise InvalidToken("The access token is invalid, expired or revoked.")
    granted = frozenset(record.scope.split())
    missing = frozenset(required) - granted
    if missing:
        raise MissingScope(format_scope(missing))
    return Principal(record.username, record.client_id, record.scope)
