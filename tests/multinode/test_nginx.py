"""The deployment guide, exercised: deploy/nginx/tokenturn.conf in front of two nodes (README, "Several nodes")."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from .conftest import Cluster, Nginx, metric_total, password_grant, token_form
from .test_rotation_across_nodes import refresh_storm

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

TOKEN_REQUESTS = ("tokenturn_request_duration_seconds_count", {"endpoint": "token"})


def test_the_balancer_spreads_a_refresh_chain_over_both_nodes(cluster: Cluster, nginx: Nginx) -> None:
    before = [metric_total(url, *TOKEN_REQUESTS) for url in cluster.urls]
    token = password_grant(nginx.url, cluster.seeded)["refresh_token"]
    for _ in range(20):
        r = httpx.post(
            nginx.url + "/auth/token/",
            data=token_form(cluster.seeded, grant_type="refresh_token", refresh_token=token),
            timeout=10,
        )
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        token = r.json()["refresh_token"]
    served = [metric_total(url, *TOKEN_REQUESTS) - b for url, b in zip(cluster.urls, before, strict=True)]
    assert sum(served) >= 21 and min(served) >= 5, served


def test_a_refresh_storm_through_the_balancer_rotates_once(cluster: Cluster, nginx: Nginx) -> None:
    first = password_grant(nginx.url, cluster.seeded)
    form = token_form(cluster.seeded, grant_type="refresh_token", refresh_token=first["refresh_token"])
    responses = asyncio.run(refresh_storm([nginx.url], form, 50))
    assert {r.status_code for r in responses} == {200}
    assert len({(r.json()["access_token"], r.json()["refresh_token"]) for r in responses}) == 1


def test_an_oversized_body_gets_tokenturns_json_413_through_the_balancer(nginx: Nginx) -> None:
    r = httpx.post(
        nginx.url + "/auth/token/",
        content=b"grant_type=password&x=" + b"a" * 70_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert r.status_code == 413
    assert r.json()["error"] == "invalid_request"


def test_the_balancer_routes_around_a_stopped_node(cluster: Cluster, nginx: Nginx) -> None:
    """One node down: every request through nginx still succeeds; the node rejoins when restarted."""
    down = cluster.nodes[1]
    down.stop()
    try:
        token = password_grant(nginx.url, cluster.seeded)["refresh_token"]
        for _ in range(6):
            r = httpx.post(
                nginx.url + "/auth/token/",
                data=token_form(cluster.seeded, grant_type="refresh_token", refresh_token=token),
                timeout=10,
            )
            assert r.status_code == 200, r.text
            token = r.json()["refresh_token"]
    finally:
        down.start()  # same port: the upstream line stays valid
    assert httpx.get(down.url + "/readyz", timeout=5).status_code == 200
