"""``POST /refresh`` (contract §3): every status mapping, against a real upstream and broken ones."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.proxy.conftest import (
    ProxyFactory,
    assert_proxy_error,
    upstream_password_grant,
    upstream_refresh,
)
from tests.proxy.fake_upstreams import RawServer, closed_port_url, http_reply, silent_upstream
from tokenturn.testing import Seeded, ServerProcess, seed_sync


@pytest.fixture
def proxy_log() -> Iterator[list[logging.LogRecord]]:
    """Every record the proxy logs (a handler of our own: the CLI may have turned propagation off)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(level=logging.DEBUG)
    logger = logging.getLogger("tokenturn.proxy")
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(old_level)


async def test_healthz_answers_200(proxy_for: ProxyFactory) -> None:
    async with proxy_for() as (_, http):
        r = await http.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_refresh_returns_the_upstream_token_response_unchanged(
    proxy_for: ProxyFactory, upstream: ServerProcess, creds: Seeded
) -> None:
    """A good refresh token comes back as the upstream's 200 body, and the new refresh token works."""
    tokens = upstream_password_grant(upstream, creds)
    async with proxy_for() as (_, http):
        r = await http.post("/refresh", json={"refreshToken": tokens["refresh_token"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "expires_in", "token_type", "scope", "refresh_token"}
    assert body["token_type"] == "Bearer"
    assert body["refresh_token"] != tokens["refresh_token"]
    assert r.headers["cache-control"] == "no-store"
    assert upstream_refresh(upstream, creds, body["refresh_token"]).status_code == 200


async def test_invalid_grant_stays_a_400_with_the_upstream_body(
    proxy_for: ProxyFactory, upstream: ServerProcess, creds: Seeded
) -> None:
    """The seed answered every upstream error with 500; the proxy passes the upstream's 400 through."""
    direct = upstream_refresh(upstream, creds, "tt_rt_not-a-real-token")
    async with proxy_for() as (_, http):
        r = await http.post("/refresh", json={"refreshToken": "tt_rt_not-a-real-token"})
    assert direct.status_code == 400
    assert r.status_code == 400
    assert r.content == direct.content
    assert_proxy_error(r, 400, "invalid_grant")


async def test_wrong_proxy_credentials_pass_through_as_401_invalid_client(
    proxy_for: ProxyFactory, upstream: ServerProcess, creds: Seeded
) -> None:
    tokens = upstream_password_grant(upstream, creds)
    async with proxy_for(client_secret="tt_cs_wrong") as (_, http):
        r = await http.post("/refresh", json={"refreshToken": tokens["refresh_token"]})
    assert_proxy_error(r, 401, "invalid_client")
    assert "www-authenticate" not in r.headers


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'"refreshToken"',
        b"{}",
        b"",
        b'{"refreshToken": ""}',
        b'{"refreshToken": 5}',
        b'{"refreshToken": null}',
        b'{"refreshToken": ["a"]}',
        b'{"refresh_token": "tt_rt_x"}',
        b"\xff\xfe",
    ],
    ids=lambda b: b.decode("latin-1") or "empty",
)
async def test_bad_bodies_are_400_and_nothing_goes_upstream(proxy_for: ProxyFactory, body: bytes) -> None:
    with RawServer(http_reply("200 OK", b"{}", "application/json")) as counting:
        async with proxy_for(upstream=counting.url) as (app, http):
            r = await http.post("/refresh", content=body, headers={"content-type": "application/json"})
        assert_proxy_error(r, 400, "invalid_request")
        assert counting.accepted == 0
        assert app.flights.upstream_calls == 0


async def test_body_over_16_kib_is_refused_with_413(proxy_for: ProxyFactory) -> None:
    async with proxy_for(upstream=closed_port_url()) as (_, http):
        r = await http.post("/refresh", json={"refreshToken": "x" * (16 * 1024)})
    assert_proxy_error(r, 413, "invalid_request")


async def test_other_methods_get_405_and_unknown_paths_404(proxy_for: ProxyFactory) -> None:
    async with proxy_for() as (_, http):
        r = await http.get("/refresh")
        missing = await http.post("/token")
        login = await http.post("/login", json={"username": "u", "password": "p"})
    assert_proxy_error(r, 405, "invalid_request")
    assert r.headers["allow"] == "POST, OPTIONS"
    assert missing.status_code == 404
    assert login.status_code == 404  # /login exists only in cookie mode


async def test_unreachable_upstream_is_502_temporarily_unavailable(proxy_for: ProxyFactory) -> None:
    async with proxy_for(upstream=closed_port_url()) as (_, http):
        r = await http.post("/refresh", json={"refreshToken": "tt_rt_anything"})
    assert_proxy_error(r, 502, "temporarily_unavailable")


async def test_silent_upstream_is_504_after_the_timeout(proxy_for: ProxyFactory) -> None:
    with silent_upstream() as hung:
        async with proxy_for(upstream=hung.url, timeout=0.5) as (_, http):
            started = time.monotonic()
            r = await http.post("/refresh", json={"refreshToken": "tt_rt_anything"})
            took = time.monotonic() - started
    assert_proxy_error(r, 504, "temporarily_unavailable")
    assert 0.4 < took < 3.0
    assert hung.accepted == 1


