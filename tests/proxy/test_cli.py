"""``tokenturn proxy`` (contract §4): runs on uvicorn, takes its secret from the environment only."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.proxy.conftest import proxy_process, upstream_password_grant
from tokenturn.cli import app
from tokenturn.testing import Seeded, ServerProcess, free_port


def test_proxy_command_refreshes_through_a_real_upstream(
    upstream: ServerProcess, creds: Seeded, tmp_path: Path
) -> None:
    tokens = upstream_password_grant(upstream, creds)
    log = tmp_path / "proxy.log"
    args = ["--upstream", upstream.url + "/auth/token/", "--client-id", creds.client_id]
    with proxy_process(args, secret=creds.client_secret, port=free_port(), log_path=log) as url:
        assert httpx.get(url + "/healthz").status_code == 200
        r = httpx.post(url + "/refresh", json={"refreshToken": tokens["refresh_token"]})
        bad = httpx.post(url + "/refresh", content=b"{")
    assert r.status_code == 200, r.text
    assert bad.status_code == 400
    text = log.read_text()
    assert "tokenturn proxy on" in text
    assert '"event": "proxy.request"' in text
    for secret in (creds.client_secret or "", tokens["refresh_token"], r.json()["refresh_token"]):
        assert secret not in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--upstream", "ftp://x", "--client-id", "c"], "--upstream"),
        (["--upstream", "testnet", "--client-id", "c", "--allow-origin", "*"], "--allow-origin"),
        (["--upstream", "testnet", "--client-id", "c", "--demo-page"], "--cookie-mode"),
        (["--upstream", "testnet", "--client-id", "c", "--rate-limit-refresh", "lots"], "--rate-limit-refresh"),
        (["--upstream", "testnet", "--client-id", "c", "--timeout", "0"], "--timeout"),
    ],
)
def test_bad_options_stop_with_one_clear_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["proxy", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
