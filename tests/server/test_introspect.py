"""``POST /auth/introspect/`` (RFC 7662, contract §2): exact active shapes, and nothing about inactive tokens."""

from __future__ import annotations

import httpx
import pytest

from tokenturn.config import Settings
from tokenturn.server.app import TokenturnApp
from tokenturn.testing import FakeClock, Seeded, seed

from .helpers import assert_error, basic, password_grant, post_form, refresh
from .ops_helpers import ACTIVE_KEYS, INTROSPECT, client_credentials_token, introspect, revoke

INACTIVE = {"active": False}


async def test_an_active_access_token_has_exactly_the_contract_fields(
    http: httpx.AsyncClient, seeded: Seeded, clock: FakeClock
) -> None:
    tokens = await password_grant(http, seeded)
    body = await introspect(http, seeded, tokens["access_token"])
    assert set(body) == ACTIVE_KEYS
    now = int(clock.now)
    assert body == {
        "active": True,
        "scope": "read write",
        "client_id": seeded.client_id,
        "username": seeded.username,
        "token_type": "Bearer",
        "exp": now + 3600,
        "iat": now,
        "sub": seeded.username,
    }


async def test_an_active_refresh_token_says_refresh_token(
    http: httpx.AsyncClient, seeded: Seeded, clock: FakeClock
) -> None:
    tokens = await password_grant(http, seeded)
    body = await introspect(http, seeded, tokens["refresh_token"])
    assert set(body) == ACTIVE_KEYS
    assert body["token_type"] == "refresh_token"
    assert body["sub"] == seeded.username
    assert body["exp"] == int(clock.now) + 2_592_000


async def test_a_client_credentials_token_has_no_username_and_the_client_as_sub(
    http: httpx.AsyncClient, app: TokenturnApp, settings: Settings
) -> None:
    cc, cc_token = await client_credentials_token(http, app, settings)
    body = await introspect(http, cc, cc_token)
    assert set(body) == ACTIVE_KEYS - {"username"}
    assert body["sub"] == cc.client_id
    assert body["client_id"] == cc.client_id
    assert body["token_type"] == "Bearer"


async def test_a_narrowed_refresh_gives_a_narrower_access_token_but_keeps_the_family_scope(
    http: httpx.AsyncClient, seeded: Seeded
) -> None:
    first = await password_grant(http, seeded)
    second = (await refresh(http, seeded, first["refresh_token"], scope="read")).json()
    assert (await introspect(http, seeded, second["access_token"]))["scope"] == "read"
    assert (await introspect(http, seeded, second["refresh_token"]))["scope"] == "read write"


async def test_expired_tokens_are_inactive(http: httpx.AsyncClient, seeded: Seeded, clock: FakeClock) -> None:
    tokens = await password_grant(http, seeded)
    clock.advance(3600)
    assert await introspect(http, seeded, tokens["access_token"]) == INACTIVE
    assert (await introspect(http, seeded, tokens["refresh_token"]))["active"] is True
    clock.advance(2_592_000)
    assert await introspect(http, seeded, tokens["refresh_token"]) == INACTIVE


async def test_revoked_tokens_are_inactive(http: httpx.AsyncClient, seeded: Seeded) -> None:
    tokens = await password_grant(http, seeded)
    assert (await revoke(http, seeded, tokens["refresh_token"])).status_code == 200
    assert await introspect(http, seeded, tokens["refresh_token"]) == INACTIVE
    assert await introspect(http, seeded, tokens["access_token"]) == INACTIVE


async def test_a_used_refresh_token_is_inactive_even_inside_the_grace_window(
    http: httpx.AsyncClient, seeded: Seeded
) -> None:
    first = await password_grant(http, seeded)
    second = (await refresh(http, seeded, first["refresh_token"])).json()
    assert await introspect(http, seeded, first["refresh_token"]) == INACTIVE
    assert (await introspect(http, seeded, second["refresh_token"]))["active"] is True
    # The superseded access token stays valid until it expires (contract §1).
    assert (await introspect(http, seeded, first["access_token"]))["active"] is True


async def test_a_disabled_users_tokens_are_inactive(http: httpx.AsyncClient, app: TokenturnApp, seeded: Seeded) -> None:
    tokens = await password_grant(http, seeded)
    await app.services.storage.set_user_disabled(seeded.username, True)
    assert await introspect(http, seeded, tokens["access_token"]) == INACTIVE
    assert await introspect(http, seeded, tokens["refresh_token"]) == INACTIVE


@pytest.mark.parametrize("token", ["tt_at_" + "A" * 43, "tt_rt_" + "B" * 43, "garbage", "é" * 100])
async def test_unknown_tokens_are_inactive(http: httpx.AsyncClient, seeded: Seeded, token: str) -> None:
    assert await introspect(http, seeded, token) == INACTIVE


async def test_another_clients_tokens_are_inactive_without_the_permission(
    http: httpx.AsyncClient, app: TokenturnApp, settings: Settings, seeded: Seeded
) -> None:
    other = await seed(app.services.storage, settings, username=seeded.username)
    auditor = await seed(
        app.services.storage, settings, username=seeded.username, introspection=True, grant_types=frozenset()
    )
    tokens = await password_grant(http, seeded)
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert await introspect(http, other, token) == INACTIVE
        seen = await introspect(http, auditor, token)
        assert seen["active"] is True
        assert seen["client_id"] == seeded.client_id


@pytest.mark.parametrize("hint", ["access_token", "refresh_token", "bogus"])
async def test_the_hint_does_not_filter(http: httpx.AsyncClient, seeded: Seeded, hint: str) -> None:
    tokens = await password_grant(http, seeded)
    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert (await introspect(http, seeded, token, token_type_hint=hint))["active"] is True


async def test_callers_must_authenticate(http: httpx.AsyncClient, seeded: Seeded) -> None:
    tokens = await password_grant(http, seeded)
    r = await http.post(INTROSPECT, data={"client_id": seeded.client_id, "client_secret": "no", "token": "x"})
    assert_error(r, 401, "invalid_client")
    r = await post_form(http, f"token={tokens['access_token']}", basic(seeded.client_id, "no"), INTROSPECT)
    assert_error(r, 401, "invalid_client")
    assert r.headers["www-authenticate"] == 'Basic realm="tokenturn"'
    assert_error(await post_form(http, "token=x", path=INTROSPECT), 401, "invalid_client")


async def test_framing_matches_the_token_endpoint(http: httpx.AsyncClient, seeded: Seeded) -> None:
    r = await http.get(INTROSPECT)
    assert_error(r, 405, "invalid_request")
    assert r.headers["allow"] == "POST"
    r = await http.post(INTROSPECT, data={"client_id": seeded.client_id, "client_secret": seeded.client_secret})
    assert_error(r, 400, "invalid_request")
    r = await http.post(INTROSPECT + "?token=x", data={"client_id": seeded.client_id, "token": "x"})
    assert_error(r, 400, "invalid_request")
    r = await http.post(INTROSPECT, content=b'{"token": "x"}', headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_request")
    assert_error(await post_form(http, b"token=" + b"a" * 70_000, path=INTROSPECT), 413, "invalid_request")
