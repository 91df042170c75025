"""Fixtures for the proxy: a real tokenturn upstream on loopback, a seeded client, the proxy in process.

The upstream runs with a zero grace window (strict rotation, RFC 9700 §4.14.2), the setting in which
concurrent refreshes of one token would revoke the family if the proxy did not de-duplicate them;
its audit log (stderr) is kept so tests can count real upstream rotations.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tokenturn.proxy import ProxyApp, ProxyConfig
from tokenturn.testing import Seeded, ServerProcess, seed_sync, wait_until_up

PROXY_ADDRESS = ("198.51.100.7", 50000)
PROXY_BASE = "http://proxy.test"


@pytest.fixture(scope="session")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("proxy-upstream")
    env = {
        "TOKENTURN_DATABASE_URL": f"sqlite:///{root / 'tokenturn.db'}",
        "TOKENTURN_REFRESH_GRACE_SECONDS": "0",
        "TOKENTURN_LOG_LEVEL": "INFO",
    }
    with ServerProcess(env=env, log_path=root / "server.log") as server:
        yield server


@pytest.fixture
def creds(upstream: ServerProcess) -> Seeded:
    """A fresh confidential client (password + refresh_token) and user at the upstream."""
    return seed_sync(upstream.settings)


def upstream_password_grant(upstream: ServerProcess, creds: Seeded) -> dict[str, Any]:
    r = httpx.post(
        upstream.url + "/auth/token/",
        data={
            "grant_type": "password",
            "username": creds.username,
            "password": creds.password,
            "client_id": creds.client_id,
            "client_secret": creds.client_secret or "",
        },
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def upstream_refresh(upstream: ServerProcess, creds: Seeded, refresh_token: str) -> httpx.Response:
    return httpx.post(
        upstream.url + "/auth/token/",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": creds.client_id,
            "client_secret": creds.client_secret or "",
        },
    )


def audit_events(upstream: ServerProcess, event: str, client_id: str) -> int:
    """How many ``event`` audit lines the upstream wrote for ``client_id``."""
    assert upstream.log_path is not None
    count = 0
    for line in Path(upstream.log_path).read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == event and record.get("client_id") == client_id:
            count += 1
    return count


ProxyFactory = Callable[..., Any]


@pytest.fixture
def proxy_for(upstream: ServerProcess, creds: Seeded) -> ProxyFactory:
    """``async with proxy_for(**config_overrides) as (app, http)``: the proxy in process, over ASGI."""

    @asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[tuple[ProxyApp, httpx.AsyncClient]]:
        values: dict[str, Any] = {
            "upstream": upstream.url,
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
        }
        values.update(overrides)
        app = ProxyApp(ProxyConfig(**values))
        transport = httpx.ASGITransport(app=app, client=PROXY_ADDRESS)
        try:
            async with httpx.AsyncClient(transport=transport, base_url=PROXY_BASE) as http:
                yield app, http
        finally:
            await app.upstream.aclose()

    return make


def assert_proxy_error(r: httpx.Response, status: int, error: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error", "error_description"}, body
    assert body["error"] == error, body
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["content-type"] == "application/json"


@contextmanager
def proxy_process(args: list[str], *, secret: str | None, port: int, log_path: Path) -> Iterator[str]:
    """``tokenturn proxy`` in a child process on ``port``; yields its base URL; stops it by its pid."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENTURN_")}
    if secret is not None:
        env["TOKENTURN_PROXY_CLIENT_SECRET"] = secret
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tokenturn", "proxy", "--port", str(port), *args], env=env, stdout=out, stderr=out
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(url, proc=proc)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
