"""``POST /auth/revoke_token/`` (RFC 7009, contract §2) over the in-process app with raw form bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tokenturn.config import Settings
from tokenturn.server.app import TokenturnApp
from tokenturn.storage.sqlite import SQLiteStorage
from tokenturn.testing import FakeClock, Seeded, seed

from .helpers import assert_error, basic, password_grant, post_form, refresh
from .ops_helpers import REVOKE, client_credentials_token, introspect, me, revoke, write_locked


async def assert_revoked_ok(r: httpx.Response) -> None:
    assert r.status_code == 200, r.text
    assert r.content == b""


async def test_revoking_a_refresh_token_revokes_its_whole_family(http: httpx.AsyncClient, seeded: Seeded) -> None:
    first = await password_grant(http, seeded)
    second = (await refresh(http, seeded, first["refresh_token"])).json()
    await assert_revoked_ok(await revoke(http, seeded, second["refresh_token"]))
    assert_error(await refresh(http, seeded, second["refresh_token"]), 400, "invalid_grant")
    for access in (first["access_token"], second["access_token"]):
        assert (await me(http, access)).status_code == 401
        assert await introspect(http, seeded, access) == {"active": False}


async def test_revoking_a_used_refresh_token_still_ends_the_family(http: httpx.AsyncClient, seeded: Seeded) -> None:
    first = await password_grant(http, seeded)
    second = (await refresh(http, seeded, first["refresh_token"])).json()
    await assert_revoked_ok(await revoke(http, seeded, first["refresh_token"]))
    assert_error(await refresh(http, seeded, second["refresh_token"]), 400, "invalid_grant")


async def test_revoking_an_access_token_revokes_that_token_only(http: httpx.AsyncClient, seeded: Seeded) -> None:
    first = await password_grant(http, seeded)
    await assert_revoked_ok(await revoke(http, seeded, first["access_token"]))
    assert (await me(http, first["access_token"])).status_code == 401
    second = await refresh(http, seeded, first["refresh_token"])
    assert second.status_code == 200, second.text
    assert (await me(http, second.json()["access_token"])).status_code == 200


@pytest.mark.parametrize("token", ["tt_at_" + "A" * 43, "tt_rt_" + "B" * 43, "not-even-ours", "x" * 5000])
async def test_unknown_tokens_answer_200_with_an_empty_body(
    http: httpx.AsyncClient, seeded: Seeded, token: str
) -> None:
    await assert_revoked_ok(await revoke(http, seeded, token))


async def test_revocation_is_idempotent(http: httpx.AsyncClient, seeded: Seeded) -> None:
    tokens = await password_grant(http, seeded)
    for _ in range(2):
        await assert_revoked_ok(await revoke(http, seeded, tokens["refresh_token"]))
        await assert_revoked_ok(await revoke(http, seeded, tokens["access_token"]))


@pytest.mark.parametrize("hint", ["access_token", "refresh_token", "something_else"])
async def test_token_type_hint_is_a_hint_not_a_filter(http: httpx.AsyncClient, seeded: Seeded, hint: str) -> None:
    tokens = await password_grant(http, seeded)
    await assert_revoked_ok(await revoke(http, seeded, tokens["refresh_token"], token_type_hint=hint))
    assert_error(await refresh(http, seeded, tokens["refresh_token"]), 400, "invalid_grant")


async def test_another_clients_token_is_refused_and_stays_valid(
    http: httpx.AsyncClient, app: TokenturnApp, settings: Settings, seeded: Seeded
) -> None:
    other = await seed(app.services.storage, settings, username=seeded.username)
    tokens = await password_grant(http, seeded)
    for token in (tokens["refresh_token"], tokens["access_token"]):
        assert_error(await revoke(http, other, token), 400, "unauthorized_client")
    assert (await me(http, tokens["access_token"])).status_code == 200
    assert (await refresh(http, seeded, tokens["refresh_token"])).status_code == 200


async def test_basic_authentication_works_like_at_the_token_endpoint(http: httpx.AsyncClient, seeded: Seeded) -> None:
    assert seeded.client_secret is not None
    tokens = await password_grant(http, seeded)
    r = await post_form(http, f"token={tokens['refresh_token']}", basic(seeded.client_id, seeded.client_secret), REVOKE)
    await assert_revoked_ok(r)
    assert_error(await refresh(http, seeded, tokens["refresh_token"]), 400, "invalid_grant")


async def test_a_public_client_revokes_its_own_tokens(
    http: httpx.AsyncClient, app: TokenturnApp, settings: Settings
) -> None:
    public = await seed(app.services.storage, settings, public=True)
    tokens = await password_grant(http, public)
    await assert_revoked_ok(await revoke(http, public, tokens["refresh_token"]))
    assert_error(await refresh(http, public, tokens["refresh_token"]), 400, "invalid_grant")


async def test_a_client_credentials_token_can_be_revoked(
    http: httpx.AsyncClient, app: TokenturnApp, settings: Settings
) -> None:
    cc, access = await client_credentials_token(http, app, settings)
    assert (await me(http, access)).status_code == 200
    await assert_revoked_ok(await revoke(http, cc, access))
    assert (await me(http, access)).status_code == 401


@pytest.mark.parametrize(
    ("secret", "status", "error"), [("wrong", 401, "invalid_client"), (None, 401, "invalid_client")]
)
async def test_failed_client_authentication_is_invalid_client(
    http: httpx.AsyncClient, seeded: Seeded, secret: str | None, status: int, error: str
) -> None:
    tokens = await password_grant(http, seeded)
    data = {"client_id": seeded.client_id, "token": tokens["refresh_token"]}
    if secret is not None:
        data["client_secret"] = secret
    assert_error(await http.post(REVOKE, data=data), status, error)
    assert (await refresh(http, seeded, tokens["refresh_token"])).status_code == 200


async def test_wrong_basic_secret_gets_a_basic_challenge(http: httpx.AsyncClient, seeded: Seeded) -> None:
    r = await post_form(http, "token=abc", basic(seeded.client_id, "wrong"), REVOKE)
    assert_error(r, 401, "invalid_client")
    assert r.headers["www-authenticate"] == 'Basic realm="tokenturn"'


async def test_framing_matches_the_token_endpoint(http: httpx.AsyncClient, seeded: Seeded) -> None:
    r = await http.get(REVOKE)
    assert_error(r, 405, "invalid_request")
    assert r.headers["allow"] == "POST"
    assert_error(await revoke(http, seeded, ""), 400, "invalid_request")  # empty = missing token
    r = await http.post(REVOKE, json={"token": "x", "client_id": seeded.client_id})
    assert_error(r, 400, "invalid_request")
    r = await http.post(REVOKE + "?token=abc", data={"client_id": seeded.client_id, "token": "x"})
    assert_error(r, 400, "invalid_request")
    r = await post_form(http, b"token=" + b"a" * (64 * 1024), path=REVOKE)
    assert_error(r, 413, "invalid_request")
    r = await post_form(http, b"token=a&token=b&client_id=" + seeded.client_id.encode(), path=REVOKE)
    assert_error(r, 400, "invalid_request")
    r = await post_form(http, b"token=%ff&client_id=x", path=REVOKE)
    assert_error(r, 400, "invalid_request")


async def test_missing_client_authentication_is_invalid_client(http: httpx.AsyncClient) -> None:
    assert_error(await post_form(http, "token=abc", path=REVOKE), 401, "invalid_client")


@pytest.fixture
async def slow_lock_app(settings: Settings, clock: FakeClock) -> AsyncIterator[TokenturnApp]:
    """The app on a store that gives up on a held write lock after 50 ms (instead of 10 s)."""
    path = settings.database_url.removeprefix("sqlite:///")
    application = TokenturnApp(settings, storage=SQLiteStorage(path, busy_timeout_ms=50), clock=clock)
    await application.startup()
    yield application
    await application.shutdown()


async def test_storage_down_answers_503_never_200(slow_lock_app: TokenturnApp, settings: Settings) -> None:
    seeded = await seed(slow_lock_app.services.storage, settings)
    transport = httpx.ASGITransport(app=slow_lock_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        tokens = await password_grant(http, seeded)
        with write_locked(str(Path(settings.database_url.removeprefix("sqlite:///")))):
            r = await revoke(http, seeded, tokens["refresh_token"])
        assert_error(r, 503, "temporarily_unavailable")
        assert r.headers["retry-after"]
        # Nothing was revoked: the family still works.
        assert (await refresh(http, seeded, tokens["refresh_token"])).status_code == 200
