"""``tokenturn serve --demo`` (what ``make run`` starts): the printed curl lines work as printed."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tokenturn.testing import FAST_ARGON2, free_port, wait_until_up

pytestmark = pytest.mark.e2e


def start_demo(tmp_path: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, **FAST_ARGON2, "TOKENTURN_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"}
    env.pop("TOKENTURN_SECRET_KEY", None)
    return subprocess.Popen(
        [sys.executable, "-m", "tokenturn", "serve", "--demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def read_until_serving(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "tokenturn serving on" in line or not line:
            break
    return "".join(lines)


def curl_commands(text: str) -> list[str]:
    """The printed curl commands, continuation lines joined."""
    joined = text.replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip().startswith("curl ")]


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_demo_prints_working_curl_lines_and_the_same_credentials_on_restart(tmp_path: Path) -> None:
    port = free_port()
    proc = start_demo(tmp_path, port)
    try:
        text = read_until_serving(proc)
        wait_until_up(f"http://127.0.0.1:{port}")
        get, refresh = curl_commands(text)
        answer = json.loads(subprocess.run(shlex.split(get), capture_output=True, text=True, check=True).stdout)
        assert answer["token_type"] == "Bearer" and answer["refresh_token"].startswith("tt_rt_")
        refresh = refresh.replace("tt_rt_...", answer["refresh_token"])
        renewed = json.loads(subprocess.run(shlex.split(refresh), capture_output=True, text=True, check=True).stdout)
        assert renewed["refresh_token"] != answer["refresh_token"]
    finally:
        proc.terminate()
        proc.communicate(timeout=15)
    # created once: a second start prints the same, still valid, credentials
    proc = start_demo(tmp_path, port)
    try:
        again = read_until_serving(proc)
        secret = re.search(r"client_secret\s+(\S+)", text)
        assert secret is not None and secret.group(1) in again
    finally:
        proc.terminate()
        proc.communicate(timeout=15)
