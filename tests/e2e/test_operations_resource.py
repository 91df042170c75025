"""A user's own resource server (the documented example app) on loopback, trusting a real tokenturn server's tokens.

The two processes share only the SQLite store: the example app reads the server's generated key
from it and validates each bearer token with one lookup, so a revocation at the server takes
effect at the resource server on the very next request.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tokenturn.server.resource import BearerAuth
from tokenturn.testing import Seeded, ServerProcess, seed_sync, serve_in_thread

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "protected_app.py"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    db = tmp_path_factory.mktemp("resource") / "tokenturn.db"
    with ServerProcess(env={"TOKENTURN_DATABASE_URL": f"sqlite:///{db}"}) as proc:
        yield proc


def example_app(auth: BearerAuth) -> Any:
    spec = importlib.util.spec_from_file_location("protected_app_e2e", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.create_app(auth)


def test_an_example_resource_server_trusts_and_drops_tokens_with_the_server(server: ServerProcess) -> None:
    seeded: Seeded = seed_sync(server.settings, scope=frozenset({"read"}))
    data = {"client_id": seeded.client_id, "client_secret": seeded.client_secret}
    r = requests.post(
        server.url + "/auth/token/",
        data={**data, "grant_type": "password", "username": seeded.username, "password": seeded.password},
        timeout=10,
    )
    tokens = r.json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    with serve_in_thread(example_app(BearerAuth.from_settings(server.settings))) as resource:
        assert requests.get(resource + "/reports", headers=bearer, timeout=10).json()["user"] == seeded.username
        r = requests.get(resource + "/admin/settings", headers=bearer, timeout=10)
        assert r.status_code == 403
        assert r.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope", scope="admin"'
        assert requests.get(resource + "/api/whoami", headers=bearer, timeout=10).json()["scope"] == "read"

        r = requests.post(
            server.url + "/auth/revoke_token/", data={**data, "token": tokens["refresh_token"]}, timeout=10
        )
        assert r.status_code == 200
        for path in ("/reports", "/api/whoami"):
            r = requests.get(resource + path, headers=bearer, timeout=10)
            assert r.status_code == 401
            assert r.json()["error"] == "invalid_token"