async def test_upstream_answering_html_is_502(proxy_for: ProxyFactory) -> None:
    """A load balancer's HTML error page is not the token service's answer: 502, never the HTML."""
    with RawServer(http_reply("502 Bad Gateway", b"<html>nginx</html>")) as lying:
        async with proxy_for(upstream=lying.url) as (_, http):
            r = await http.post("/refresh", json={"refreshToken": "tt_rt_anything"})
    assert_proxy_error(r, 502, "temporarily_unavailable")
    assert b"nginx" not in r.content


async def test_upstream_retry_after_is_passed_on(proxy_for: ProxyFactory) -> None:
    body = b'{"error":"temporarily_unavailable","error_description":"storage down"}'
    reply = http_reply("503 Service Unavailable", body, "application/json").replace(
        b"connection: close", b"connection: close\r\nretry-after: 7"
    )
    with RawServer(reply) as busy:
        async with proxy_for(upstream=busy.url) as (_, http):
            r = await http.post("/refresh", json={"refreshToken": "tt_rt_anything"})
    assert r.status_code == 503
    assert r.content == body
    assert r.headers["retry-after"] == "7"


async def test_no_token_or_secret_in_logs_or_error_bodies(
    proxy_for: ProxyFactory, upstream: ServerProcess, creds: Seeded, proxy_log: list[logging.LogRecord]
) -> None:
    tokens = upstream_password_grant(upstream, creds)
    secret = creds.client_secret or ""
    bogus = "tt_rt_" + "b" * 43
    bodies: list[bytes] = []
    async with proxy_for() as (_, http):
        ok = await http.post("/refresh", json={"refreshToken": tokens["refresh_token"]})
        bodies.append((await http.post("/refresh", json={"refreshToken": bogus})).content)
    async with proxy_for(upstream=closed_port_url()) as (_, http):
        bodies.append((await http.post("/refresh", json={"refreshToken": tokens["refresh_token"]})).content)
    with silent_upstream() as hung:
        async with proxy_for(upstream=hung.url, timeout=0.3) as (_, http):
            bodies.append((await http.post("/refresh", json={"refreshToken": tokens["refresh_token"]})).content)
    assert ok.status_code == 200
    new = ok.json()
    secrets = [tokens["refresh_token"], new["refresh_token"], new["access_token"], secret, bogus]
    logged = [str(r.__dict__) for r in proxy_log]
    assert len(logged) >= 4
    for text in [*logged, *(b.decode() for b in bodies)]:
        for value in secrets:
            assert value not in text


@pytest.fixture
def public(upstream: ServerProcess) -> Seeded:
    return seed_sync(upstream.settings, public=True)


async def test_public_client_proxy_sends_no_secret(
    proxy_for: ProxyFactory, upstream: ServerProcess, public: Seeded
) -> None:
    """Without TOKENTURN_PROXY_CLIENT_SECRET the proxy acts for a public client (client_id only)."""
    tokens = httpx.post(
        upstream.url + "/auth/token/",
        data={
            "grant_type": "password",
            "username": public.username,
            "password": public.password,
            "client_id": public.client_id,
        },
    ).json()
    async with proxy_for(client_id=public.client_id, client_secret=None) as (_, http):
        r = await http.post("/refresh", json={"refreshToken": tokens["refresh_token"]})
    assert r.status_code == 200, r.text


async def test_chunked_body_over_16_kib_is_refused_while_streaming(proxy_for: ProxyFactory) -> None:
    """No Content-Length to trust: the limit is enforced on the bytes as they arrive."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"refreshToken": "'
        for _ in range(20):
            yield b"x" * 1024
        yield b'"}'

    async with proxy_for(upstream=closed_port_url()) as (app, http):
        r = await http.post("/refresh", content=chunks(), headers={"content-type": "application/json"})
        assert app.flights.upstream_calls == 0
    assert_proxy_error(r, 413, "invalid_request")


async def test_demo_page_is_served_only_when_asked_with_a_strict_csp(
    proxy_for: ProxyFactory, upstream: ServerProcess
) -> None:
    async with proxy_for() as (_, http):
        absent = await http.get("/")
    async with proxy_for(cookie_mode=True, demo_page=True) as (_, http):
        page = await http.get("/")
        script = await http.get("/app.js")
        style = await http.get("/style.css")
        post = await http.post("/")
    assert absent.status_code == 404
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert f'data-api="{upstream.url}"' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert f"connect-src 'self' {upstream.url}" in csp
    assert "unsafe-inline" not in csp
    assert "<script>" not in page.text, "no inline script: the CSP would block it"
    assert script.headers["content-type"].startswith("text/javascript")
    assert "X-Tokenturn-CSRF" in script.text
    assert style.status_code == 200
    assert post.status_code == 405
