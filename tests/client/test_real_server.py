"""The SDK against a real tokenturn server on loopback: no mocked token endpoint in this file.

Refreshes are counted at the server: it logs one ``token.refreshed`` event per rotation.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import requests

from tokenturn.client import (
    HttpxAuth,
    InvalidGrant,
    JSONFileStore,
    MemoryStore,
    RequestsAuth,
    RetryPolicy,
    Session,
    Token,
    TokenClient,
)

from .live import DroppingRelay, Live, live_server, me
from .workers import refresh_in_process

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(tmp_path_factory.mktemp("live")) as server:
        yield server


def test_sixteen_threads_sharing_one_expired_token_cause_exactly_one_refresh(live: Live) -> None:
    seeded = live.seed()
    with live.client(seeded) as client:
        session = Session(client, MemoryStore(live.expired_session_token(seeded)))
        barrier = threading.Barrier(16)
        statuses: list[int] = []

        def worker() -> None:
            with httpx.Client(auth=HttpxAuth(session)) as http:
                barrier.wait()
                statuses.append(http.get(live.url + "/v1/me/").status_code)

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert statuses == [200] * 16
    assert live.refreshes(seeded.client_id) == 1


async def test_two_hundred_tasks_sharing_one_expired_token_cause_exactly_one_refresh(live: Live) -> None:
    seeded = await asyncio.to_thread(live.seed)
    client = live.client(seeded)
    session = Session(client, MemoryStore(await asyncio.to_thread(live.expired_session_token, seeded)))
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(auth=HttpxAuth(session), limits=limits, timeout=30) as http:
        responses = await asyncio.gather(*(http.get(live.url + "/v1/me/") for _ in range(200)))
    assert {r.status_code for r in responses} == {200}
    assert {r.json()["username"] for r in responses} == {seeded.username}
    assert live.refreshes(seeded.client_id) == 1


def test_four_processes_sharing_one_file_store_cause_exactly_one_refresh(live: Live, tmp_path: Path) -> None:
    seeded = live.seed()
    path = tmp_path / "token.json"
    JSONFileStore(path).save(live.expired_session_token(seeded))
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(4), ctx.Queue()
    procs = [
        ctx.Process(
            target=refresh_in_process,
            args=(live.url, seeded.client_id, seeded.client_secret, str(path), barrier, results),
        )
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0] * 4
    seen = {results.get(timeout=5) for _ in range(4)}
    stored = JSONFileStore(path).load()
    assert stored is not None and seen == {stored.access_token}
    assert live.refreshes(seeded.client_id) == 1
    results.close()
    results.join_thread()


def test_a_refresh_response_lost_after_the_server_committed_is_recovered_by_the_retry(live: Live) -> None:
    seeded = live.seed()
    expired = live.expired_session_token(seeded)
    relay = DroppingRelay(live.server.port)
    try:
        with live.client(seeded, url=relay.url) as client:
            session = Session(client, MemoryStore(expired))
            token = session.token()
    finally:
        relay.close()
    assert relay.dropped == 1
    assert live.refreshes(seeded.client_id) == 1
    assert len(live.events("token.replayed", seeded.client_id)) == 1  # the grace window answered the retry
    assert me(session, live.url).status_code == 200
    # The family is intact: the recovered refresh token rotates normally.
    with live.client(seeded) as client:
        assert client.refresh(token.refresh_token or "").refresh_token != token.refresh_token


def test_a_timed_out_refresh_is_retried_once_with_the_same_refresh_token(live: Live) -> None:
    seeded = live.seed()
    expired = live.expired_session_token(seeded)
    relay = DroppingRelay(live.server.port, hold=True)
    try:
        with live.client(seeded, url=relay.url, timeout=1.0) as client:
            token = Session(client, MemoryStore(expired)).token()
    finally:
        relay.close()
    assert token.refresh_token != expired.refresh_token
    assert live.refreshes(seeded.client_id) == 1
    assert len(live.events("token.replayed", seeded.client_id)) == 1
    assert not live.events("token.reuse_detected", seeded.client_id)


def test_proactive_refresh_happens_before_a_short_token_expires(tmp_path: Path) -> None:
    with live_server(tmp_path, TOKENTURN_ACCESS_TOKEN_TTL="4") as short:
        seeded = short.seed()
        with short.client(seeded) as client:
            session = Session(client)
            first = session.login_password(seeded.username, seeded.password)
            assert me(session, short.url).json()["username"] == seeded.username
            assert short.refreshes(seeded.client_id) == 0
            time.sleep(2.2)  # past half the 4 s lifetime (the capped leeway), before expiry
            assert me(session, short.url).status_code == 200
            assert short.refreshes(seeded.client_id) == 1
            assert session.current is not None and session.current.access_token != first.access_token


class _FlakyTokenEndpoint(BaseHTTPRequestHandler):
    """503 + Retry-After: 1 on the first POST, then a token."""

    calls: list[float] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.calls.append(time.monotonic())
        if len(self.calls) == 1:
            body, status, extra = {"error": "temporarily_unavailable", "error_description": "busy"}, 503, "1"
        else:
            body = {"access_token": "at", "expires_in": 60, "token_type": "Bearer", "scope": "", "refresh_token": "r"}
            status, extra = 200, None
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        if extra:
            self.send_header("Retry-After", extra)
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: object) -> None:
        pass


def test_retry_after_on_a_503_is_honoured() -> None:
    _FlakyTokenEndpoint.calls = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyTokenEndpoint)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        with TokenClient(url, client_id="c", client_secret="s", retry=RetryPolicy(base=0.01)) as client:
            token = client.refresh("r0")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert token.access_token == "at"
    first, second = _FlakyTokenEndpoint.calls
    assert second - first >= 0.95


def test_the_file_store_survives_a_process_killed_mid_write(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    store = JSONFileStore(path)
    store.save(Token("initial", "Bearer", 60, "", "rt", 0.0, 60.0))
    for delay in (0.05, 0.13, 0.21, 0.34, 0.5):
        writer = subprocess.Popen(
            [sys.executable, "-m", "tests.client.workers", str(path)], cwd=Path(__file__).parents[2]
        )
        time.sleep(delay)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        assert path.stat().st_size > 0
        token = store.load()  # parses: never truncated, never empty
        assert token is not None and token.refresh_token is not None
    assert os.stat(path).st_mode & 0o077 == 0


def test_the_seeds_flow_works_end_to_end_through_requests(live: Live) -> None:
    seeded = live.seed()
    form = {"content-type": "application/x-www-form-urlencoded"}
    login = requests.post(
        live.url + "/auth/token/",
        headers=form,
        timeout=10,
        data={
            "client_id": seeded.client_id,
            "client_secret": seeded.client_secret,
            "grant_type": "password",
            "username": seeded.username,
            "password": seeded.password,
        },
    )
    assert login.status_code == 200
    # The seed's script, verbatim in spirit: refresh with client_secret_post.
    payload = {
        "client_id": seeded.client_id,
        "client_secret": seeded.client_secret,
        "refresh_token": login.json()["refresh_token"],
        "grant_type": "refresh_token",
    }
    access_token_request = requests.post(live.url + "/auth/token/", data=payload, headers=form, timeout=10)
    assert access_token_request.status_code == 200
    refresh_token = access_token_request.json()["refresh_token"]
    # ...and from there the SDK keeps the session alive behind requests.
    with live.client(seeded) as client:
        session = Session(client)
        session.set_refresh_token(refresh_token)
        auth = RequestsAuth(session)
        r = requests.get(live.url + "/v1/me/", auth=auth, timeout=10)
        assert r.status_code == 200 and r.json()["username"] == seeded.username
        # The server revokes the access token: the next call gets a 401, refreshes once and retries.
        client.revoke(session.token().access_token, "access_token")
        r = requests.get(live.url + "/v1/me/", auth=auth, timeout=10)
        assert r.status_code == 200 and len(r.history) == 1 and r.history[0].status_code == 401
    assert live.refreshes(seeded.client_id) == 3


def test_revoke_and_introspect_against_the_server(live: Live) -> None:
    seeded = live.seed(introspection=True)
    with live.client(seeded, auth_method="basic") as client:
        token = client.password(seeded.username, seeded.password, scope="read")
        info = client.introspect(token.access_token)
        assert info["active"] is True and info["username"] == seeded.username and info["scope"] == "read"
        client.revoke(token.refresh_token or "", "refresh_token")
        assert client.introspect(token.access_token) == {"active": False}
        with pytest.raises(InvalidGrant):
            client.refresh(token.refresh_token or "")


async def test_async_calls_against_the_server(live: Live) -> None:
    grants = frozenset({"password", "refresh_token", "client_credentials"})
    seeded = await asyncio.to_thread(lambda: live.seed(grant_types=grants))
    client = live.client(seeded)
    token = await client.apassword(seeded.username, seeded.password)
    rotated = await client.arefresh(token.refresh_token or "")
    assert rotated.refresh_token not in (None, token.refresh_token)
    assert (await client.aintrospect(rotated.access_token))["active"] is True
    await client.arevoke(rotated.access_token)
    machine = Session(client, client_credentials=True)
    async with httpx.AsyncClient(auth=HttpxAuth(machine)) as http:
        r = await http.get(live.url + "/v1/me/")
    assert r.status_code == 200 and r.json()["username"] is None
