"""Side channels and leaks: timing of failed authentication, scanner-recognisable tokens, clean logs.

* An unknown client costs the same as a wrong secret (both hash the presented secret and compare
  in constant time), and an unknown user the same as a wrong password (an unknown user is verified
  against a dummy argon2 hash): RFC 6819 §5.1.4.2.3 / §5.2.3 (no enumeration by timing).
  Measured on a live server with interleaved samples and compared by median, with a tolerance far
  below the gap an enumeration leak would open (a whole argon2 run) and far above loopback noise.
* Every token and client secret tokenturn issues matches the documented scanner regex
  ``TOKEN_PATTERN`` (``tt_(at|rt|cs)_[A-Za-z0-9_-]{43}``).
* A full flow at DEBUG, failed logins and reuse detection included, writes none of the secrets,
  passwords or tokens it used into the server's log.
"""

from __future__ import annotations

import base64
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.hardening import live
from tokenturn.core.crypto import TOKEN_PATTERN
from tokenturn.testing import FAST_ARGON2, seed_sync

pytestmark = pytest.mark.e2e
NO_LIMITS = {
    "TOKENTURN_RATE_LIMIT_CLIENT": "0",
    "TOKENTURN_RATE_LIMIT_ADDRESS": "0",
    "TOKENTURN_RATE_LIMIT_USERNAME": "0",
}


def _interleaved(samples: int, *requests: Callable[[], httpx.Response]) -> list[float]:
    """Median latency (ms) of each request kind, sampled round-robin so load drifts hit all alike."""
    timings: list[list[float]] = [[] for _ in requests]
    for i in range(samples):
        for j in range(len(requests)):
            k = (i + j) % len(requests)  # rotate the order too
            start = time.perf_counter()
            requests[k]()
            timings[k].append((time.perf_counter() - start) * 1000)
    return [statistics.median(t) for t in timings]


def _post(http: httpx.Client, status: int, **form: str) -> Callable[[], httpx.Response]:
    def call() -> httpx.Response:
        r = http.post("/auth/token/", data=form)
        assert r.status_code == status, r.text
        return r

    return call


def test_unknown_user_costs_the_same_as_a_wrong_password(tmp_path: Path) -> None:
    """Dummy argon2 hash for unknown users: medians within 35% although a run costs several ms."""
    env = {
        "TOKENTURN_DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}",
        # A real (if small) argon2 cost, so a missing dummy hash would show as a gap of several ms.
        "TOKENTURN_ARGON2_TIME_COST": "2",
        "TOKENTURN_ARGON2_MEMORY_KIB": "16384",
        **NO_LIMITS,
    }
    with live.GroupServer(env=env) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        s = seed_sync(server.settings)
        base = {"grant_type": "password", "client_id": s.client_id, "client_secret": s.client_secret or ""}
        wrong_password = _post(http, 400, **base, username=s.username, password="not-the-password")
        unknown_user = _post(http, 400, **base, username="nobody-" + s.username, password="not-the-password")
        bad_client = _post(http, 401, **{**base, "client_secret": "wrong"}, username=s.username, password="x")
        _interleaved(5, wrong_password, unknown_user, bad_client)  # warm up
        wrong, unknown, floor = _interleaved(40, wrong_password, unknown_user, bad_client)
    live.REPORT.append(f"timing: wrong password {wrong:.2f} ms, unknown user {unknown:.2f} ms (medians, n=40)")
    assert wrong > floor + 2, f"the argon2 cost is not visible ({wrong:.2f} vs {floor:.2f} ms): test is blind"
    assert abs(wrong - unknown) < 0.35 * max(wrong, unknown), (wrong, unknown)


def test_unknown_client_costs_the_same_as_a_wrong_secret(tmp_path: Path) -> None:
    """Keyed hash + constant-time compare either way: medians within noise, by Basic and by post."""
    env = {"TOKENTURN_DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}", **NO_LIMITS}
    with live.GroupServer(env=env) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        s = seed_sync(server.settings)
        wrong_secret = "tt_cs_" + "B" * 43
        form = {"grant_type": "password", "username": s.username, "password": "x"}
        known = _post(http, 401, **form, client_id=s.client_id, client_secret=wrong_secret)
        unknown = _post(http, 401, **form, client_id="Z" + s.client_id[1:], client_secret=wrong_secret)
        _interleaved(10, known, unknown)
        a, b = _interleaved(80, known, unknown)
    live.REPORT.append(f"timing: wrong client secret {a:.3f} ms, unknown client {b:.3f} ms (medians, n=80)")
    assert abs(a - b) < max(0.35 * max(a, b), 0.5), (a, b)


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def _cli(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "tokenturn", *args], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return out.stdout


