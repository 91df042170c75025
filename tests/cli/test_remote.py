"""``tokenturn token|refresh|revoke|introspect`` against a real server on loopback (contract §4)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tokenturn.cli import app
from tokenturn.client import JSONFileStore
from tokenturn.testing import Seeded

from ..client.live import Live, live_server

pytestmark = pytest.mark.e2e

SEED_KEYS = {"access_token", "expires_in", "token_type", "scope", "refresh_token"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(tmp_path_factory.mktemp("cli-live")) as server:
        yield server


@pytest.fixture
def seeded(live: Live) -> Seeded:
    return live.seed(grant_types=frozenset({"password", "refresh_token", "client_credentials"}), introspection=True)


def invoke(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> tuple[int, str, str]:
    base = {"TOKENTURN_CLIENT_SECRET": "", "TOKENTURN_PASSWORD": "", "TOKENTURN_REFRESH_TOKEN": ""}
    result = CliRunner().invoke(app, list(args), env={**base, **(env or {})}, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def common(live: Live, seeded: Seeded) -> list[str]:
    return ["--server", live.url, "--client-id", seeded.client_id]


def test_password_grant_prints_the_seeds_access_token_shape(live: Live, seeded: Seeded) -> None:
    env = {"TOKENTURN_CLIENT_SECRET": seeded.client_secret or "", "TOKENTURN_PASSWORD": seeded.password}
    code, out, err = invoke("token", *common(live, seeded), "--username", seeded.username, "--json", env=env)
    assert code == 0, err
    body = json.loads(out)
    assert set(body) == SEED_KEYS and body["token_type"] == "Bearer"


def test_secrets_can_all_come_from_stdin_and_never_from_the_command_line(live: Live, seeded: Seeded) -> None:
    stdin = f"{seeded.client_secret}\n{seeded.password}\n"
    code, out, err = invoke(
        "token",
        *common(live, seeded),
        "--username",
        seeded.username,
        "--client-secret-stdin",
        "--auth-method",
        "basic",
        stdin=stdin,
    )
    assert code == 0, err
    assert out.strip().startswith("tt_at_") and "refresh token not kept" in err
    code, _, err = invoke("token", *common(live, seeded), "--client-secret", "x")
    assert code == 2 and "No such option" in err


def test_a_session_kept_in_a_token_file_lives_through_refresh_introspect_and_revoke(
    live: Live, seeded: Seeded, tmp_path: Path
) -> None:
    store = str(tmp_path / "session.json")
    env = {"TOKENTURN_CLIENT_SECRET": seeded.client_secret or ""}
    code, first, err = invoke(
        "token",
        *common(live, seeded),
        "--username",
        seeded.username,
        "--store",
        store,
        env=env,
        stdin=seeded.password + "\n",
    )
    assert code == 0, err
    code, again, _ = invoke("token", *common(live, seeded), "--store", store, env=env)
    assert code == 0 and again == first  # still fresh: no new grant, no refresh
    code, out, _ = invoke("introspect", *common(live, seeded), "--store", store, "--json", env=env)
    assert code == 0 and json.loads(out)["username"] == seeded.username
    old = JSONFileStore(store).load()
    code, out, _ = invoke("refresh", *common(live, seeded), "--store", store, "--json", env=env)
    assert code == 0
    new = JSONFileStore(store).load()
    assert old is not None and new is not None and new.refresh_token != old.refresh_token
    assert json.loads(out)["refresh_token"] == new.refresh_token
    code, out, _ = invoke("revoke", *common(live, seeded), "--store", store, env=env)
    assert code == 0 and out.strip() == "revoked" and JSONFileStore(store).load() is None
    code, out, err = invoke(
        "refresh", *common(live, seeded), env={**env, "TOKENTURN_REFRESH_TOKEN": new.refresh_token or ""}
    )
    assert code == 1 and err.startswith("tokenturn: invalid_grant") and "Traceback" not in err
    assert (new.refresh_token or "") not in err


def test_refresh_from_the_environment_and_introspect_from_stdin(live: Live, seeded: Seeded) -> None:
    env = {"TOKENTURN_CLIENT_SECRET": seeded.client_secret or "", "TOKENTURN_PASSWORD": seeded.password}
    _, out, _ = invoke("token", *common(live, seeded), "--username", seeded.username, "--json", env=env)
    refresh_token = json.loads(out)["refresh_token"]
    code, out, _ = invoke(
        "refresh", *common(live, seeded), "--json", env={**env, "TOKENTURN_REFRESH_TOKEN": refresh_token}
    )
    assert code == 0
    access = json.loads(out)["access_token"]
    code, out, _ = invoke("introspect", *common(live, seeded), env=env, stdin=access + "\n")
    assert code == 0 and "active: True" in out


def test_client_credentials_without_a_username(live: Live, seeded: Seeded) -> None:
    code, out, _ = invoke(
        "token",
        *common(live, seeded),
        "--scope",
        "read",
        "--json",
        env={"TOKENTURN_CLIENT_SECRET": seeded.client_secret or ""},
    )
    assert code == 0
    body = json.loads(out)
    assert body["scope"] == "read" and "refresh_token" not in body


@pytest.mark.parametrize(
    ("server", "code", "message"),
    [("ftp://nowhere", 2, "--server"), ("http://127.0.0.1:9", 1, "cannot reach")],
)
def test_bad_or_unreachable_servers_fail_with_one_clean_line(server: str, code: int, message: str) -> None:
    exit_code, _, err = invoke("token", "--server", server, "--client-id", "c", env={"TOKENTURN_CLIENT_SECRET": "s"})
    assert exit_code == code and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_wrong_client_secret_is_invalid_client(live: Live, seeded: Seeded) -> None:
    code, _, err = invoke("token", *common(live, seeded), env={"TOKENTURN_CLIENT_SECRET": "wrong"})
    assert code == 1 and err.startswith("tokenturn: invalid_client")
