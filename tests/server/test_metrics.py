"""``GET /metrics``: Prometheus text with the counters contract §2 / issue 3 name, from real requests."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tokenturn.server import metrics
from tokenturn.testing import FakeClock, Seeded

from .helpers import password_grant, refresh, token
from .ops_helpers import introspect, me, revoke


def value(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_is_prometheus_text(http: httpx.AsyncClient, seeded: Seeded) -> None:
    await password_grant(http, seeded)
    r = await http.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=")
    names = {family.name for family in text_string_to_metric_families(r.text)}
    assert {
        "tokenturn_tokens_issued",
        "tokenturn_refreshes",
        "tokenturn_refresh_reuse_detected",
        "tokenturn_family_revocations",
        "tokenturn_failures",
        "tokenturn_request_duration_seconds",
    } <= names


async def test_the_token_lifecycle_is_counted(http: httpx.AsyncClient, seeded: Seeded, clock: FakeClock) -> None:
    before = {
        "password": value("tokenturn_tokens_issued_total", grant="password"),
        "refresh": value("tokenturn_tokens_issued_total", grant="refresh_token"),
        "rotated": value("tokenturn_refreshes_total", result="rotated"),
        "replayed": value("tokenturn_refreshes_total", result="replayed"),
        "reuse": value("tokenturn_refresh_reuse_detected_total"),
        "by_reuse": value("tokenturn_family_revocations_total", reason="reuse"),
        "by_revocation": value("tokenturn_family_revocations_total", reason="revocation"),
        "access_revoked": value("tokenturn_access_token_revocations_total"),
        "invalid_grant": value("tokenturn_failures_total", error="invalid_grant"),
        "invalid_client": value("tokenturn_failures_total", error="invalid_client"),
        "token_requests": value("tokenturn_request_duration_seconds_count", endpoint="token"),
    }
    first = await password_grant(http, seeded)
    second = (await refresh(http, seeded, first["refresh_token"])).json()
    assert (await refresh(http, seeded, first["refresh_token"])).status_code == 200  # replay in the grace window
    clock.advance(60)
    assert (await refresh(http, seeded, first["refresh_token"])).status_code == 400  # reuse: family revoked
    assert (await refresh(http, seeded, second["refresh_token"])).status_code == 400  # invalid_grant
    other = await password_grant(http, seeded)
    await revoke(http, seeded, other["access_token"])
    await revoke(http, seeded, other["refresh_token"])
    await token(http, seeded, grant_type="password", client_secret="wrong", username="u", password="p")
    assert value("tokenturn_tokens_issued_total", grant="password") - before["password"] == 2
    assert value("tokenturn_tokens_issued_total", grant="refresh_token") - before["refresh"] == 1
    assert value("tokenturn_refreshes_total", result="rotated") - before["rotated"] == 1
    assert value("tokenturn_refreshes_total", result="replayed") - before["replayed"] == 1
    assert value("tokenturn_refresh_reuse_detected_total") - before["reuse"] == 1
    assert value("tokenturn_family_revocations_total", reason="reuse") - before["by_reuse"] == 1
    assert value("tokenturn_family_revocations_total", reason="revocation") - before["by_revocation"] == 1
    assert value("tokenturn_access_token_revocations_total") - before["access_revoked"] == 1
    assert value("tokenturn_failures_total", error="invalid_grant") - before["invalid_grant"] == 2
    assert value("tokenturn_failures_total", error="invalid_client") - before["invalid_client"] == 1
    assert value("tokenturn_request_duration_seconds_count", endpoint="token") - before["token_requests"] == 7


async def test_latency_is_observed_per_endpoint(http: httpx.AsyncClient, seeded: Seeded) -> None:
    tokens = await password_grant(http, seeded)
    before = {e: value("tokenturn_request_duration_seconds_count", endpoint=e) for e in ("introspect", "me")}
    await introspect(http, seeded, tokens["access_token"])
    await me(http, tokens["access_token"])
    for endpoint in ("introspect", "me"):
        assert value("tokenturn_request_duration_seconds_count", endpoint=endpoint) - before[endpoint] == 1


async def test_odd_paths_and_odd_input_do_not_grow_the_series(http: httpx.AsyncClient) -> None:
    def series() -> int:
        return sum(len(family.samples) for family in metrics.REGISTRY.collect())

    await http.get("/warm-up-other")
    start = series()
    for i in range(20):
        await http.get(f"/nothing-{i}")
        await http.post("/auth/token/", data={"grant_type": f"weird-{i}"})
    assert series() == start


def test_multiprocess_dir_is_fresh_for_a_run_and_removed_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    with metrics.multiprocess_dir() as path:
        assert os.environ[metrics.MULTIPROC_ENV] == path
        assert os.path.isdir(path) and not os.listdir(path)
    assert not os.path.exists(path)
    assert metrics.MULTIPROC_ENV not in os.environ


def test_an_operators_multiprocess_dir_is_kept(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    chosen = tmp_path / "prom"
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(chosen))
    with metrics.multiprocess_dir() as path:
        assert path == str(chosen)
    assert chosen.is_dir()


def test_a_process_counting_in_memory_exposes_its_own_registry() -> None:
    """In-process (as here, and ``serve`` with one worker) /metrics is never an empty directory's view."""
    assert not metrics.multiprocess_enabled()
    assert b"tokenturn_tokens_issued" in metrics.exposition().body
