"""Startup refuses unsafe configuration with one clear line naming the setting (contract §5)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tokenturn.config import ConfigError, load_settings

BASE = {"TOKENTURN_DATABASE_URL": "sqlite:///x.db", "TOKENTURN_SECRET_KEY": "s" * 32}

UNSAFE = [
    ({"TOKENTURN_SECRET_KEY": "s" * 31}, "TOKENTURN_SECRET_KEY"),
    ({"TOKENTURN_SECRET_KEY": "é" * 15}, "TOKENTURN_SECRET_KEY"),  # 30 bytes, 15 characters
    ({"TOKENTURN_REFRESH_GRACE_SECONDS": "61"}, "TOKENTURN_REFRESH_GRACE_SECONDS"),
    ({"TOKENTURN_REFRESH_GRACE_SECONDS": "-1"}, "TOKENTURN_REFRESH_GRACE_SECONDS"),
    ({"TOKENTURN_REFRESH_GRACE_SECONDS": "ten"}, "TOKENTURN_REFRESH_GRACE_SECONDS"),
    ({"TOKENTURN_ACCESS_TOKEN_TTL": "0"}, "TOKENTURN_ACCESS_TOKEN_TTL"),
    ({"TOKENTURN_ACCESS_TOKEN_TTL": "1e9"}, "TOKENTURN_ACCESS_TOKEN_TTL"),
    ({"TOKENTURN_ACCESS_TOKEN_TTL": str(86_400 * 8)}, "TOKENTURN_ACCESS_TOKEN_TTL"),
    ({"TOKENTURN_REFRESH_TOKEN_TTL": "30"}, "TOKENTURN_REFRESH_TOKEN_TTL"),
    ({"TOKENTURN_REFRESH_TOKEN_TTL": "864000", "TOKENTURN_FAMILY_TTL": "86400"}, "TOKENTURN_REFRESH_TOKEN_TTL"),
    ({"TOKENTURN_ACCESS_TOKEN_TTL": "7200", "TOKENTURN_REFRESH_TOKEN_TTL": "3600"}, "TOKENTURN_ACCESS_TOKEN_TTL"),
    ({"TOKENTURN_REFRESH_TOKEN_TTL": "60", "TOKENTURN_ACCESS_TOKEN_TTL": "30", "TOKENTURN_REFRESH_GRACE_SECONDS": "60"},
     "TOKENTURN_REFRESH_GRACE_SECONDS"),
    ({"TOKENTURN_DATABASE_URL": "postgresql://db/x", "TOKENTURN_SECRET_KEY": ""}, "TOKENTURN_SECRET_KEY"),
    ({"TOKENTURN_DATABASE_URL": "mysql://db/x"}, "TOKENTURN_DATABASE_URL"),
    ({"TOKENTURN_RATE_LIMIT_USERNAME": "lots"}, "TOKENTURN_RATE_LIMIT_USERNAME"),
    ({"TOKENTURN_CORS_ORIGINS": "*"}, "TOKENTURN_CORS_ORIGINS"),
    ({"TOKENTURN_ARGON2_MEMORY_KIB": "1"}, "TOKENTURN_ARGON2_MEMORY_KIB"),
]  # fmt: skip


@pytest.mark.parametrize(("env", "name"), UNSAFE)
def test_unsafe_setting_is_refused_with_one_line_naming_it(env: dict[str, str], name: str) -> None:
    """load_settings raises ConfigError: one line, the setting's name, never the secret's value."""
    with pytest.raises(ConfigError) as info:
        load_settings({**BASE, **env})
    message = str(info.value)
    assert "\n" not in message and message.startswith(name), message
    assert "s" * 31 not in message


@pytest.mark.parametrize(
    "env",
    [
        {"TOKENTURN_SECRET_KEY": "s" * 32},
        {"TOKENTURN_REFRESH_GRACE_SECONDS": "60"},
        {"TOKENTURN_REFRESH_GRACE_SECONDS": "0"},
        {"TOKENTURN_ACCESS_TOKEN_TTL": "3600", "TOKENTURN_REFRESH_TOKEN_TTL": "3600", "TOKENTURN_FAMILY_TTL": "3600"},
    ],
)
def test_safe_edges_are_accepted(env: dict[str, str]) -> None:
    """The limits themselves are allowed: 32-byte key, a 60 s grace, equal lifetimes."""
    load_settings({**BASE, **env})


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"TOKENTURN_SECRET_KEY": "short"}, "TOKENTURN_SECRET_KEY"),
        ({"TOKENTURN_REFRESH_GRACE_SECONDS": "600"}, "TOKENTURN_REFRESH_GRACE_SECONDS"),
        ({"TOKENTURN_ACCESS_TOKEN_TTL": "7200", "TOKENTURN_REFRESH_TOKEN_TTL": "3600"}, "TOKENTURN_ACCESS_TOKEN_TTL"),
    ],
)
def test_serve_refuses_to_start_with_one_clear_line(tmp_path: Path, env: dict[str, str], name: str) -> None:
    """``tokenturn serve`` exits non-zero before binding, one line on stderr, no traceback."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("TOKENTURN_")}
    full.update({**BASE, "TOKENTURN_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", **env})
    out = subprocess.run(
        [sys.executable, "-m", "tokenturn", "serve", "--port", "0"],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and name in lines[0], out.stderr
    assert "Traceback" not in out.stderr and "short" not in out.stderr
    assert not (tmp_path / "x.db").exists(), "it touched the store before refusing"
