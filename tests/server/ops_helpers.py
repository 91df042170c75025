"""Raw requests to the revocation, introspection and /v1/me/ endpoints (no SDK), shared by the ops tests."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx

from tokenturn.config import Settings
from tokenturn.server.app import TokenturnApp
from tokenturn.testing import Seeded, seed

REVOKE = "/auth/revoke_token/"
INTROSPECT = "/auth/introspect/"
ACTIVE_KEYS = {"active", "scope", "client_id", "username", "token_type", "exp", "iat", "sub"}


def creds(client: Seeded) -> dict[str, str]:
    data = {"client_id": client.client_id}
    if client.client_secret is not None:
        data["client_secret"] = client.client_secret
    return data


async def revoke(http: httpx.AsyncClient, client: Seeded, token: str, **extra: str) -> httpx.Response:
    return await http.post(REVOKE, data={**creds(client), "token": token, **extra})


async def introspect(http: httpx.AsyncClient, client: Seeded, token: str, **extra: str) -> dict[str, Any]:
    r = await http.post(INTROSPECT, data={**creds(client), "token": token, **extra})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body: dict[str, Any] = r.json()
    return body


async def client_credentials_token(
    http: httpx.AsyncClient, app: TokenturnApp, settings: Settings
) -> tuple[Seeded, str]:
    """A new client allowed only client_credentials, and an access token it obtained."""
    cc = await seed(app.services.storage, settings, grant_types=frozenset({"client_credentials"}))
    r = await http.post(
        "/auth/token/",
        data={"grant_type": "client_credentials", "client_id": cc.client_id, "client_secret": cc.client_secret},
    )
    assert r.status_code == 200, r.text
    return cc, str(r.json()["access_token"])


async def me(http: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await http.get("/v1/me/", headers={"Authorization": f"Bearer {access_token}"})


@contextlib.contextmanager
def write_locked(db_path: str) -> Iterator[None]:
    """Hold SQLite's write lock from another connection: the server's writes fail, its reads still work."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()
