"""Abuse that costs the attacker little and the server a lot: memory held per failed attempt."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.hardening import live
from tokenturn.testing import seed_sync

pytestmark = pytest.mark.e2e


def test_failed_logins_with_huge_unique_usernames_do_not_grow_memory(tmp_path: Path) -> None:
    """The per-username failure log must not keep each 60 KiB username: memory stays bounded.

    Usernames are attacker-chosen and every distinct one is a fresh limiter key (the per-username
    limit never trips on them), so a key that holds the username verbatim turns each failed login
    into up to 64 KiB kept for the whole window.
    """
    env = {"TOKENTURN_DATABASE_URL": f"sqlite:///{tmp_path / 'abuse.db'}"}
    with live.GroupServer(env=env) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        public = seed_sync(server.settings, public=True, grant_types=frozenset({"password"}))
        pid = server.worker_pids()[0]

        def spray(start: int, n: int) -> None:
            for i in range(start, start + n):
                username = f"{i:08d}" + "u" * 60_000
                form = {"grant_type": "password", "client_id": public.client_id, "username": username, "password": "x"}
                r = http.post("/auth/token/", data=form)
                assert r.status_code == 400, r.text

        spray(0, 100)  # warm up allocator arenas and caches
        before = live.vm_rss_kib(pid)
        spray(100, 600)
        growth_mib = (live.vm_rss_kib(pid) - before) / 1024
    live.REPORT.append(f"abuse: 600 failed logins with 60 KiB usernames grew the worker by {growth_mib:.1f} MiB")
    assert growth_mib < 12, f"{growth_mib:.1f} MiB kept for 600 failed logins (~{600 * 60 / 1024:.0f} MiB of usernames)"
