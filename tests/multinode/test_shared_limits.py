"""Failure limits shared by two nodes through Redis (contract §1 ``429 too_many_requests``)."""

from __future__ import annotations

import httpx
import pytest

from tokenturn.testing import seed_sync

from .conftest import Cluster, token_form

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.e2e]

LIMIT = 5  # TOKENTURN_RATE_LIMIT_CLIENT=5/min on both nodes


def client_credentials(url: str, client_id: str, secret: str) -> httpx.Response:
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    return httpx.post(url + "/auth/token/", data=form, timeout=10)


@pytest.fixture
def cluster_with_redis(cluster: Cluster) -> Cluster:
    if not cluster.redis_url:
        pytest.skip("Redis not reachable: the cluster runs with per-process limits")
    return cluster


def test_failed_client_authentications_are_counted_across_both_nodes(cluster_with_redis: Cluster) -> None:
    """Five failures spread over two nodes use up the one shared allowance; the sixth is 429 on either node."""
    cluster = cluster_with_redis
    victim = seed_sync(cluster.nodes[0].settings, grant_types=frozenset({"client_credentials"}))
    for i in range(LIMIT):
        r = client_credentials(cluster.urls[i % 2], victim.client_id, "wrong-secret")
        assert r.status_code == 401, r.text
    for url in cluster.urls:
        r = client_credentials(url, victim.client_id, "wrong-secret")
        assert r.status_code == 429, r.text
        assert r.json()["error"] == "too_many_requests"
        assert 1 <= int(r.headers["retry-after"]) <= 60


def test_successful_requests_are_never_counted(cluster_with_redis: Cluster) -> None:
    cluster = cluster_with_redis
    good = seed_sync(cluster.nodes[0].settings, grant_types=frozenset({"client_credentials"}))
    assert good.client_secret is not None
    for i in range(3 * LIMIT):
        assert client_credentials(cluster.urls[i % 2], good.client_id, good.client_secret).status_code == 200
    for i in range(LIMIT - 1):
        assert client_credentials(cluster.urls[i % 2], good.client_id, "wrong").status_code == 401
    assert client_credentials(cluster.urls[1], good.client_id, good.client_secret).status_code == 200


def test_refresh_failures_do_not_count_towards_the_client_limit(cluster_with_redis: Cluster) -> None:
    """Contract §1: refresh-token failures are not counted (a bad token must not lock its client out)."""
    cluster = cluster_with_redis
    seeded = seed_sync(cluster.nodes[0].settings)
    for i in range(2 * LIMIT):
        r = httpx.post(
            cluster.urls[i % 2] + "/auth/token/",
            data=token_form(seeded, grant_type="refresh_token", refresh_token=f"tt_rt_bogus{i}"),
            timeout=10,
        )
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
