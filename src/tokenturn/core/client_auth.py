"""Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3.1, §3.2.1).

Exactly one method per request: ``client_secret_basic`` (HTTP Basic, the id and secret
form-url-decoded after base64), ``client_secret_post`` (both in the body), or ``none`` for a
public client (``client_id`` in the body, no secret). Comparisons are constant-time and an
unknown client costs the same hash as a known one.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote_plus

from tokenturn.core.crypto import Keys, constant_time_equal
from tokenturn.core.errors import InvalidClient, InvalidRequest
from tokenturn.core.models import Client

Method = Literal["client_secret_basic", "client_secret_post", "none"]
_DUMMY_HASH = b"\x00" * 32
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    secret: str | None
    method: Method

    def __repr__(self) -> str:  # never print the secret
        return f"ClientCredentials(client_id={self.client_id!r}, method={self.method!r})"


def _decode_basic(value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidClient("The Basic credentials are malformed.") from None
    raw_id, sep, raw_secret = decoded.partition(":")
    if not sep or not raw_id:
        raise InvalidClient("The Basic credentials are malformed.")
    client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
    if _CONTROL.search(client_id) or _CONTROL.search(secret):
        raise InvalidClient("The Basic credentials are malformed.")
    return client_id, secret


def extract_credentials(headers: Mapping[str, str], form: Mapping[str, str]) -> ClientCredentials:
    """Read the client's credentials from the Authorization header and/or the form body."""
    authorization = headers.get("authorization")
    body_id = form.get("client_id")
    body_secret = form.get("client_secret")
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "basic":
            raise InvalidRequest("Only HTTP Basic client authentication is supported in the Authorization header.")
        client_id, secret = _decode_basic(value)
        if body_secret is not None:
            raise InvalidRequest("The client authenticated two ways at once (Basic and client_secret).")
        if body_id is not None and body_id != client_id:
            raise InvalidRequest("The body client_id does not match the Basic credentials.")
        # An empty Basic password is how some libraries present a public client.
        return ClientCredentials(client_id, secret or None, "client_secret_basic")
    if body_id is None:
        raise InvalidClient("Client authentication is missing.")
    if body_secret is not None:
        return ClientCredentials(body_id, body_secret, "client_secret_post")
    return ClientCredentials(body_id, None, "none")


def authenticate(client: Client | None, creds: ClientCredentials, keys: Keys) -> Client:
    """Return the client if ``creds`` authenticate it, else raise ``invalid_client``."""
    presented = keys.hash_token(creds.secret) if creds.secret is not None else _DUMMY_HASH
    if client is None:
        constant_time_equal(presented, _DUMMY_HASH)
        raise InvalidClient("Client authentication failed.", detail="unknown client")
    if client.secret_hash is None:
        if creds.secret is not None:
            raise InvalidClient("Client authentication failed.", detail="secret sent for a public client")
        return client
    if creds.secret is None:
        raise InvalidClient("Client authentication failed.", detail="secret missing")
    if not constant_time_equal(presented, client.secret_hash):
        raise InvalidClient("Client authentication failed.", detail="wrong secret")
    return client
