"""CORS for configured origins only; one upstream rotation for many concurrent refreshes; per-address limits."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.proxy.conftest import (
    PROXY_BASE,
    ProxyFactory,
    assert_proxy_error,
    audit_events,
    upstream_password_grant,
    upstream_refresh,
)
from tests.proxy.fake_upstreams import closed_port_url
from tokenturn.config import RateLimit
from tokenturn.proxy import ProxyConfig, ProxyConfigError
from tokenturn.proxy.dedupe import SingleFlight
from tokenturn.proxy.limits import WindowLimiter
from tokenturn.proxy.upstream import UpstreamAnswer
from tokenturn.testing import FakeClock, Seeded, ServerProcess

APP = "https://app.example"
PREFLIGHT = {"origin": APP, "access-control-request-method": "POST", "access-control-request-headers": "content-type"}


# -- CORS ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("cookie_mode", [False, True])
async def test_preflight_from_a_listed_origin_is_answered_for_that_origin_only(
    proxy_for: ProxyFactory, cookie_mode: bool
) -> None:
    async with proxy_for(allow_origins=(APP,), cookie_mode=cookie_mode) as (_, http):
        r = await http.options("/refresh", headers=PREFLIGHT)
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == APP
    assert r.headers["access-control-allow-methods"] == "POST"
    assert "content-type" in r.headers["access-control-allow-headers"]
    assert "x-tokenturn-csrf" in r.headers["access-control-allow-headers"]
    assert "Origin" in r.headers["vary"]
    assert r.headers.get("access-control-allow-credentials") == ("true" if cookie_mode else None)


async def test_preflight_from_an_unlisted_origin_gets_no_cors_headers(proxy_for: ProxyFactory) -> None:
    async with proxy_for(allow_origins=(APP,)) as (_, http):
        r = await http.options("/refresh", headers={**PREFLIGHT, "origin": "https://evil.example"})
        wrong_method = await http.options("/refresh", headers={**PREFLIGHT, "access-control-request-method": "PUT"})
    for answer in (r, wrong_method):
        assert answer.status_code == 403
        assert not any(h.startswith("access-control-") for h in answer.headers)


async def test_listed_origin_gets_its_origin_echoed_never_a_wildcard(
    proxy_for: ProxyFactory, upstream: ServerProcess, creds: Seeded
) -> None:
    tokens = upstream_password_grant(upstream, creds)
    async with proxy_for(allow_origins=(APP, "http://localhost:5173")) as (_, http):
        r = await http.post("/refresh", json={"refreshToken": tokens["refresh_token"]}, headers={"origin": APP})
        refused = await http.post("/refresh", json={"refreshToken": "x"}, headers={"origin": "https://evil.example"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == APP
    assert "access-control-allow-credentials" not in r.headers, "no cookies in body mode, so no credentials"
    assert_proxy_error(refused, 403, "invalid_request")


@pytest.mark.parametrize("origin", ["*", "https://app.example/path", "app.example", "ftp://x"])
def test_wildcard_and_malformed_origins_are_refused_at_startup(origin: str) -> None:
    with pytest.raises(ProxyConfigError, match="--allow-origin"):
        ProxyConfig(upstream="http://127.0.0.1:1", client_id="c", allow_origins=(origin,))


@pytest.mark.parametrize(
    ("given", "base"),
    [
        ("testnet", "https://testnet.bakrypt.io"),
        ("mainnet", "https://bakrypt.io"),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("https://bakrypt.io/auth/token/", "https://bakrypt.io"),
        ("https://h.example/prefix/auth/token", "https://h.example/prefix"),
    ],
)
def test_upstream_names_and_urls_resolve_to_a_base(given: str, base: str) -> None:
    config = ProxyConfig(upstream=given, client_id="c")
    assert config.upstream == base
    assert config.token_url == base + "/auth/token/"
    assert config.revoke_url == base + "/auth/revoke_token/"


# -- de-duplication ----------------------------------------------------------------------------
@pytest.mark.parametrize("cookie_mode", [False, True])
async def test_ten_concurrent_refreshes_of_one_token_make_one_upstream_rotation(
    proxy_for: ProxyFactory, upstream: ServerProcess, creds: Seeded, cookie_mode: bool
) -> None:
    """The upstream has no grace window: without single-flight, nine of ten would be reuse and revoke."""
    tokens = upstream_password_grant(upstream, creds)
    before = audit_events(upstream, "token.refreshed", creds.client_id)
    async with proxy_for(cookie_mode=cookie_mode) as (app, http):
        if cookie_mode:
            calls = [
                http.post(
                    "/refresh", headers={"x-tokenturn-csrf": "1", "cookie": f"tokenturn_rt={tokens['refresh_token']}"}
                )
                for _ in range(10)
            ]
        else:
            calls = [http.post("/refresh", json={"refreshToken": tokens["refresh_token"]}) for _ in range(10)]
        answers = await asyncio.gather(*calls)
        assert app.flights.upstream_calls == 1
    assert [a.status_code for a in answers] == [200] * 10, [a.text for a in answers]
    assert len({a.content for a in answers}) == 1, "every tab got the one successor"
    await asyncio.sleep(0.2)  # the upstream's audit line is written just after its answer
    assert audit_events(upstream, "token.refreshed", creds.client_id) - before == 1
    if cookie_mode:
        successor = answers[0].headers.get_list("set-cookie")[0].split(";")[0].split("=", 1)[1]
    else:
        successor = answers[0].json()["refresh_token"]
    assert upstream_refresh(upstream, creds, successor).status_code == 200, "the family was not revoked"


async def test_single_flight_keeps_successes_briefly_and_failures_not_at_all() -> None:
    clock = FakeClock(0)
    flights = SingleFlight(keep=5, clock=clock)
    answers = iter([UpstreamAnswer(200, b"{}"), UpstreamAnswer(400, b"{}"), UpstreamAnswer(400, b"{}")])

    async def call() -> UpstreamAnswer:
        await asyncio.sleep(0)
        return next(answers)

    assert (await flights.run("a", call)) == (UpstreamAnswer(200, b"{}"), False)
    clock.advance(4.9)
    assert (await flights.run("a", call))[1] is True  # still kept
    clock.advance(0.2)
    assert (await flights.run("a", call))[0].status == 400  # expired: asked again
    assert (await flights.run("a", call))[1] is False  # a failure is not kept
    assert flights.upstream_calls == 3


async def test_a_cancelled_first_caller_does_not_cancel_the_shared_call() -> None:
    flights = SingleFlight(keep=5)
    release = asyncio.Event()

    async def call() -> UpstreamAnswer:
        await release.wait()
        return UpstreamAnswer(200, b"{}")

    first = asyncio.create_task(flights.run("t", call))
    await asyncio.sleep(0)
    second = asyncio.create_task(flights.run("t", call))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert (await second)[0].status == 200
    assert flights.upstream_calls == 1


# -- rate limits -------------------------------------------------------------------------------
async def test_refresh_is_limited_per_source_address_with_retry_after(proxy_for: ProxyFactory) -> None:
    async with proxy_for(upstream=closed_port_url(), rate_limit_refresh=RateLimit(3, 60)) as (app, http):
        statuses = [(await http.post("/refresh", json={})).status_code for _ in range(3)]
        limited = await http.post("/refresh", json={"refreshToken": "tt_rt_x"})
        other = httpx.ASGITransport(app=app, client=("203.0.113.9", 1234))
        async with httpx.AsyncClient(transport=other, base_url=PROXY_BASE) as elsewhere:
            other_address = await elsewhere.post("/refresh", json={})
    assert statuses == [400, 400, 400]
    assert_proxy_error(limited, 429, "too_many_requests")
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert other_address.status_code == 400, "another address has its own budget"


async def test_login_is_limited_per_source_address(proxy_for: ProxyFactory, creds: Seeded) -> None:
    async with proxy_for(cookie_mode=True, rate_limit_login=RateLimit(2, 60)) as (_, http):
        wrong = {"username": creds.username, "password": "wrong"}
        statuses = [
            (await http.post("/login", json=wrong, headers={"x-tokenturn-csrf": "1"})).status_code for _ in "abc"
        ]
        refresh = await http.post("/refresh", json={}, headers={"x-tokenturn-csrf": "1"})
    assert statuses == [400, 400, 429]
    assert_proxy_error(refresh, 400, "invalid_grant")  # no session cookie; not 429: a separate budget


def test_window_limiter_lets_a_client_in_again_after_the_window() -> None:
    clock = FakeClock(0)
    limiter = WindowLimiter(clock=clock)
    limit = RateLimit(2, 10)
    assert [limiter.hit("a", limit) for _ in range(3)] == [0, 0, 10]
    clock.advance(9.5)
    assert limiter.hit("a", limit) == 1
    clock.advance(0.5)
    assert limiter.hit("a", limit) == 0
    assert limiter.hit("b", RateLimit(0, 60)) == 0, "count 0 turns the limit off"
