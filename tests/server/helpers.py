"""Raw form posts to the token endpoint: no SDK, so SDK and server bugs cannot cancel out."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from tokenturn.testing import Seeded

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


async def post_form(
    http: httpx.AsyncClient, body: str | bytes, headers: dict[str, str] | None = None, path: str = "/auth/token/"
) -> httpx.Response:
    return await http.post(path, content=body, headers={**FORM, **(headers or {})})


async def token(http: httpx.AsyncClient, seeded: Seeded, **params: Any) -> httpx.Response:
    """A client_secret_post token request with ``params``."""
    data = {"client_id": seeded.client_id, "client_secret": seeded.client_secret, **params}
    return await http.post("/auth/token/", data={k: v for k, v in data.items() if v is not None})


async def password_grant(http: httpx.AsyncClient, seeded: Seeded, **extra: Any) -> dict[str, Any]:
    r = await token(http, seeded, grant_type="password", username=seeded.username, password=seeded.password, **extra)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def refresh(http: httpx.AsyncClient, seeded: Seeded, refresh_token: str, **extra: Any) -> httpx.Response:
    return await token(http, seeded, grant_type="refresh_token", refresh_token=refresh_token, **extra)


def assert_error(r: httpx.Response, status: int, error: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error", "error_description"}, body
    assert body["error"] == error, body
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["pragma"] == "no-cache"
    assert r.headers["content-type"] == "application/json"
