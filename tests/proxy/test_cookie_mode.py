"""Cookie mode: the refresh token lives in an HttpOnly cookie; scripts get only the access token.

Cookies are handled by hand (``Cookie`` header in, ``Set-Cookie`` out) so the test sees exactly what a
browser would be told, attribute by attribute.
"""

from __future__ import annotations

import httpx
import pytest

from tests.proxy.conftest import PROXY_BASE, ProxyFactory, assert_proxy_error, upstream_refresh
from tokenturn.testing import Seeded, ServerProcess

CSRF = {"X-Tokenturn-CSRF": "1"}
NAME = "tokenturn_rt"


def cookies_set(r: httpx.Response) -> dict[str, dict[str, str]]:
    """Path -> {"value": ..., attribute: value} for every ``Set-Cookie`` of our cookie."""
    out: dict[str, dict[str, str]] = {}
    for header in r.headers.get_list("set-cookie"):
        first, *attrs = [part.strip() for part in header.split(";")]
        name, _, value = first.partition("=")
        assert name == NAME
        parsed = {"value": value}
        for attr in attrs:
            key, _, val = attr.partition("=")
            parsed[key.lower()] = val
        out[parsed["path"]] = parsed
    return out


def session_token(r: httpx.Response) -> str:
    values = {c["value"] for c in cookies_set(r).values()}
    assert len(values) == 1, values
    return values.pop()


async def login(http: httpx.AsyncClient, creds: Seeded, **headers: str) -> httpx.Response:
    return await http.post(
        "/login", json={"username": creds.username, "password": creds.password}, headers={**CSRF, **headers}
    )


async def test_login_puts_the_refresh_token_in_a_strict_httponly_secure_cookie(
    proxy_for: ProxyFactory, upstream: ServerProcess, creds: Seeded
) -> None:
    async with proxy_for(cookie_mode=True) as (_, http):
        r = await login(http, creds)
    assert r.status_code == 200, r.text
    body = r.json()
    assert "refresh_token" not in body
    assert set(body) == {"access_token", "expires_in", "token_type", "scope"}
    cookies = cookies_set(r)
    assert set(cookies) == {"/refresh", "/logout"}, "scoped to the endpoints that read it, not the whole host"
    for cookie in cookies.values():
        assert {"httponly", "secure", "samesite", "max-age"} <= set(cookie)
        assert cookie["samesite"] == "Strict"
        assert int(cookie["max-age"]) > 0
    token = session_token(r)
    assert token.startswith("tt_rt_")
    assert token not in r.text
    assert upstream_refresh(upstream, creds, token).status_code == 200, "the cookie holds a live refresh token"


async def test_insecure_cookies_drop_only_the_secure_flag(proxy_for: ProxyFactory, creds: Seeded) -> None:
    async with proxy_for(cookie_mode=True, insecure_cookies=True) as (_, http):
        r = await login(http, creds)
    for cookie in cookies_set(r).values():
        assert "secure" not in cookie
        assert "httponly" in cookie
        assert cookie["samesite"] == "Strict"


async def test_cookie_refresh_rotates_the_cookie(
    proxy_for: ProxyFactory, upstream: ServerProcess, creds: Seeded
) -> None:
    async with proxy_for(cookie_mode=True, dedupe_seconds=0) as (_, http):
        first = session_token(await login(http, creds))
        r = await http.post("/refresh", headers={**CSRF, "cookie": f"{NAME}={first}"})
        assert r.status_code == 200, r.text
        assert set(r.json()) == {"access_token", "expires_in", "token_type", "scope"}
        second = session_token(r)
        assert second != first
        again = await http.post("/refresh", headers={**CSRF, "cookie": f"{NAME}={second}"})
    assert again.status_code == 200, again.text


async def test_wrong_password_is_400_invalid_grant_and_sets_no_cookie(proxy_for: ProxyFactory, creds: Seeded) -> None:
    async with proxy_for(cookie_mode=True) as (_, http):
        r = await http.post("/login", json={"username": creds.username, "password": "wrong"}, headers=CSRF)
    assert_proxy_error(r, 400, "invalid_grant")
    assert "set-cookie" not in r.headers


@pytest.mark.parametrize(
    "body", [b"", b"{}", b'{"username": "u"}', b'{"username": "", "password": "p"}', b'{"username": 1, "password": 2}']
)
async def test_login_without_username_and_password_is_400(proxy_for: ProxyFactory, body: bytes) -> None:
    async with proxy_for(cookie_mode=True) as (_, http):
        r = await http.post("/login", content=body, headers={**CSRF, "content-type": "application/json"})
    assert_proxy_error(r, 400, "invalid_request")


async def test_refresh_without_a_session_cookie_is_400_invalid_grant(proxy_for: ProxyFactory) -> None:
    async with proxy_for(cookie_mode=True) as (_, http):
        r = await http.post("/refresh", headers=CSRF)
    assert_proxy_error(r, 400, "invalid_grant")


