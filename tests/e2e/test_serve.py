"""Real ``tokenturn serve`` processes on loopback, driven by independent HTTP clients."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

from tokenturn.testing import Seeded, ServerProcess, seed_sync

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    db = tmp_path_factory.mktemp("e2e") / "tokenturn.db"
    env = {"TOKENTURN_DATABASE_URL": f"sqlite:///{db}", "TOKENTURN_REFRESH_GRACE_SECONDS": "1"}
    with ServerProcess(env=env, workers=2, log_path=db.with_suffix(".log")) as proc:
        yield proc


@pytest.fixture(scope="module")
def seeded(server: ServerProcess) -> Seeded:
    return seed_sync(server.settings)


def password_grant(server: ServerProcess, seeded: Seeded) -> dict[str, Any]:
    r = requests.post(
        f"{server.url}/auth/token/",
        data={
            "grant_type": "password",
            "username": seeded.username,
            "password": seeded.password,
            "client_id": seeded.client_id,
            "client_secret": seeded.client_secret,
        },
        timeout=10,
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_the_seed_python_snippet_refreshes_a_token(server: ServerProcess, seeded: Seeded) -> None:
    """The Bakrypt page's Python example, verbatim but for the URL, against a real server."""
    refresh_token = password_grant(server, seeded)["refresh_token"]
    payload = {
        "client_id": seeded.client_id,
        "client_secret": seeded.client_secret,
        "refresh_token": refresh_token,
        "grant_type": "refresh_token",
    }
    access_token_request = requests.post(
        f"{server.url}/auth/token/",
        data=payload,
        headers={"content-type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert access_token_request.status_code in [200]
    access_token = access_token_request.json()
    assert set(access_token) == {"access_token", "expires_in", "token_type", "scope", "refresh_token"}
    assert access_token["refresh_token"] != refresh_token


def family_rows(server: ServerProcess, refresh_count_of: str) -> tuple[int, int]:
    """(refresh tokens, access tokens) in the family of a given family id, read straight from the file."""
    path = server.settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        refresh = conn.execute("SELECT count(*) FROM refresh_tokens WHERE family_id = ?", (refresh_count_of,))
        access = conn.execute("SELECT count(*) FROM access_tokens WHERE family_id = ?", (refresh_count_of,))
        return refresh.fetchone()[0], access.fetchone()[0]


def family_of(server: ServerProcess, access_token: str) -> str:
    from tokenturn.core.crypto import Keys

    path = server.settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        keys = Keys(conn.execute("SELECT value FROM meta WHERE key = 'secret_key'").fetchone()[0])
        row = conn.execute(
            "SELECT family_id FROM access_tokens WHERE token_hash = ?", (keys.hash_token(access_token),)
        ).fetchone()
    return str(row[0])


def test_fifty_concurrent_refreshes_of_one_token_rotate_exactly_once(server: ServerProcess, seeded: Seeded) -> None:
    first = password_grant(server, seeded)
    form = {
        "grant_type": "refresh_token",
        "refresh_token": first["refresh_token"],
        "client_id": seeded.client_id,
        "client_secret": seeded.client_secret,
    }

    async def storm() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=50)
        async with httpx.AsyncClient(limits=limits, timeout=20) as client:
            return await asyncio.gather(*(client.post(f"{server.url}/auth/token/", data=form) for _ in range(50)))

    responses = asyncio.run(storm())
    assert all(r.status_code == 200 for r in responses), {r.status_code for r in responses}
    pairs = {(r.json()["access_token"], r.json()["refresh_token"]) for r in responses}
    assert len(pairs) == 1
    family = family_of(server, first["access_token"])
    assert family_rows(server, family) == (2, 2)  # the original pair and exactly one successor

    # After the grace window the replay is reuse: the whole family dies, on every worker.
    time.sleep(1.2)
    replay = requests.post(f"{server.url}/auth/token/", data=form, timeout=10)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    _, successor = pairs.pop()
    for _ in range(4):  # whichever worker answers
        r = requests.post(f"{server.url}/auth/token/", data={**form, "refresh_token": successor}, timeout=10)
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    path = server.settings.database_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        revoked = conn.execute("SELECT revoked_at IS NOT NULL FROM families WHERE family_id = ?", (family,)).fetchone()
    assert revoked == (1,)


def test_server_log_has_audit_events_and_no_secrets(server: ServerProcess, seeded: Seeded) -> None:
    tokens = password_grant(server, seeded)
    requests.post(
        f"{server.url}/auth/token/",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": seeded.client_id,
            "client_secret": seeded.client_secret,
        },
        timeout=10,
    )
    assert server.log_path is not None
    time.sleep(0.2)
    text = Path(server.log_path).read_text()
    assert '"event": "token.refreshed"' in text
    for secret in (tokens["access_token"], tokens["refresh_token"], seeded.client_secret or "", seeded.password):
        assert secret not in text
