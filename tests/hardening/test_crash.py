"""Crash safety of rotation: SIGKILL the whole server mid refresh-storm, restart it, audit every family.

Several hundred families each refresh in a chain, concurrently, against ``tokenturn serve
--workers 2``; once enough rotations have been answered the server's process group (supervisor
and both workers) gets SIGKILL, so some requests die inside their transaction. After a restart
on the same database, for every family, with ``cur`` the last refresh token a client *received*:

* a rotation whose answer reached the client survived the crash: ``cur`` is stored and unused;
* where the answer was lost (in flight at the kill, or — for a few families, deliberately — a
  committed rotation whose answer the client dropped), the store holds exactly one of the two
  outcomes — ``cur`` unused and no successor, or ``cur`` used and its successor stored and
  unused — never both valid, never neither;
* presenting ``cur`` again (a client retrying its lost request) yields a working successor: a
  fresh rotation, or inside the grace window the very successor the lost answer carried
  (successors are derived from the presented token, so the test can compute it), twice the same.

Runs on SQLite (``synchronous=NORMAL`` in WAL: a committed transaction survives a process crash)
and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.hardening import live
from tokenturn.core.crypto import Keys
from tokenturn.storage import open_storage
from tokenturn.testing import Seeded, seed

pytestmark = pytest.mark.e2e

FAMILIES = 300
KILL_AFTER = 450  # rotations answered before the SIGKILL
BLIND = 20  # families whose last rotation committed but whose answer the client "lost"


@dataclass
class Chain:
    current: str
    rotations: int = 0
    lost: bool = False  # the last request presenting ``current`` got no answer


def _form(seeded: Seeded, **params: str) -> dict[str, str]:
    return {"client_id": seeded.client_id, "client_secret": seeded.client_secret or "", **params}


async def _password_grants(url: str, seeded: Seeded, n: int) -> list[str]:
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=32)) as http:
        sem = asyncio.Semaphore(32)

        async def one() -> str:
            async with sem:
                form = _form(seeded, grant_type="password", username=seeded.username, password=seeded.password)
                r = await http.post("/auth/token/", data=form)
                assert r.status_code == 200, r.text
                return str(r.json()["refresh_token"])

        return list(await asyncio.gather(*(one() for _ in range(n))))


async def _storm(server: live.GroupServer, seeded: Seeded, chains: list[Chain]) -> int:
    """Refresh every chain until the server dies under it; return the rotations answered."""
    answered = 0
    killed = asyncio.Event()

    async def run(chain: Chain, http: httpx.AsyncClient) -> None:
        nonlocal answered
        while not killed.is_set():
            try:
                r = await http.post(
                    "/auth/token/", data=_form(seeded, grant_type="refresh_token", refresh_token=chain.current)
                )
            except httpx.TransportError:
                chain.lost = True
                return
            assert r.status_code == 200, (r.status_code, r.text)
            chain.current, chain.rotations = r.json()["refresh_token"], chain.rotations + 1
            answered += 1
            if answered >= KILL_AFTER and not killed.is_set():
                killed.set()
                server.kill()

    async def blind(chain: Chain, http: httpx.AsyncClient) -> None:
        """A rotation that commits but whose answer never reaches the client (the reliable way to get one)."""
        r = await http.post("/auth/token/", data=_form(seeded, grant_type="refresh_token", refresh_token=chain.current))
        assert r.status_code == 200, r.text
        chain.lost = True

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as http:
        await asyncio.gather(*(blind(chain, http) for chain in chains[:BLIND]))
        await asyncio.gather(*(run(chain, http) for chain in chains[BLIND:]))
    assert killed.is_set(), "the storm ended before the kill"
    return answered


async def _audit_store(url: str, chains: list[Chain]) -> tuple[int, int]:
    """Check every family in the store; return (lost answers that committed, lost that did not)."""
    keys, storage = Keys(live.SECRET_KEY), open_storage(url)
    committed = rolled_back = 0
    try:
        for chain in chains:
            record = await storage.get_refresh_token(keys.hash_token(chain.current))
            assert record is not None, "a refresh token a client received is gone after the crash"
            successor = await storage.get_refresh_token(keys.hash_token(keys.successors(chain.current)[1]))
            if not chain.lost:
                assert record.used_at is None and successor is None, "a rotation nobody asked for"
            elif record.used_at is None:
                assert successor is None, "both the old token and a successor are valid"
                rolled_back += 1
            else:
                assert successor is not None, "the old token is used but its successor is missing: family stranded"
                assert successor.used_at is None
                committed += 1
    finally:
        await storage.close()
    return committed, rolled_back


async def _retry_lost(url: str, seeded: Seeded, chains: list[Chain]) -> None:
    """Every client re-presents its last token: it gets a working successor, the same one twice."""
    keys = Keys(live.SECRET_KEY)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=32)) as http:
        sem = asyncio.Semaphore(32)

        async def one(chain: Chain) -> None:
            async with sem:
                expected = keys.successors(chain.current)[1]
                form = _form(seeded, grant_type="refresh_token", refresh_token=chain.current)
                first = await http.post("/auth/token/", data=form)
                assert first.status_code == 200, first.text
                assert first.json()["refresh_token"] == expected
                if chain.lost:  # the retry inside the grace window answers the same pair again
                    again = await http.post("/auth/token/", data=form)
                    assert again.status_code == 200, again.text
                    assert again.json()["refresh_token"] == expected
                nxt = await http.post(
                    "/auth/token/", data=_form(seeded, grant_type="refresh_token", refresh_token=expected)
                )
                assert nxt.status_code == 200, nxt.text

        await asyncio.gather(*(one(chain) for chain in chains))


async def _crash_and_audit(database_url: str, log_dir: Path) -> None:
    env = {
        "TOKENTURN_DATABASE_URL": database_url,
        "TOKENTURN_REFRESH_GRACE_SECONDS": "60",  # restart + audit on a loaded machine stays inside it
        "TOKENTURN_RATE_LIMIT_CLIENT": "0",
        "TOKENTURN_RATE_LIMIT_ADDRESS": "0",
    }
    server = live.GroupServer(env=env, workers=2, log_path=log_dir / "crash.log").start()
    try:
        storage = open_storage(database_url)
        try:
            seeded = await seed(storage, server.settings, grant_types=frozenset({"password", "refresh_token"}))
        finally:
            await storage.close()
        chains = [Chain(t) for t in await _password_grants(server.url, seeded, FAMILIES)]
        answered = await _storm(server, seeded, chains)
    finally:
        server.kill()
    restarted = live.GroupServer(env=env, workers=2, log_path=log_dir / "restart.log").start()
    try:
        committed, rolled_back = await _audit_store(database_url, chains)
        await _retry_lost(restarted.url, seeded, chains)
    finally:
        restarted.stop()
    lost = sum(c.lost for c in chains)
    live.REPORT.append(
        f"crash ({database_url.split(':')[0]}): {answered} rotations answered before SIGKILL, {lost} answers lost "
        f"({committed} had committed, {rolled_back} had not); every family audited and retried"
    )
    assert lost > BLIND, "the kill landed between requests: nothing was in flight"
    assert committed >= BLIND


async def test_sigkill_mid_storm_leaves_every_family_recoverable_sqlite(tmp_path: Path) -> None:
    """SQLite file, two workers: each family has exactly one live refresh token after the crash."""
    await _crash_and_audit(f"sqlite:///{tmp_path / 'crash.db'}", tmp_path)


@pytest.mark.postgres
async def test_sigkill_mid_storm_leaves_every_family_recoverable_postgres(pg_url: str, tmp_path: Path) -> None:
    """PostgreSQL, two workers: the same audit (a killed connection's transaction rolls back)."""
    await _crash_and_audit(pg_url, tmp_path)