async def test_a_dead_session_cookie_is_cleared(proxy_for: ProxyFactory) -> None:
    async with proxy_for(cookie_mode=True) as (_, http):
        r = await http.post("/refresh", headers={**CSRF, "cookie": f"{NAME}=tt_rt_expired-or-revoked"})
    assert_proxy_error(r, 400, "invalid_grant")
    for cookie in cookies_set(r).values():
        assert cookie["value"] == ""
        assert cookie["max-age"] == "0"


@pytest.mark.parametrize("path", ["/login", "/refresh", "/logout"])
async def test_cookie_requests_without_the_csrf_header_are_refused(
    proxy_for: ProxyFactory, upstream: ServerProcess, creds: Seeded, path: str
) -> None:
    """A cross-site form can send the cookie's request but not a custom header: 403, nothing upstream."""
    async with proxy_for(cookie_mode=True) as (app, http):
        token = session_token(await login(http, creds))
        r = await http.post(
            path,
            content=b'{"username": "u", "password": "p"}' if path == "/login" else b"",
            headers={"cookie": f"{NAME}={token}", "content-type": "text/plain"},
        )
        assert app.flights.upstream_calls == 0
    assert_proxy_error(r, 403, "invalid_request")
    assert upstream_refresh(upstream, creds, token).status_code == 200, "the session was not touched"


@pytest.mark.parametrize("path", ["/login", "/refresh", "/logout"])
async def test_requests_from_an_unlisted_origin_are_refused(proxy_for: ProxyFactory, creds: Seeded, path: str) -> None:
    async with proxy_for(cookie_mode=True, allow_origins=("https://app.example",)) as (app, http):
        r = await http.post(path, json={}, headers={**CSRF, "origin": "https://evil.example"})
        assert app.flights.upstream_calls == 0
    assert_proxy_error(r, 403, "invalid_request")
    assert "access-control-allow-origin" not in r.headers


async def test_same_origin_and_listed_origins_are_accepted(proxy_for: ProxyFactory, creds: Seeded) -> None:
    async with proxy_for(cookie_mode=True, allow_origins=("https://app.example",)) as (_, http):
        own = await login(http, creds, origin=PROXY_BASE)
        listed = await login(http, creds, origin="https://app.example")
    assert own.status_code == 200, own.text
    assert listed.status_code == 200, listed.text
    assert listed.headers["access-control-allow-origin"] == "https://app.example"
    assert listed.headers["access-control-allow-credentials"] == "true"


async def test_logout_revokes_the_family_upstream_and_clears_the_cookie(
    proxy_for: ProxyFactory, upstream: ServerProcess, creds: Seeded
) -> None:
    async with proxy_for(cookie_mode=True, dedupe_seconds=0) as (_, http):
        first = session_token(await login(http, creds))
        rotated = session_token(await http.post("/refresh", headers={**CSRF, "cookie": f"{NAME}={first}"}))
        r = await http.post("/logout", headers={**CSRF, "cookie": f"{NAME}={rotated}"})
        after = await http.post("/refresh", headers={**CSRF, "cookie": f"{NAME}={rotated}"})
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "signed_out"}
    for cookie in cookies_set(r).values():
        assert cookie["max-age"] == "0"
    assert_proxy_error(after, 400, "invalid_grant")
    assert upstream_refresh(upstream, creds, rotated).json()["error"] == "invalid_grant"


async def test_logout_without_a_cookie_still_clears_it(proxy_for: ProxyFactory) -> None:
    async with proxy_for(cookie_mode=True) as (_, http):
        r = await http.post("/logout", headers=CSRF)
    assert r.status_code == 200
    assert set(cookies_set(r)) == {"/refresh", "/logout"}


async def test_body_token_still_works_in_cookie_mode_and_sets_no_cookie(
    proxy_for: ProxyFactory, upstream: ServerProcess, creds: Seeded
) -> None:
    async with proxy_for(cookie_mode=True) as (_, http):
        token = session_token(await login(http, creds))
        r = await http.post("/refresh", json={"refreshToken": token})
    assert r.status_code == 200, r.text
    assert "refresh_token" in r.json()
    assert "set-cookie" not in r.headers


async def test_cookie_paths_follow_the_asgi_root_path(proxy_for: ProxyFactory, creds: Seeded) -> None:
    """Mounted under /auth-proxy (uvicorn --root-path), the cookie is scoped below it."""
    async with proxy_for(cookie_mode=True) as (app, _):
        transport = httpx.ASGITransport(app=app, root_path="/auth-proxy")
        async with httpx.AsyncClient(transport=transport, base_url=PROXY_BASE) as http:
            r = await http.post(
                "/auth-proxy/login", json={"username": creds.username, "password": creds.password}, headers=CSRF
            )
    assert r.status_code == 200, r.text
    assert set(cookies_set(r)) == {"/auth-proxy/refresh", "/auth-proxy/logout"}
