"""Exactly-once rotation across two nodes (contract §1 refresh-token lifecycle, RFC 9700 §4.14.2)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.backends import pg_connect, run_sync
from tests.conftest import SECRET_KEY
from tokenturn.core.crypto import Keys

from .conftest import GRACE, Cluster, password_grant, token_form

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]


async def refresh_storm(urls: list[str], form: dict[str, str], n: int) -> list[httpx.Response]:
    """``n`` simultaneous refreshes of one token, dealt round-robin over ``urls``."""
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        # Open every connection first so the requests really leave together.
        return list(
            await asyncio.gather(*(client.post(urls[i % len(urls)] + "/auth/token/", data=form) for i in range(n)))
        )


async def family_rows(database_url: str, family_id: str) -> tuple[int, int]:
    """(refresh tokens, access tokens) stored in ``family_id``."""
    conn = await pg_connect(database_url)
    try:
        refresh = await conn.fetchval("SELECT count(*) FROM refresh_tokens WHERE family_id = $1", family_id)
        access = await conn.fetchval("SELECT count(*) FROM access_tokens WHERE family_id = $1", family_id)
    finally:
        await conn.close()
    return int(refresh), int(access)


async def family_of(database_url: str, refresh_token: str) -> str:
    conn = await pg_connect(database_url)
    try:
        family: str = await conn.fetchval(
            "SELECT family_id FROM refresh_tokens WHERE token_hash = $1", Keys(SECRET_KEY).hash_token(refresh_token)
        )
    finally:
        await conn.close()
    return family


def test_one_hundred_simultaneous_refreshes_over_two_nodes_rotate_once(cluster: Cluster) -> None:
    """Every 200 carries the one same successor pair, and the family gains exactly one member."""
    first = password_grant(cluster.urls[0], cluster.seeded)
    form = token_form(cluster.seeded, grant_type="refresh_token", refresh_token=first["refresh_token"])
    started = time.monotonic()
    responses = asyncio.run(refresh_storm(cluster.urls, form, 100))
    assert time.monotonic() - started < GRACE, "the storm outlasted the grace window; the test proves nothing"
    assert [r.status_code for r in responses] == [200] * 100, {r.status_code: r.text for r in responses}
    pairs = {(r.json()["access_token"], r.json()["refresh_token"]) for r in responses}
    assert len(pairs) == 1
    (access, successor), = pairs  # fmt: skip
    assert successor != first["refresh_token"]
    family = run_sync(lambda: family_of(cluster.database_url, first["refresh_token"]))
    assert run_sync(lambda: family_rows(cluster.database_url, family)) == (2, 2)  # the original + one successor

    # After the grace window, a replay of the used token is reuse: the family dies, on every node.
    time.sleep(GRACE + 0.5)
    replay = httpx.post(cluster.urls[1] + "/auth/token/", data=form, timeout=10)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    for url in cluster.urls:
        again = httpx.post(
            url + "/auth/token/",
            data=token_form(cluster.seeded, grant_type="refresh_token", refresh_token=successor),
            timeout=10,
        )
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant", url
        me = httpx.get(url + "/v1/me/", headers={"Authorization": f"Bearer {access}"}, timeout=10)
        assert me.status_code == 401, (url, me.text)


def test_refresh_chains_alternating_between_nodes_keep_working(cluster: Cluster) -> None:
    """A token rotated on one node is immediately usable on the other (no node-local state)."""
    token = password_grant(cluster.urls[0], cluster.seeded)["refresh_token"]
    for i in range(10):
        r = httpx.post(
            cluster.urls[i % 2] + "/auth/token/",
            data=token_form(cluster.seeded, grant_type="refresh_token", refresh_token=token),
            timeout=10,
        )
        assert r.status_code == 200, r.text
        token = r.json()["refresh_token"]


def test_an_admin_change_on_the_database_reaches_every_node(cluster: Cluster) -> None:
    """Disabling the user (one database) stops its refreshes on both nodes at once."""
    from tokenturn.testing import seed_sync

    seeded = seed_sync(cluster.nodes[0].settings, username="to-be-disabled")
    token = password_grant(cluster.urls[0], seeded)["refresh_token"]

    async def disable() -> None:
        conn = await pg_connect(cluster.database_url)
        try:
            await conn.execute("UPDATE users SET disabled = true WHERE username = 'to-be-disabled'")
        finally:
            await conn.close()

    run_sync(disable)
    for url in cluster.urls:
        r = httpx.post(
            url + "/auth/token/", data=token_form(seeded, grant_type="refresh_token", refresh_token=token), timeout=10
        )
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant", url
