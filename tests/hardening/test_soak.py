"""Soak: a bounded, paced load on ``tokenturn serve --workers 2``; memory, descriptors and latency stay flat.

Virtual users loop over a realistic mix — password grant, refreshes, introspection, ``/v1/me/``,
a failed login, a revocation — at a fixed total rate. Every window the test reads each worker's
``VmRSS`` (``/proc/<pid>/status``) and open descriptors (``/proc/<pid>/fd``), and the window's
median latency. After a warm-up, growth must stay within bounds and the late latency must not
drift far from the early one.

CI size: ``SOAK_SECONDS`` (default 12) at ``SOAK_RATE`` requests/s (default 150). ``make soak``
runs minutes at a higher rate and prints the figures.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.hardening import live
from tokenturn.storage import open_storage
from tokenturn.testing import Seeded, seed

pytestmark = pytest.mark.e2e

SECONDS = float(os.environ.get("SOAK_SECONDS", "12"))
RATE = float(os.environ.get("SOAK_RATE", "150"))
USERS = 16
WINDOW = max(1.0, SECONDS / 12)


@dataclass
class Sample:
    at: float
    rss_kib: list[int]
    fds: list[int]
    p50_ms: float
    requests: int


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    sent: int = 0
    errors: list[str] = field(default_factory=list)


async def _user(http: httpx.AsyncClient, s: Seeded, load: Load, deadline: float, interval: float) -> None:
    """One virtual user: a paced loop over the request mix; any unexpected status is recorded."""
    auth = {"client_id": s.client_id, "client_secret": s.client_secret or ""}
    next_at = time.monotonic()

    async def call(path: str, expect: int, method: str = "POST", **kw: object) -> httpx.Response:
        nonlocal next_at
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        start = time.perf_counter()
        r = await http.request(method, path, **kw)  # type: ignore[arg-type]
        load.latencies.append((time.perf_counter() - start) * 1000)
        load.sent += 1
        if r.status_code != expect:
            load.errors.append(f"{path} {r.status_code} {r.text[:100]}")
        return r

    while time.monotonic() < deadline:
        form = {"grant_type": "password", "username": s.username, "password": s.password, **auth}
        body = (await call("/auth/token/", 200, data=form)).json()
        refresh = body.get("refresh_token", "")
        for _ in range(3):
            r = await call("/auth/token/", 200, data={"grant_type": "refresh_token", "refresh_token": refresh, **auth})
            refresh, access = r.json().get("refresh_token", ""), r.json().get("access_token", "")
        await call("/auth/introspect/", 200, data={"token": access, **auth})
        await call("/v1/me/", 200, method="GET", headers={"Authorization": f"Bearer {access}"})
        await call("/auth/token/", 400, data={**form, "password": "wrong"})
        await call("/auth/revoke_token/", 200, data={"token": refresh, **auth})


async def _sampler(server: live.GroupServer, load: Load, deadline: float, out: list[Sample]) -> None:
    pids = server.worker_pids()
    seen = 0
    while time.monotonic() < deadline:
        await asyncio.sleep(WINDOW)
        window = load.latencies[seen:]
        seen += len(window)
        out.append(
            Sample(
                time.monotonic(),
                [live.vm_rss_kib(p) for p in pids],
                [live.open_fds(p) for p in pids],
                statistics.median(window) if window else 0.0,
                len(window),
            )
        )


async def test_memory_descriptors_and_latency_stay_flat_under_load(tmp_path: Path) -> None:
    """Bounded paced load: RSS, fds and median latency after warm-up stay within bounds."""
    db = f"sqlite:///{tmp_path / 'soak.db'}"
    env = {
        "TOKENTURN_DATABASE_URL": db,
        # The failed login is part of the mix; the limits must not turn the soak into a 429 test.
        "TOKENTURN_RATE_LIMIT_USERNAME": "0",
        "TOKENTURN_RATE_LIMIT_CLIENT": "0",
        "TOKENTURN_RATE_LIMIT_ADDRESS": "0",
    }
    with live.GroupServer(env=env, workers=2, log_path=tmp_path / "soak.log") as server:
        storage = open_storage(db)
        try:
            seeded = await seed(storage, server.settings)
        finally:
            await storage.close()
        load, samples = Load(), []
        deadline = time.monotonic() + SECONDS
        limits = httpx.Limits(max_connections=USERS, max_keepalive_connections=USERS)
        async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as http:
            await asyncio.gather(
                _sampler(server, load, deadline, samples),
                *(_user(http, seeded, load, deadline, USERS / RATE) for _ in range(USERS)),
            )
    assert not load.errors, load.errors[:5]
    warm = samples[len(samples) // 4 :]  # the first quarter is warm-up (caches, pools, allocator arenas)
    first, last = warm[0], warm[-1]
    third = max(1, len(warm) // 3)
    early = statistics.median(s.p50_ms for s in warm[:third])
    late = statistics.median(s.p50_ms for s in warm[-third:])
    rss_growth = [(b - a) / 1024 for a, b in zip(first.rss_kib, last.rss_kib, strict=True)]
    fd_spread = [max(s.fds[i] for s in warm) - min(s.fds[i] for s in warm) for i in range(len(first.fds))]
    rate = load.sent / SECONDS
    live.REPORT.append(
        f"soak: {load.sent} requests in {SECONDS:.0f} s ({rate:.0f}/s, 2 workers); "
        f"RSS MiB first→last {[round(k / 1024, 1) for k in first.rss_kib]}→{[round(k / 1024, 1) for k in last.rss_kib]}"
        f" (growth {[round(g, 1) for g in rss_growth]}); fds {first.fds}→{last.fds} (spread {fd_spread}); "
        f"median latency early {early:.2f} ms, late {late:.2f} ms"
    )
    # Long runs may grow a little (SQLite page cache fills to its cap); a leak grows with every request.
    assert all(g < max(24.0, 0.15 * first.rss_kib[0] / 1024) for g in rss_growth), rss_growth
    assert all(spread <= USERS for spread in fd_spread), fd_spread  # a per-request leak grows by thousands
    assert late <= max(3 * early, early + 25), (early, late)
    assert rate > 0.5 * RATE, f"the load generator fell behind ({rate:.0f}/s of {RATE:.0f}/s): figures are suspect"
