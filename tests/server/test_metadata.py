"""``GET /.well-known/oauth-authorization-server`` (RFC 8414) built from the running configuration."""

from __future__ import annotations

import httpx

from tokenturn.config import Settings
from tokenturn.server.app import TokenturnApp
from tokenturn.testing import FakeClock, seed

PATH = "/.well-known/oauth-authorization-server"


async def test_metadata_names_the_endpoints_grants_methods_and_scopes(settings: Settings, clock: FakeClock) -> None:
    application = TokenturnApp(settings.replace(issuer="https://auth.example"), clock=clock)
    await application.startup()
    try:
        await seed(application.services.storage, settings, scope=frozenset({"read", "write"}))
        await seed(application.services.storage, settings, scope=frozenset({"admin"}))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://t") as http:
            r = await http.get(PATH)
    finally:
        await application.shutdown()
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["issuer"] == "https://auth.example"
    assert body["token_endpoint"] == "https://auth.example/auth/token/"
    assert body["revocation_endpoint"] == "https://auth.example/auth/revoke_token/"
    assert body["introspection_endpoint"] == "https://auth.example/auth/introspect/"
    assert set(body["grant_types_supported"]) == {"password", "client_credentials", "refresh_token"}
    for key in ("token", "revocation", "introspection"):
        methods = body[f"{key}_endpoint_auth_methods_supported"]
        assert set(methods) == {"client_secret_basic", "client_secret_post", "none"}
    assert body["scopes_supported"] == ["admin", "read", "write"]
    assert body["response_types_supported"] == []
    assert "authorization_endpoint" not in body


async def test_a_new_clients_scopes_show_at_once(
    http: httpx.AsyncClient, app: TokenturnApp, settings: Settings
) -> None:
    assert (await http.get(PATH)).json()["scopes_supported"] == []
    await seed(app.services.storage, settings, scope=frozenset({"billing"}))
    assert (await http.get(PATH)).json()["scopes_supported"] == ["billing"]


async def test_without_an_issuer_setting_the_request_host_is_used(http: httpx.AsyncClient) -> None:
    body = (await http.get(PATH)).json()
    assert body["issuer"] == "http://tokenturn.test"
    assert body["token_endpoint"] == "http://tokenturn.test/auth/token/"


async def test_metadata_is_get_only(http: httpx.AsyncClient) -> None:
    r = await http.post(PATH)
    assert r.status_code == 405
    assert r.json()["error"] == "invalid_request"
    assert r.headers["allow"] == "GET, HEAD"
