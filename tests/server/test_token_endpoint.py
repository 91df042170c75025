"""The token endpoint over the in-process ASGI app with raw form bodies (contract §1)."""

from __future__ import annotations

import httpx
import pytest

from tokenturn.config import Settings
from tokenturn.server.app import TokenturnApp
from tokenturn.testing import FakeClock, Seeded, seed

from .helpers import assert_error, basic, password_grant, post_form, refresh, token

SEED_KEYS = {"access_token", "expires_in", "token_type", "scope", "refresh_token"}


async def test_password_grant_returns_the_seed_access_token_shape(http: httpx.AsyncClient, seeded: Seeded) -> None:
    r = await token(http, seeded, grant_type="password", username=seeded.username, password=seeded.password)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == SEED_KEYS
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "read write"
    assert body["access_token"].startswith("tt_at_") and body["refresh_token"].startswith("tt_rt_")
    assert r.headers["cache-control"] == "no-store" and r.headers["pragma"] == "no-cache"


async def test_refresh_rotates_and_returns_a_new_pair(http: httpx.AsyncClient, seeded: Seeded) -> None:
    first = await password_grant(http, seeded)
    r = await refresh(http, seeded, first["refresh_token"])
    assert r.status_code == 200, r.text
    second = r.json()
    assert set(second) == SEED_KEYS
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    third = await refresh(http, seeded, second["refresh_token"])
    assert third.status_code == 200


async def test_slash_less_path_answers_the_same(http: httpx.AsyncClient, seeded: Seeded) -> None:
    r = await http.post(
        "/auth/token",
        data={
            "grant_type": "password",
            "username": seeded.username,
            "password": seeded.password,
            "client_id": seeded.client_id,
            "client_secret": seeded.client_secret,
        },
    )
    assert r.status_code == 200


async def test_basic_auth_with_matching_body_client_id_is_accepted(http: httpx.AsyncClient, seeded: Seeded) -> None:
    assert seeded.client_secret is not None
    body = f"grant_type=password&username={seeded.username}&password=correct+horse+battery+staple"
    r = await post_form(http, body + f"&client_id={seeded.client_id}", basic(seeded.client_id, seeded.client_secret))
    assert r.status_code == 200, r.text


async def test_client_credentials_has_no_refresh_token(
    http: httpx.AsyncClient, app: TokenturnApp, settings: Settings
) -> None:
    cc = await seed(app.services.storage, settings, grant_types=frozenset({"client_credentials"}))
    r = await token(http, cc, grant_type="client_credentials", scope="read")
    assert r.status_code == 200
    assert set(r.json()) == SEED_KEYS - {"refresh_token"}
    assert r.json()["scope"] == "read"


async def test_replay_within_grace_returns_the_same_pair_with_expires_in_counting_down(
    http: httpx.AsyncClient, seeded: Seeded, clock: FakeClock
) -> None:
    first = await password_grant(http, seeded)
    a = (await refresh(http, seeded, first["refresh_token"])).json()
    clock.advance(4)
    b = (await refresh(http, seeded, first["refresh_token"])).json()
    assert (b["access_token"], b["refresh_token"]) == (a["access_token"], a["refresh_token"])
    assert b["expires_in"] == a["expires_in"] - 4


async def test_reuse_after_grace_revokes_the_whole_family(
    http: httpx.AsyncClient, seeded: Seeded, clock: FakeClock
) -> None:
    first = await password_grant(http, seeded)
    second = (await refresh(http, seeded, first["refresh_token"])).json()
    clock.advance(11)
    assert_error(await refresh(http, seeded, first["refresh_token"]), 400, "invalid_grant")
    # every token of the family is dead now, including the legitimate successor
    assert_error(await refresh(http, seeded, second["refresh_token"]), 400, "invalid_grant")
    storage = http._transport.app.services.storage  # type: ignore[attr-defined]
    keys = http._transport.app.services.keys  # type: ignore[attr-defined]
    for access in (first["access_token"], second["access_token"]):
        record = await storage.get_access_token(keys.hash_token(access))
        assert record is not None and record.revoked


async def test_replay_whose_successor_was_used_is_reuse(http: httpx.AsyncClient, seeded: Seeded) -> None:
    first = await password_grant(http, seeded)
    second = (await refresh(http, seeded, first["refresh_token"])).json()
    third = (await refresh(http, seeded, second["refresh_token"])).json()
    assert_error(await refresh(http, seeded, first["refresh_token"]), 400, "invalid_grant")
    assert_error(await refresh(http, seeded, third["refresh_token"]), 400, "invalid_grant")


@pytest.mark.parametrize("grace", [0])
async def test_strict_rotation_with_zero_grace(settings: Settings, clock: FakeClock, grace: int) -> None:
    app = TokenturnApp(settings.replace(refresh_grace_seconds=grace), clock=clock)
    await app.startup()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            seeded = await seed(app.services.storage, app.settings)
            first = await password_grant(http, seeded)
            second = (await refresh(http, seeded, first["refresh_token"])).json()
            assert_error(await refresh(http, seeded, first["refresh_token"]), 400, "invalid_grant")
            assert_error(await refresh(http, seeded, second["refresh_token"]), 400, "invalid_grant")
    finally:
        await app.shutdown()
