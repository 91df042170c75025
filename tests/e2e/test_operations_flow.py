"""Revoke, introspect, /v1/me/, metadata, metrics and logs on a real 2-worker ``tokenturn serve`` over loopback.

Driven with ``requests`` (an independent client, not the SDK). The server logs at DEBUG to a file,
which the last test scans for every token, secret and password used here.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tokenturn.core.crypto import TOKEN_PATTERN
from tokenturn.testing import Seeded, ServerProcess, seed_sync

pytestmark = pytest.mark.e2e

SECRETS: set[str] = set()  # everything sensitive the tests sent or received, for the log scan


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("ops")
    (root / "prom").mkdir()
    env = {
        "TOKENTURN_DATABASE_URL": f"sqlite:///{root / 'tokenturn.db'}",
        "TOKENTURN_LOG_LEVEL": "DEBUG",
        "PROMETHEUS_MULTIPROC_DIR": str(root / "prom"),
    }
    with ServerProcess(env=env, workers=2, log_path=root / "server.log") as proc:
        yield proc


@pytest.fixture(scope="module")
def seeded(server: ServerProcess) -> Seeded:
    client = seed_sync(server.settings)
    assert client.client_secret is not None
    SECRETS.update({client.client_secret, client.password})
    return client


def post(server: ServerProcess, path: str, seeded: Seeded, **data: str) -> requests.Response:
    body = {"client_id": seeded.client_id, "client_secret": seeded.client_secret or "", **data}
    return requests.post(server.url + path, data=body, timeout=10)


def password_grant(server: ServerProcess, seeded: Seeded) -> dict[str, Any]:
    r = post(server, "/auth/token/", seeded, grant_type="password", username=seeded.username, password=seeded.password)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    SECRETS.update({body["access_token"], body["refresh_token"]})
    return body


def me(server: ServerProcess, access_token: str) -> requests.Response:
    return requests.get(server.url + "/v1/me/", headers={"Authorization": f"Bearer {access_token}"}, timeout=10)


def test_a_family_revoked_at_the_revocation_endpoint_fails_everywhere(server: ServerProcess, seeded: Seeded) -> None:
    first = password_grant(server, seeded)
    r = post(server, "/auth/token/", seeded, grant_type="refresh_token", refresh_token=first["refresh_token"])
    second = r.json()
    SECRETS.update({second["access_token"], second["refresh_token"]})
    assert me(server, second["access_token"]).json()["username"] == seeded.username
    assert post(server, "/auth/introspect/", seeded, token=second["refresh_token"]).json()["active"] is True

    r = post(server, "/auth/revoke_token/", seeded, token=second["refresh_token"])
    assert (r.status_code, r.content) == (200, b"")

    r = post(server, "/auth/token/", seeded, grant_type="refresh_token", refresh_token=second["refresh_token"])
    assert (r.status_code, r.json()["error"]) == (400, "invalid_grant")
    for access in (first["access_token"], second["access_token"]):
        r = me(server, access)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    for token in (first["access_token"], second["access_token"], second["refresh_token"]):
        assert post(server, "/auth/introspect/", seeded, token=token).json() == {"active": False}


def test_metadata_carries_the_issuer_serve_derived(server: ServerProcess) -> None:
    body = requests.get(server.url + "/.well-known/oauth-authorization-server", timeout=10).json()
    assert body["issuer"] == server.url
    assert body["revocation_endpoint"] == server.url + "/auth/revoke_token/"
    assert requests.get(server.url + "/openapi.json", timeout=10).json()["servers"] == [{"url": server.url}]


def issued(server: ServerProcess) -> float:
    with requests.Session() as fresh:  # a new connection: any worker may answer
        text = fresh.get(server.url + "/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        if family.name == "tokenturn_tokens_issued":
            return sum(s.value for s in family.samples if s.name.endswith("_total") and s.labels["grant"] == "password")
    return 0.0


def test_metrics_add_up_across_workers(server: ServerProcess, seeded: Seeded) -> None:
    before = issued(server)
    for _ in range(6):
        password_grant(server, seeded)
    # Whichever worker answers the scrape, it reports every worker's requests.
    assert {issued(server) - before for _ in range(6)} == {6.0}
    # Both workers write to the shared directory (one file per process and metric type; the
    # supervising process, which serves nothing, may hold one too).
    assert len(list(Path(server.env["PROMETHEUS_MULTIPROC_DIR"]).glob("counter_*.db"))) >= 2


def test_purge_runs_safely_while_serving(server: ServerProcess, seeded: Seeded) -> None:
    tokens = password_grant(server, seeded)
    env = {**server.full_env}
    done = subprocess.run(
        [sys.executable, "-m", "tokenturn", "purge", "--older-than", "0"], env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    assert me(server, tokens["access_token"]).status_code == 200
    r = post(server, "/auth/token/", seeded, grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert r.status_code == 200
    SECRETS.update({r.json()["access_token"], r.json()["refresh_token"]})


def test_the_debug_logs_hold_no_token_secret_or_password(server: ServerProcess, seeded: Seeded) -> None:
    """Runs last: scans the server's whole DEBUG log for everything the tests above sent or received."""
    r = post(server, "/auth/token/", seeded, grant_type="password", username=seeded.username, password="nope-nope-nope")
    assert r.status_code == 400
    SECRETS.add("nope-nope-nope")
    requests.get(server.url + "/v1/me/?access_token=query-token-value", timeout=10)
    SECRETS.add("query-token-value")
    assert server.log_path is not None
    text = Path(server.log_path).read_text()
    assert '"event": "token.revoked"' in text and '"event": "token.issued"' in text
    assert '"level": "debug"' in text
    leaked = [s for s in SECRETS if isinstance(s, str) and len(s) >= 8 and s in text]
    assert not leaked, f"{len(leaked)} secret value(s) in the server log"
    assert not re.search(TOKEN_PATTERN, text)
