"""Cleanup (``Storage.purge`` and the server's background purge): dead records go, reuse detection stays."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import httpx

from tokenturn.config import Settings
from tokenturn.server.app import TokenturnApp
from tokenturn.server.purge import BackgroundPurge
from tokenturn.testing import FakeClock, Seeded, seed

from .helpers import assert_error, password_grant, refresh
from .ops_helpers import introspect, me

DAY = 86_400


@contextlib.asynccontextmanager
async def running(
    settings: Settings, clock: Any, **changes: Any
) -> AsyncIterator[tuple[TokenturnApp, httpx.AsyncClient, Seeded]]:
    application = TokenturnApp(settings.replace(**changes), clock=clock)
    await application.startup()
    seeded = await seed(application.services.storage, settings)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://t") as http:
            yield application, http, seeded
    finally:
        await application.shutdown()


def count(settings: Settings, table: str) -> int:
    with contextlib.closing(sqlite3.connect(settings.database_url.removeprefix("sqlite:///"))) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


async def purge_all(application: TokenturnApp, retention: int) -> int:
    """What ``tokenturn purge`` does: batches until nothing is left."""
    total = 0
    while n := await application.services.storage.purge(int(application.services.clock()), retention, 2):
        total += n
    return total


async def test_purge_never_removes_a_used_refresh_token_reuse_detection_needs(
    settings: Settings, clock: FakeClock
) -> None:
    """A used token outlives its own idle end (and the retention) while its family lives: reuse still ends it."""
    async with running(settings, clock, refresh_token_ttl=3600, family_ttl=30 * DAY) as (application, http, seeded):
        first = await password_grant(http, seeded)
        second = (await refresh(http, seeded, first["refresh_token"])).json()
        clock.advance(3000)
        third = (await refresh(http, seeded, second["refresh_token"])).json()
        clock.advance(1000)  # first and second are past their idle end; third lives until +3600
        assert await purge_all(application, retention=0) > 0  # the expired access tokens went
        assert count(settings, "refresh_tokens") == 3
        r = await refresh(http, seeded, first["refresh_token"])
        assert_error(r, 400, "invalid_grant")  # reuse detected after cleanup ...
        assert_error(await refresh(http, seeded, third["refresh_token"]), 400, "invalid_grant")  # ... family revoked
        assert (await me(http, third["access_token"])).status_code == 401


async def test_purge_keeps_a_grace_window_retry_working(settings: Settings, clock: FakeClock) -> None:
    """Even with zero retention and one-second access tokens, a retry inside the grace window gets the same pair."""
    async with running(settings, clock, access_token_ttl=1, refresh_grace_seconds=30) as (application, http, seeded):
        first = await password_grant(http, seeded)
        second = (await refresh(http, seeded, first["refresh_token"])).json()
        clock.advance(20)
        await purge_all(application, retention=0)
        retry = await refresh(http, seeded, first["refresh_token"])
        assert retry.status_code == 200, retry.text
        assert retry.json()["refresh_token"] == second["refresh_token"]


async def test_purge_deletes_ended_and_revoked_families_past_the_retention(
    settings: Settings, clock: FakeClock
) -> None:
    async with running(settings, clock, refresh_token_ttl=3600, family_ttl=DAY) as (application, http, seeded):
        ended = await password_grant(http, seeded)
        await refresh(http, seeded, ended["refresh_token"])
        clock.advance(DAY - 100)
        revoked = await password_grant(http, seeded)
        data = {"client_id": seeded.client_id, "client_secret": seeded.client_secret, "token": revoked["refresh_token"]}
        assert (await http.post("/auth/revoke_token/", data=data)).status_code == 200
        live = await password_grant(http, seeded)
        clock.advance(110)  # the first family ended 10 s ago, the second was revoked 110 s ago
        await purge_all(application, retention=3600)
        assert count(settings, "families") == 3  # all inside the retention
        clock.advance(3600)
        assert await purge_all(application, retention=3600) > 0
        assert count(settings, "families") == 1
        assert count(settings, "refresh_tokens") == 1  # the live family's, expired 110 s ago: kept for now
        assert (await introspect(http, seeded, live["access_token"]))["active"] is False


async def test_live_tokens_are_never_purged(settings: Settings, clock: FakeClock) -> None:
    async with running(settings, clock) as (application, http, seeded):
        tokens = await password_grant(http, seeded)
        assert await purge_all(application, retention=0) == 0
        assert (await introspect(http, seeded, tokens["access_token"]))["active"] is True
        assert (await introspect(http, seeded, tokens["refresh_token"]))["active"] is True


async def test_the_server_purges_in_the_background_at_the_interval(settings: Settings) -> None:
    clock = FakeClock()
    async with running(settings, clock, purge_interval=1, purge_retention=0) as (application, http, seeded):
        await password_grant(http, seeded, scope="read")
        cc = await seed(application.services.storage, settings, grant_types=frozenset({"client_credentials"}))
        await http.post(
            "/auth/token/",
            data={
                "grant_type": "client_credentials",
                "client_id": cc.client_id,
                "client_secret": cc.client_secret,
            },
        )
        clock.advance(3600 + 120)  # the access tokens are long expired; the family lives on
        deadline = asyncio.get_running_loop().time() + 5
        while count(settings, "access_tokens") and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        assert count(settings, "access_tokens") == 0
        assert count(settings, "refresh_tokens") == 1


async def test_a_zero_interval_disables_the_background_purge(settings: Settings, clock: FakeClock) -> None:
    async with running(settings, clock, purge_interval=0) as (application, _http, _seeded):
        assert application._purge is not None and application._purge._task is None


async def test_run_once_reports_and_survives_an_empty_store(settings: Settings, clock: FakeClock) -> None:
    async with running(settings, clock) as (application, _http, _seeded):
        purge = BackgroundPurge(application.services.storage, clock, 60, 0, batch=1)
        assert await purge.run_once() == 0
