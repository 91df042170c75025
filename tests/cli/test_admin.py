"""``tokenturn`` administration commands on a real SQLite file (contract §4)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tokenturn.cli import app
from tokenturn.testing import FAST_ARGON2, ServerProcess


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"TOKENTURN_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", **FAST_ARGON2}


def invoke(env: dict[str, str], *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env, input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_client_create_json_on_a_fresh_database(env: dict[str, str]) -> None:
    code, out, _ = invoke(env, "client", "create", "--name", "web", "--json")
    assert code == 0
    created = json.loads(out)
    assert set(created) >= {"client_id", "client_secret"}
    assert created["grant_types"] == ["password", "refresh_token"]
    assert created["scope"] == "read write"
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
    assert set(created["client_id"]) <= allowed and set(created["client_secret"]) <= allowed
    code, out, _ = invoke(env, "client", "list", "--json")
    listed = json.loads(out)
    assert [c["client_id"] for c in listed] == [created["client_id"]]
    assert "client_secret" not in listed[0]


def test_client_options_and_rotation(env: dict[str, str]) -> None:
    code, out, _ = invoke(
        env,
        "client",
        "create",
        "--name",
        "svc",
        "--grant-types",
        "client_credentials",
        "--scope",
        "read",
        "--introspection",
        "--json",
    )
    assert code == 0
    created = json.loads(out)
    assert created["introspection"] is True and created["grant_types"] == ["client_credentials"]
    code, out, _ = invoke(env, "client", "rotate-secret", created["client_id"], "--json")
    assert code == 0
    rotated = json.loads(out)
    assert rotated["client_id"] == created["client_id"]
    assert rotated["client_secret"] != created["client_secret"]
    code, _, _ = invoke(env, "client", "delete", created["client_id"])
    assert code == 0
    code, _, err = invoke(env, "client", "delete", created["client_id"])
    assert code != 0 and "no client" in err


def test_public_client_has_no_secret(env: dict[str, str]) -> None:
    code, out, _ = invoke(env, "client", "create", "--name", "spa", "--public", "--json")
    assert code == 0
    created = json.loads(out)
    assert "client_secret" not in created and created["public"] is True
    code, _, err = invoke(env, "client", "rotate-secret", created["client_id"])
    assert code != 0 and "public" in err


@pytest.mark.parametrize(
    "args",
    [
        ("client", "create", "--name", "x", "--grant-types", "implicit"),
        ("client", "create", "--name", "x", "--grant-types", "client_credentials", "--public"),
        ("client", "create", "--name", "x", "--scope", 'bad"scope'),
        ("client", "create", "--name", " "),
        ("user", "create", "--username", "u"),
        ("user", "disable", "nobody"),
    ],
)
def test_bad_input_fails_cleanly(env: dict[str, str], args: tuple[str, ...]) -> None:
    code, out, err = invoke(env, *args)
    assert code != 0
    assert "Traceback" not in out + err
    assert err.startswith("tokenturn: ")


def test_users(env: dict[str, str]) -> None:
    code, _, _ = invoke(env, "user", "create", "--username", "alice", "--password-stdin", stdin="s3cret pass\n")
    assert code == 0
    code, _, err = invoke(env, "user", "create", "--username", "alice", "--password", "other")
    assert code != 0 and "exists" in err
    code, _, _ = invoke(env, "user", "disable", "alice")
    assert code == 0
    code, out, _ = invoke(env, "user", "list", "--json")
    assert json.loads(out) == [{"username": "alice", "disabled": True}]


def test_malformed_setting_stops_with_one_line_naming_it(env: dict[str, str]) -> None:
    code, _, err = invoke({**env, "TOKENTURN_REFRESH_GRACE_SECONDS": "61"}, "client", "list")
    assert code == 2
    assert err.strip().count("\n") == 0 and "TOKENTURN_REFRESH_GRACE_SECONDS" in err


def test_config_file_is_read(env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "tokenturn.toml"
    config.write_text('access_token_ttl = "nope"\n')
    code, _, err = invoke(env, "client", "list", "--config", str(config))
    assert code == 2 and "TOKENTURN_ACCESS_TOKEN_TTL" in err


def test_migrate_and_purge(env: dict[str, str]) -> None:
    assert invoke(env, "migrate")[0] == 0
    code, out, _ = invoke(env, "purge", "--older-than", "0")
    assert code == 0 and "purged 0 records" in out


def test_a_new_client_and_a_disabled_user_take_effect_on_a_running_server(env: dict[str, str], tmp_path: Path) -> None:
    with ServerProcess(env=env) as server:
        _, out, _ = invoke(env, "client", "create", "--name", "late", "--json")
        created = json.loads(out)
        invoke(env, "user", "create", "--username", "bob", "--password", "pw")
        form = {
            "grant_type": "password",
            "username": "bob",
            "password": "pw",
            "client_id": created["client_id"],
            "client_secret": created["client_secret"],
        }
        assert httpx.post(f"{server.url}/auth/token/", data=form).status_code == 200
        invoke(env, "user", "disable", "bob")
        r = httpx.post(f"{server.url}/auth/token/", data=form)
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_errors_print_no_traceback_in_a_real_process(env: dict[str, str], tmp_path: Path) -> None:
    bad = {**env, "TOKENTURN_DATABASE_URL": "mysql://nope"}
    proc = subprocess.run(
        [sys.executable, "-m", "tokenturn", "client", "list"], env=bad, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "TOKENTURN_DATABASE_URL" in proc.stderr