def test_every_issued_token_matches_the_scanner_pattern_and_no_secret_reaches_the_log(tmp_path: Path) -> None:
    """A full flow at DEBUG (failed logins, reuse, revocation): tokens match TOKEN_PATTERN, logs hold none."""
    log_path = tmp_path / "server.log"
    env = {
        "TOKENTURN_DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}",
        "TOKENTURN_LOG_LEVEL": "DEBUG",
        "TOKENTURN_REFRESH_GRACE_SECONDS": "0",
    }
    secrets_used: list[str] = [live.SECRET_KEY]
    issued: list[str] = []
    with live.GroupServer(env=env, log_path=log_path) as server, httpx.Client(base_url=server.url) as http:
        cli_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TOKENTURN_")},
            **FAST_ARGON2,
            **server.full_env,
        }
        created = json.loads(
            _cli(
                cli_env,
                "client",
                "create",
                "--name",
                "scan",
                "--grant-types",
                "password,refresh_token,client_credentials",
                "--introspection",
                "--json",
            )
        )
        cid, secret = created["client_id"], created["client_secret"]
        rotated = json.loads(_cli(cli_env, "client", "rotate-secret", cid, "--json"))["client_secret"]
        password = "pw-" + os.urandom(12).hex()
        subprocess.run(
            [sys.executable, "-m", "tokenturn", "user", "create", "--username", "alice", "--password-stdin"],
            input=password,
            env=cli_env,
            text=True,
            check=True,
            timeout=60,
        )
        issued += [secret, rotated]
        wrong_pw, wrong_secret = "wrong-" + os.urandom(12).hex(), "tt_cs_" + os.urandom(32).hex()[:43]
        secrets_used += [secret, rotated, password, wrong_pw, wrong_secret]
        auth = _basic(cid, rotated)

        def token(**form: str) -> httpx.Response:
            return http.post("/auth/token/", data=form, headers=auth)

        # Failed logins of every kind first.
        assert token(grant_type="password", username="alice", password=wrong_pw).status_code == 400
        assert token(grant_type="password", username="mallory", password=wrong_pw).status_code == 400
        r = http.post("/auth/token/", data={"grant_type": "client_credentials"}, headers=_basic(cid, wrong_secret))
        assert r.status_code == 401
        r = http.post(
            "/auth/token/", data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret}
        )  # the secret before rotation
        assert r.status_code == 401
        # Then the happy paths, a reuse and a revocation.
        first = token(grant_type="password", username="alice", password=password).json()
        second = token(grant_type="refresh_token", refresh_token=first["refresh_token"]).json()
        reuse = token(grant_type="refresh_token", refresh_token=first["refresh_token"])
        assert (reuse.status_code, reuse.json()["error"]) == (400, "invalid_grant")
        third = token(grant_type="password", username="alice", password=password).json()
        cc = token(grant_type="client_credentials").json()
        assert http.get("/v1/me/", headers={"Authorization": f"Bearer {third['access_token']}"}).status_code == 200
        assert http.get("/v1/me/", headers={"Authorization": f"Bearer {second['access_token']}"}).status_code == 401
        r = http.post("/auth/introspect/", data={"token": third["refresh_token"]}, headers=auth)
        assert r.json()["active"] is True
        assert http.post("/auth/revoke_token/", data={"token": third["refresh_token"]}, headers=auth).status_code == 200
        for body in (first, second, third):
            issued += [body["access_token"], body["refresh_token"]]
        issued.append(cc["access_token"])
    secrets_used += issued
    for value in issued:
        assert re.fullmatch(TOKEN_PATTERN, value), value
    log = log_path.read_text(errors="replace")
    assert '"level": "debug"' in log, "the server did not log at DEBUG: the check below would prove nothing"
    assert "reuse" in log
    for value in secrets_used:
        assert value not in log, "a secret, password or token reached the server log"
        assert value[6:] not in log  # not even without its prefix
