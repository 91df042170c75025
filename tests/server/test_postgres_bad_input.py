"""Bad bytes never reach PostgreSQL (it rejects NUL and invalid UTF-8): every path answers 4xx, never 500/503.

Raw ASGI calls, so that header bytes no HTTP client would send (NUL, 0xFF) reach the app as they are.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.backends import run_sync
from tests.conftest import SECRET_KEY
from tokenturn.config import load_settings
from tokenturn.server.app import TokenturnApp
from tokenturn.storage import open_storage
from tokenturn.testing import FAST_ARGON2, Seeded, seed

pytestmark = pytest.mark.postgres


@pytest.fixture
async def pg_app(pg_url: str) -> AsyncIterator[tuple[TokenturnApp, Seeded]]:
    settings = load_settings({"TOKENTURN_DATABASE_URL": pg_url, "TOKENTURN_SECRET_KEY": SECRET_KEY, **FAST_ARGON2})

    async def migrate() -> None:
        store = open_storage(pg_url)
        await store.migrate()
        await store.close()

    run_sync(migrate)
    app = TokenturnApp(settings)
    await app.startup()
    seeded = await seed(app.services.storage, settings)
    yield app, seeded
    await app.shutdown()


async def call(app: TokenturnApp, path: str, body: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None,
               method: str = "POST") -> tuple[int, dict[str, Any]]:  # fmt: skip
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"content-type", b"application/x-www-form-urlencoded"), *(headers or [])],
        "client": ("198.51.100.9", 50000),
        "server": ("tokenturn.test", 80),
    }
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    status = sent[0]["status"]
    raw = b"".join(m.get("body", b"") for m in sent[1:])
    return status, json.loads(raw) if raw else {}


def basic(raw: bytes) -> tuple[bytes, bytes]:
    return b"authorization", b"Basic " + base64.b64encode(raw)


BAD_FORMS = [
    b"grant_type=password&username=a%00b&password=x&client_id=C&client_secret=S",
    b"grant_type=password&username=%FF%FE&password=x&client_id=C&client_secret=S",
    b"grant_type=password&username=u&password=x&client_id=a%00&client_secret=S",
    b"grant_type=password&username=u&password=x&client_id=%C3%28&client_secret=S",
    b"grant_type=refresh_token&refresh_token=tt_rt_%00&client_id=C&client_secret=S",
    b"grant_type=client_credentials&client_id=C&client_secret=S&scope=read%00write",
]


@pytest.mark.parametrize("body", BAD_FORMS)
async def test_nul_or_invalid_utf8_in_the_form_is_invalid_request(
    pg_app: tuple[TokenturnApp, Seeded], body: bytes
) -> None:
    app, _ = pg_app
    status, answer = await call(app, "/auth/token/", body)
    assert (status, answer["error"]) == (400, "invalid_request")


@pytest.mark.parametrize(
    "credentials", [b"a\x00b:secret", b"\xff\xfe:secret", b"a%00b:secret", b"ok:%FF", b"id:se\x00cret", b"%C3%28:s"]
)
async def test_nul_or_invalid_utf8_in_basic_credentials_is_invalid_client(
    pg_app: tuple[TokenturnApp, Seeded], credentials: bytes
) -> None:
    app, _ = pg_app
    status, answer = await call(app, "/auth/token/", b"grant_type=client_credentials", [basic(credentials)])
    assert (status, answer["error"]) == (401, "invalid_client")


@pytest.mark.parametrize("token", [b"tt_at_\x00abc", b"\xff\xfe\xfd", b"tt_at_" + b"\xc3\x28" * 10, b"x" * 8000])
async def test_odd_bearer_tokens_are_refused(pg_app: tuple[TokenturnApp, Seeded], token: bytes) -> None:
    """RFC 6750 §3.1: a malformed token is invalid_request (400), an unknown one invalid_token (401)."""
    app, _ = pg_app
    status, answer = await call(app, "/v1/me/", headers=[(b"authorization", b"Bearer " + token)], method="GET")
    assert (status, answer["error"]) in {(400, "invalid_request"), (401, "invalid_token")}


@pytest.mark.parametrize("path", ["/auth/revoke_token/", "/auth/introspect/"])
@pytest.mark.parametrize("token", ["tt_rt_\u00e9\u65e5", "x" * 10_000, "\U0001f600"])
async def test_odd_tokens_at_revoke_and_introspect_are_answered(
    pg_app: tuple[TokenturnApp, Seeded], path: str, token: str
) -> None:
    """Valid but odd UTF-8 (accents, CJK, emoji, 10 kB) is hashed, looked up, and found to be nothing."""
    from urllib.parse import urlencode

    app, seeded = pg_app
    assert seeded.client_secret is not None
    body = urlencode({"token": token, "client_id": seeded.client_id, "client_secret": seeded.client_secret})
    status, answer = await call(app, path, body.encode())
    assert status == 200
    if path == "/auth/introspect/":
        assert answer == {"active": False}


async def test_a_huge_valid_username_is_invalid_grant_not_a_driver_error(pg_app: tuple[TokenturnApp, Seeded]) -> None:
    """Larger than a PostgreSQL index entry may be; a lookup must still just find nobody."""
    from urllib.parse import urlencode

    app, seeded = pg_app
    assert seeded.client_secret is not None
    form = {"grant_type": "password", "username": "\u65e5" * 5_000, "password": "x",
            "client_id": seeded.client_id, "client_secret": seeded.client_secret}  # fmt: skip
    status, answer = await call(app, "/auth/token/", urlencode(form).encode())
    assert (status, answer["error"]) == (400, "invalid_grant")
