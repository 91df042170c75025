"""Real outages under load (contract §1 503 row): PostgreSQL cut or its connections killed, Redis cut.

The node under test reaches PostgreSQL and Redis through :class:`~tests.relay.TcpRelay` loopback
relays that a test closes (sockets reset, new connections refused) and reopens. The service must
answer 503 ``temporarily_unavailable`` + ``Retry-After`` quickly, never a 500, and resume by itself.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from tests.backends import pg_connect, run_sync
from tests.relay import TcpRelay
from tokenturn.testing import Seeded, ServerProcess, seed_sync

from .conftest import Cluster, assert_unavailable, node_env, password_grant, token_form

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]


def via(url: str, port: int, **query: str) -> str:
    """``url`` with its port replaced (and query parameters set)."""
    parts = urlsplit(url)
    userinfo, _, _ = parts.netloc.rpartition("@")
    netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    params = dict(parse_qsl(parts.query))
    params.update(query)
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(params), ""))


@dataclass
class FaultyNode:
    node: ServerProcess
    pg_relay: TcpRelay
    redis_relay: TcpRelay | None
    application_name: str
    seeded: Seeded
    admin_url: str

    @property
    def url(self) -> str:
        return self.node.url


@pytest.fixture(scope="module")
def faulty(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultyNode]:
    """A third node on the cluster's database, reaching PostgreSQL (and Redis) through cuttable relays."""
    pg_port = urlsplit(cluster.database_url).port or 5432
    pg_relay = TcpRelay(pg_port).open()
    redis_relay = TcpRelay(urlsplit(cluster.redis_url).port or 6379).open() if cluster.redis_url else None
    app_name = f"tt-faulty-{secrets.token_hex(4)}"
    database_url = via(cluster.database_url, pg_relay.port, application_name=app_name)
    redis_url = via(cluster.redis_url, redis_relay.port) if redis_relay else ""
    # A long grace window: a rotation committed just before a cut, whose answer was lost, is then
    # safely retried by the load loop (it gets the same pair) instead of counting as reuse.
    env = node_env(database_url, redis_url, TOKENTURN_REFRESH_GRACE_SECONDS="60")
    node = ServerProcess(env=env, log_path=tmp_path_factory.mktemp("faulty") / "node.log")
    try:
        node.start()
        yield FaultyNode(node, pg_relay, redis_relay, app_name, cluster.seeded, cluster.database_url)
    finally:
        node.stop()
        pg_relay.close()
        if redis_relay:
            redis_relay.close()


@dataclass
class RefreshLoad:
    """A client refreshing in a loop, retrying the same token after a 503 (as a real client would)."""

    url: str
    seeded: Seeded
    statuses: list[tuple[float, int, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        token = password_grant(self.url, self.seeded)["refresh_token"]
        with httpx.Client(timeout=15) as client:
            while not self.stop.is_set():
                form = token_form(self.seeded, grant_type="refresh_token", refresh_token=token)
                r = client.post(self.url + "/auth/token/", data=form)
                error = r.json().get("error", "") if r.status_code != 200 else ""
                self.statuses.append((time.monotonic(), r.status_code, error))
                if r.status_code == 200:
                    token = r.json()["refresh_token"]
                else:
                    time.sleep(0.05)

    def __enter__(self) -> RefreshLoad:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(30)

    def wait_for_successes(self, n: int, after: float, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while sum(1 for t, s, _ in self.statuses if t > after and s == 200) < n:
            assert time.monotonic() < deadline, f"no recovery: last answers {self.statuses[-5:]}"
            time.sleep(0.05)


def wait_ready(url: str, timeout: float = 20) -> float:
    started = time.monotonic()
    while httpx.get(url + "/readyz", timeout=5).status_code != 200:
        assert time.monotonic() - started < timeout, "the node did not become ready again by itself"
        time.sleep(0.1)
    return time.monotonic() - started


def test_postgres_cut_mid_load_is_503_then_service_resumes(faulty: FaultyNode) -> None:
    with RefreshLoad(faulty.url, faulty.seeded) as load:
        load.wait_for_successes(5, after=0)
        faulty.pg_relay.close()
        cut = time.monotonic()
        try:
            for path in ("/auth/token/", "/auth/revoke_token/", "/auth/introspect/"):
                started = time.monotonic()
                form = token_form(faulty.seeded, grant_type="refresh_token", refresh_token="tt_rt_x", token="tt_at_x")
                r = httpx.post(faulty.url + path, data=form, timeout=15)
                assert_unavailable(r)
                assert time.monotonic() - started < 3.0, f"{path}: a dead database must answer quickly"
            ready = httpx.get(faulty.url + "/readyz", timeout=10)
            assert ready.status_code == 503
            time.sleep(1.0)
        finally:
            faulty.pg_relay.open()
        wait_ready(faulty.url)
        load.wait_for_successes(5, after=time.monotonic())
    codes = {(s, e) for _, s, e in load.statuses}
    assert codes <= {(200, ""), (503, "temporarily_unavailable")}, codes
    assert any(s == 503 for t, s, _ in load.statuses if t > cut), "the load never saw the outage"


def test_killed_database_connections_are_replaced_without_a_500(faulty: FaultyNode) -> None:
    """pg_terminate_backend on every pooled connection of the node, three times, under load."""

    async def kill() -> int:
        conn = await pg_connect(faulty.admin_url)
        try:
            rows = await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                faulty.application_name,
            )
        finally:
            await conn.close()
        return len(rows)

    with RefreshLoad(faulty.url, faulty.seeded) as load:
        load.wait_for_successes(5, after=0)
        killed = 0
        for _ in range(3):
            killed += run_sync(kill)
            time.sleep(0.3)
        assert killed > 0
        load.wait_for_successes(10, after=time.monotonic())
    codes = {(s, e) for _, s, e in load.statuses}
    assert codes <= {(200, ""), (503, "temporarily_unavailable")}, codes
    assert wait_ready(faulty.url) < 1


def test_redis_cut_falls_back_to_process_limits_and_keeps_answering(faulty: FaultyNode) -> None:
    if faulty.redis_relay is None:
        pytest.skip("Redis not reachable")
    victim = seed_sync(faulty.node.settings, grant_types=frozenset({"client_credentials"}))
    assert victim.client_secret is not None

    def cc(secret: str) -> httpx.Response:
        form = {"grant_type": "client_credentials", "client_id": victim.client_id, "client_secret": secret}
        return httpx.post(faulty.url + "/auth/token/", data=form, timeout=10)

    faulty.redis_relay.close()
    try:
        started = time.monotonic()
        assert cc(victim.client_secret).status_code == 200
        for _ in range(5):
            assert cc("wrong").status_code == 401
        blocked = cc("wrong")
        assert blocked.status_code == 429, blocked.text  # limits still hold, from process memory
        assert time.monotonic() - started < 5, "a dead Redis must not slow every request down"
    finally:
        faulty.redis_relay.open()
    # Redis back: the node returns to the shared counters (empty for this client) within its retry interval.
    deadline = time.monotonic() + 15
    while cc(victim.client_secret).status_code == 429:
        assert time.monotonic() < deadline, "the node never went back to Redis"
        time.sleep(0.5)
