"""``GET /v1/me/`` and the resource-server helper (RFC 6750): tokenturn's route and a user's Starlette app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tokenturn.config import Settings
from tokenturn.server.app import TokenturnApp
from tokenturn.server.resource import BearerAuth, BearerAuthMiddleware, BearerError, bearer_error_handler, principal_of
from tokenturn.testing import FakeClock, Seeded, seed

from .helpers import password_grant
from .ops_helpers import client_credentials_token, me, revoke

ORIGIN = "https://app.example"


def assert_bearer_error(r: httpx.Response, status: int, error: str, challenge: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["error"] == error
    assert set(r.json()) == {"error", "error_description"}
    assert r.headers["www-authenticate"] == challenge


async def test_me_answers_the_principal(http: httpx.AsyncClient, seeded: Seeded) -> None:
    tokens = await password_grant(http, seeded)
    r = await me(http, tokens["access_token"])
    assert r.status_code == 200
    assert r.json() == {"username": seeded.username, "client_id": seeded.client_id, "scope": "read write"}
    assert r.headers["cache-control"] == "no-store"
    assert (await http.get("/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})).status_code == 200


async def test_me_has_a_null_username_for_client_credentials(
    http: httpx.AsyncClient, app: TokenturnApp, settings: Settings
) -> None:
    cc, cc_token = await client_credentials_token(http, app, settings)
    body = (await me(http, cc_token)).json()
    assert body == {"username": None, "client_id": cc.client_id, "scope": "read write"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic dXNlcjpwYXNz"}])
async def test_no_bearer_credentials_get_a_bare_challenge(http: httpx.AsyncClient, headers: dict[str, str]) -> None:
    r = await http.get("/v1/me/", headers=headers)
    assert_bearer_error(r, 401, "invalid_token", 'Bearer realm="tokenturn", error="invalid_token"')


async def test_invalid_expired_and_revoked_tokens_are_invalid_token(
    http: httpx.AsyncClient, seeded: Seeded, clock: FakeClock
) -> None:
    challenge = 'Bearer error="invalid_token"'
    assert_bearer_error(await me(http, "tt_at_" + "x" * 43), 401, "invalid_token", challenge)
    tokens = await password_grant(http, seeded)
    assert_bearer_error(await me(http, tokens["refresh_token"]), 401, "invalid_token", challenge)
    assert (await revoke(http, seeded, tokens["access_token"])).status_code == 200
    assert_bearer_error(await me(http, tokens["access_token"]), 401, "invalid_token", challenge)
    fresh = await password_grant(http, seeded)
    clock.advance(3600)
    assert_bearer_error(await me(http, fresh["access_token"]), 401, "invalid_token", challenge)


@pytest.mark.parametrize("value", ["Bearer", "Bearer ", "Bearer a b", "Bearer abc,def", "Bearer =abc", "Bearer ab%cd"])
async def test_a_malformed_bearer_header_is_invalid_request(http: httpx.AsyncClient, value: str) -> None:
    r = await http.get("/v1/me/", headers={"Authorization": value})
    assert_bearer_error(r, 400, "invalid_request", 'Bearer error="invalid_request"')


async def test_a_token_in_the_query_string_is_refused(http: httpx.AsyncClient, seeded: Seeded) -> None:
    tokens = await password_grant(http, seeded)
    r = await http.get("/v1/me/", params={"access_token": tokens["access_token"]})
    assert_bearer_error(r, 400, "invalid_request", 'Bearer error="invalid_request"')


async def test_me_is_get_only(http: httpx.AsyncClient) -> None:
    r = await http.post("/v1/me/")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD, OPTIONS"


@pytest.fixture
async def cors_http(settings: Settings, clock: FakeClock) -> AsyncIterator[tuple[httpx.AsyncClient, Seeded]]:
    application = TokenturnApp(settings.replace(cors_origins=(ORIGIN,)), clock=clock)
    await application.startup()
    seeded = await seed(application.services.storage, settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://t") as client:
        yield client, seeded
    await application.shutdown()


async def test_cors_only_for_configured_origins(cors_http: tuple[httpx.AsyncClient, Seeded]) -> None:
    http, seeded = cors_http
    tokens = await password_grant(http, seeded)
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    r = await http.get("/v1/me/", headers={**auth, "Origin": ORIGIN})
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "Origin" in r.headers["vary"]
    r = await http.get("/v1/me/", headers={**auth, "Origin": "https://evil.example"})
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers
    r = await http.options(
        "/v1/me/",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "Authorization" in r.headers["access-control-allow-headers"]
    r = await http.options("/v1/me/", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    # Errors carry CORS headers too, so the page can read the 401.
    r = await http.get("/v1/me/", headers={"Origin": ORIGIN})
    assert r.status_code == 401 and r.headers["access-control-allow-origin"] == ORIGIN
    # The token endpoint is never opened cross-origin.
    r = await http.post("/auth/token/", headers={"Origin": ORIGIN}, data={"grant_type": "password"})
    assert "access-control-allow-origin" not in r.headers


async def test_no_cors_headers_when_no_origins_are_configured(http: httpx.AsyncClient, seeded: Seeded) -> None:
    tokens = await password_grant(http, seeded)
    r = await http.get("/v1/me/", headers={"Authorization": f"Bearer {tokens['access_token']}", "Origin": ORIGIN})
    assert "access-control-allow-origin" not in r.headers


# -- a user's own Starlette app -----------------------------------------------------------------
def user_app(auth: BearerAuth, *, handler: bool) -> Starlette:
    read = auth.require("read")
    admin = auth.require("admin")

    async def reports(request: Request) -> JSONResponse:
        principal = await read(request)
        return JSONResponse({"user": principal.username, "scopes": sorted(principal.scopes)})

    async def settings_page(request: Request) -> JSONResponse:
        await admin(request)
        return JSONResponse({"ok": True})

    async def middleware_route(request: Request) -> JSONResponse:
        return JSONResponse(principal_of(request).as_json())

    inner = Starlette(routes=[Route("/whoami", middleware_route)])
    app = Starlette(routes=[Route("/reports", reports), Route("/settings", settings_page)])
    if handler:
        app.add_exception_handler(BearerError, bearer_error_handler)
    app.mount("/mw", BearerAuthMiddleware(inner, auth, scopes=["read"], exempt=["/mw/health"]))
    return app


async def user_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://user.test")


async def test_a_starlette_dependency_protects_routes_with_scopes(
    http: httpx.AsyncClient, app: TokenturnApp, seeded: Seeded
) -> None:
    tokens = await password_grant(http, seeded, scope="read")
    auth = BearerAuth(app.services.storage, app.services.keys, clock=app.services.clock)
    async with await user_client(user_app(auth, handler=True)) as client:
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        r = await client.get("/reports", headers=headers)
        assert r.json() == {"user": seeded.username, "scopes": ["read"]}
        r = await client.get("/settings", headers=headers)
        assert_bearer_error(r, 403, "insufficient_scope", 'Bearer error="insufficient_scope", scope="admin"')
        r = await client.get("/reports")
        assert_bearer_error(r, 401, "invalid_token", 'Bearer realm="tokenturn", error="invalid_token"')
        r = await client.get("/reports", headers={"Authorization": "Bearer nope"})
        assert_bearer_error(r, 401, "invalid_token", 'Bearer error="invalid_token"')


async def test_without_the_handler_the_challenge_header_is_still_sent(
    http: httpx.AsyncClient, app: TokenturnApp
) -> None:
    auth = BearerAuth(app.services.storage, app.services.keys)
    async with await user_client(user_app(auth, handler=False)) as client:
        r = await client.get("/reports", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'


async def test_the_middleware_attaches_the_principal_and_refuses_others(
    http: httpx.AsyncClient, app: TokenturnApp, settings: Settings, seeded: Seeded
) -> None:
    tokens = await password_grant(http, seeded)
    auth = BearerAuth.from_settings(settings)  # opens the same store itself, as a user's app would
    async with await user_client(user_app(auth, handler=False)) as client:
        r = await client.get("/mw/whoami", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert r.json() == {"username": seeded.username, "client_id": seeded.client_id, "scope": "read write"}
        r = await client.get("/mw/whoami", headers={"Authorization": "Bearer bad"})
        assert_bearer_error(r, 401, "invalid_token", 'Bearer error="invalid_token"')
        r = await client.get("/mw/whoami", headers={"Authorization": "Bearer a b"})
        assert_bearer_error(r, 400, "invalid_request", 'Bearer error="invalid_request"')
        assert (await client.get("/mw/health")).status_code == 404  # exempt: reaches the inner app
    await auth.close()


async def test_an_unreachable_store_is_503_never_a_pass(settings: Settings) -> None:
    auth = BearerAuth.from_settings(settings.replace(database_url="sqlite:////proc/tokenturn-missing/x.db"))
    async with await user_client(user_app(auth, handler=True)) as client:
        r = await client.get("/mw/whoami", headers={"Authorization": "Bearer tt_at_" + "a" * 43})
        assert r.status_code == 503
        assert r.json()["error"] == "temporarily_unavailable"
        r = await client.get("/reports", headers={"Authorization": "Bearer tt_at_" + "a" * 43})
        assert r.status_code == 503


async def test_the_documented_example_app_works(http: httpx.AsyncClient, app: TokenturnApp, seeded: Seeded) -> None:
    """docs/examples/protected_app.py, as the README shows it, against a real store."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "docs" / "examples" / "protected_app.py"
    spec = importlib.util.spec_from_file_location("protected_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    example = module.create_app(BearerAuth(app.services.storage, app.services.keys, clock=app.services.clock))
    tokens = await password_grant(http, seeded, scope="read")
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    async with await user_client(example) as client:
        assert (await client.get("/reports", headers=headers)).json()["user"] == seeded.username
        r = await client.get("/admin/settings", headers=headers)
        assert_bearer_error(r, 403, "insufficient_scope", 'Bearer error="insufficient_scope", scope="admin"')
        assert (await client.get("/api/whoami", headers=headers)).json()["scope"] == "read"
        assert (await client.get("/api/whoami")).status_code == 401
