"""Client authentication (RFC 6749 §2.3.1): one method at a time, url-decoded Basic, constant-time checks."""

from __future__ import annotations

import base64

import pytest

from tokenturn.core.client_auth import ClientCredentials, authenticate, extract_credentials
from tokenturn.core.crypto import Keys
from tokenturn.core.errors import InvalidClient, InvalidRequest, OAuthError
from tokenturn.core.models import Client

KEYS = Keys("s" * 32)
SECRET = "tt_cs_secret-with.unreserved~chars"
CONFIDENTIAL = Client("app", "App", KEYS.hash_token(SECRET), frozenset({"password"}), frozenset({"read"}))
PUBLIC = Client("spa", "SPA", None, frozenset({"password"}), frozenset({"read"}))


def basic(raw: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(raw.encode()).decode()}


@pytest.mark.parametrize(
    ("headers", "form", "expected"),
    [
        ({}, {"client_id": "app", "client_secret": "s"}, ClientCredentials("app", "s", "client_secret_post")),
        (basic("app:s"), {}, ClientCredentials("app", "s", "client_secret_basic")),
        (basic("app:s"), {"client_id": "app"}, ClientCredentials("app", "s", "client_secret_basic")),
        (basic("a%3Ab:p%40ss+word"), {}, ClientCredentials("a:b", "p@ss word", "client_secret_basic")),
        (basic("app:s:with:colons"), {}, ClientCredentials("app", "s:with:colons", "client_secret_basic")),
        ({}, {"client_id": "spa"}, ClientCredentials("spa", None, "none")),
        (basic("spa:"), {}, ClientCredentials("spa", None, "client_secret_basic")),  # public client via Basic
    ],
)
def test_extract_credentials(headers: dict[str, str], form: dict[str, str], expected: ClientCredentials) -> None:
    assert extract_credentials(headers, form) == expected


@pytest.mark.parametrize(
    ("headers", "form", "error"),
    [
        (basic("app:s"), {"client_secret": "s"}, InvalidRequest),  # two ways at once
        (basic("app:s"), {"client_id": "other"}, InvalidRequest),  # body names another client
        ({"authorization": "Bearer abc"}, {}, InvalidRequest),
        ({"authorization": "Basic !!!not-base64"}, {}, InvalidClient),
        (basic("no-colon"), {}, InvalidClient),
        (basic(":secret"), {}, InvalidClient),
        ({"authorization": "Basic " + base64.b64encode(b"\xff:x").decode()}, {}, InvalidClient),
        ({}, {}, InvalidClient),  # no client authentication at all
        ({}, {"client_secret": "s"}, InvalidClient),
    ],
)
def test_extract_credentials_errors(headers: dict[str, str], form: dict[str, str], error: type[OAuthError]) -> None:
    with pytest.raises(error):
        extract_credentials(headers, form)


def test_secret_never_appears_in_repr() -> None:
    assert "hunter2" not in repr(ClientCredentials("app", "hunter2", "client_secret_post"))


@pytest.mark.parametrize(
    ("client", "creds", "ok"),
    [
        (CONFIDENTIAL, ClientCredentials("app", SECRET, "client_secret_post"), True),
        (CONFIDENTIAL, ClientCredentials("app", SECRET, "client_secret_basic"), True),
        (CONFIDENTIAL, ClientCredentials("app", SECRET + "x", "client_secret_post"), False),
        (CONFIDENTIAL, ClientCredentials("app", None, "none"), False),  # secret missing
        (None, ClientCredentials("ghost", SECRET, "client_secret_post"), False),  # unknown client
        (PUBLIC, ClientCredentials("spa", None, "none"), True),
        (PUBLIC, ClientCredentials("spa", None, "client_secret_basic"), True),
        (PUBLIC, ClientCredentials("spa", "guess", "client_secret_post"), False),
    ],
)
def test_authenticate(client: Client | None, creds: ClientCredentials, ok: bool) -> None:
    if ok:
        assert authenticate(client, creds, KEYS) is client
    else:
        with pytest.raises(InvalidClient) as info:
            authenticate(client, creds, KEYS)
        assert info.value.description == "Client authentication failed." or "missing" in info.value.description
