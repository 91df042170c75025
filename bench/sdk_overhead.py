"""What the client SDK costs: its auth on a request that needs no refresh vs plain httpx, and single-flight.

Against a real ``tokenturn serve`` on loopback (one worker, SQLite in a temp dir), in the same run:

1. c=1 sequential ``GET /v1/me/``: plain ``httpx.Client`` with a hand-set ``Authorization`` header vs
   ``httpx.Client(auth=HttpxAuth(session))`` with a fresh token. Requests alternate one by one between
   the two so drift hits both; the ratio of medians is reported (bar: <= 1.10).
2. The same two clients over ``httpx.MockTransport`` (no network): the SDK's own per-request cost in
   microseconds, isolated from server noise.
3. 100 asyncio tasks sharing one expired token, each ``GET /v1/me/`` through ``HttpxAuth``: the
   number of refreshes the server logged (must be 1) and the wall time.

    .venv/bin/python bench/sdk_overhead.py [--requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tokenturn.client import HttpxAuth, MemoryStore, Session, Token, TokenClient
from tokenturn.testing import ServerProcess, seed_sync


def _once(http: httpx.Client, url: str) -> float:
    t0 = time.perf_counter()
    r = http.get(url)
    elapsed = time.perf_counter() - t0
    if r.status_code != 200:
        raise SystemExit(f"unexpected {r.status_code} from {url}")
    return elapsed


def compare(plain: httpx.Client, sdk: httpx.Client, url: str, n: int) -> tuple[float, float]:
    """Median seconds per request of each client, alternating request by request (and who goes first).

    The machine is shared and noisy; alternating single requests puts both clients under the same
    conditions, so the ratio of medians measures the SDK and not the neighbours.
    """
    for _ in range(200):  # warm both connections and the server
        _once(plain, url)
        _once(sdk, url)
    plain_t, sdk_t = [], []
    for i in range(n):
        if i % 2:
            plain_t.append(_once(plain, url))
            sdk_t.append(_once(sdk, url))
        else:
            sdk_t.append(_once(sdk, url))
            plain_t.append(_once(plain, url))
    return statistics.median(plain_t), statistics.median(sdk_t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="requests per client at c=1")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="tt-sdk-bench-"))
    log_path = tmp / "server.log"
    env = {
        "TOKENTURN_DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
        "TOKENTURN_SECRET_KEY": "b" * 64,
        "TOKENTURN_LOG_LEVEL": "INFO",
    }
    with ServerProcess(env=env, log_path=log_path) as server:
        seeded = seed_sync(server.settings)
        client = TokenClient(server.url, client_id=seeded.client_id, client_secret=seeded.client_secret)
        session = Session(client)
        token = session.login_password(seeded.username, seeded.password)
        url = server.url + "/v1/me/"

        # 1. Over loopback, c=1.
        with (
            httpx.Client(headers={"Authorization": f"Bearer {token.access_token}"}) as plain,
            httpx.Client(auth=HttpxAuth(session)) as sdk,
        ):
            plain_s, sdk_s = compare(plain, sdk, url, args.requests)

        # 2. In process: the SDK's own cost per request.
        mock = httpx.MockTransport(lambda request: httpx.Response(200))
        with (
            httpx.Client(transport=mock, headers={"Authorization": f"Bearer {token.access_token}"}) as plain_m,
            httpx.Client(transport=mock, auth=HttpxAuth(session)) as sdk_m,
        ):
            plain_m_s, sdk_m_s = compare(plain_m, sdk_m, "http://api.test/", 20_000)

        # 3. Single-flight: 100 tasks, one expired token.
        stale = session.current
        assert stale is not None
        expired = Token(
            stale.access_token,
            "Bearer",
            stale.expires_in,
            stale.scope,
            stale.refresh_token,
            stale.obtained_at - 7200,
            time.time() - 1,
        )
        storm = Session(client, MemoryStore(expired))

        async def storm_run() -> tuple[float, set[int]]:
            async with httpx.AsyncClient(auth=HttpxAuth(storm), timeout=30) as http:
                t0 = time.perf_counter()
                rs = await asyncio.gather(*(http.get(url) for _ in range(100)))
                return time.perf_counter() - t0, {r.status_code for r in rs}

        before = sum(1 for line in log_path.read_text().splitlines() if '"token.refreshed"' in line)
        wall, statuses = asyncio.run(storm_run())
        after = sum(1 for line in log_path.read_text().splitlines() if '"token.refreshed"' in line)
        client.close()

    result = {
        "loopback_c1_plain_ms": round(plain_s * 1e3, 4),
        "loopback_c1_sdk_ms": round(sdk_s * 1e3, 4),
        "loopback_c1_ratio": round(sdk_s / plain_s, 4),
        "in_process_plain_us": round(plain_m_s * 1e6, 2),
        "in_process_sdk_us": round(sdk_m_s * 1e6, 2),
        "sdk_cost_per_request_us": round((sdk_m_s - plain_m_s) * 1e6, 2),
        "single_flight_tasks": 100,
        "single_flight_refreshes_at_server": after - before,
        "single_flight_statuses": sorted(statuses),
        "single_flight_wall_s": round(wall, 3),
    }
    print(json.dumps(result, indent=2))
    ok = result["loopback_c1_ratio"] <= 1.10 and result["single_flight_refreshes_at_server"] == 1
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
