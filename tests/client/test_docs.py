"""The README's client section: every Python example type-checks under mypy --strict and runs against a real server."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tokenturn.client import JSONFileStore, Session

from .live import Live, live_server

DOC = Path(__file__).resolve().parents[2] / "README.md"
SECTION = DOC.read_text().split("\n## The client SDK", 1)[1].split("\n## ", 1)[0]
BLOCKS = re.findall(r"```python\n(.*?)```", SECTION, flags=re.DOTALL)


def test_the_client_section_has_an_example_for_each_topic() -> None:
    names = set(re.findall(r"^(?:async )?def (example_\w+)", "\n".join(BLOCKS), flags=re.MULTILINE))
    assert names == {"example_sync", "example_async", "example_requests", "example_file_store", "example_bakrypt"}


def test_the_examples_type_check_with_mypy_strict(tmp_path: Path) -> None:
    for i, block in enumerate(BLOCKS):
        (tmp_path / f"client_example_{i}.py").write_text(block)
    (tmp_path / "mypy.ini").write_text("[mypy]\nstrict = True\nwarn_unused_configs = True\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(tmp_path / "mypy.ini"),
            "--cache-dir",
            str(Path(__file__).resolve().parents[2] / ".mypy_cache" / "docs-client"),
            *sorted(str(p) for p in tmp_path.glob("client_example_*.py")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def namespace() -> dict[str, Any]:
    ns: dict[str, Any] = {}
    for block in BLOCKS:
        exec(compile(block, str(DOC), "exec"), ns)  # noqa: S102  (our own documentation)
    return ns


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(tmp_path_factory.mktemp("docs-live")) as server:
        yield server


@pytest.mark.e2e
def test_the_examples_run_against_a_real_server(live: Live, tmp_path: Path) -> None:
    ns = namespace()
    s = live.seed()
    creds = (live.url, s.client_id, s.client_secret or "")
    assert ns["example_sync"](*creds, s.username, s.password) == s.username
    assert asyncio.run(ns["example_async"](*creds, s.username, s.password)) == 20
    with live.client(s) as client:
        refresh_token = client.password(s.username, s.password).refresh_token
        assert refresh_token is not None
        assert ns["example_requests"](*creds, refresh_token) == 200
        path = tmp_path / "token.json"
        Session(client, JSONFileStore(path)).login_password(s.username, s.password)
    assert ns["example_file_store"](*creds, path) == 200
