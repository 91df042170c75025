"""Every row of contract §1's error table, posted as raw forms to the in-process app."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tokenturn.config import Settings
from tokenturn.server.app import TokenturnApp
from tokenturn.testing import FakeClock, Seeded, seed

from .helpers import assert_error, basic, password_grant, post_form, refresh, token


@pytest.fixture
async def cc_client(app: TokenturnApp, settings: Settings) -> Seeded:
    return await seed(
        app.services.storage, settings, grant_types=frozenset({"client_credentials"}), username="cc-owner"
    )


def creds(seeded: Seeded) -> str:
    return f"client_id={seeded.client_id}&client_secret={seeded.client_secret}"


@pytest.mark.parametrize(
    ("body", "query"),
    [
        ("username=u&password=p", ""),  # missing grant_type
        ("grant_type=password&password=p", ""),  # missing username
        ("grant_type=password&username=u", ""),  # missing password
        ("grant_type=password&username=&password=p", ""),  # empty value counts as missing
        ("grant_type=refresh_token", ""),  # missing refresh_token
        ("grant_type=password&grant_type=password&username=u&password=p", ""),  # given twice
        ("grant_type=password&username=u&username=v&password=p", ""),
        ("grant_type=password&username=u&password=p", "?client_secret=x"),  # credentials in the query
        ("grant_type=refresh_token&refresh_token=x", "?refresh_token=x"),
        ("grant_type=password&username=u&password=%00", ""),  # NUL
        ("grant_type=password&username=u&password=%FF", ""),  # not UTF-8
    ],
)
async def test_malformed_requests_are_invalid_request(
    http: httpx.AsyncClient, seeded: Seeded, body: str, query: str
) -> None:
    r = await post_form(http, f"{body}&{creds(seeded)}", path="/auth/token/" + query)
    assert_error(r, 400, "invalid_request")


async def test_body_not_form_encoded_is_invalid_request(http: httpx.AsyncClient, seeded: Seeded) -> None:
    r = await http.post("/auth/token/", json={"grant_type": "password", "client_id": seeded.client_id})
    assert_error(r, 400, "invalid_request")
    r = await http.post("/auth/token/", content=b"grant_type=password")
    assert_error(r, 400, "invalid_request")


async def test_client_authenticated_two_ways_is_invalid_request(http: httpx.AsyncClient, seeded: Seeded) -> None:
    assert seeded.client_secret
    body = f"grant_type=password&username=u&password=p&{creds(seeded)}"
    assert_error(await post_form(http, body, basic(seeded.client_id, seeded.client_secret)), 400, "invalid_request")
    body = "grant_type=password&username=u&password=p&client_id=someone-else"
    assert_error(await post_form(http, body, basic(seeded.client_id, seeded.client_secret)), 400, "invalid_request")


async def test_body_over_64_kib_is_413(http: httpx.AsyncClient, seeded: Seeded) -> None:
    body = f"grant_type=password&{creds(seeded)}&pad=" + "x" * (64 * 1024)
    assert_error(await post_form(http, body), 413, "invalid_request")


async def test_unknown_grant_type(http: httpx.AsyncClient, seeded: Seeded) -> None:
    for grant in ("authorization_code", "urn:ietf:params:oauth:grant-type:device_code", "PASSWORD"):
        assert_error(await token(http, seeded, grant_type=grant), 400, "unsupported_grant_type")


async def test_client_not_allowed_the_grant(http: httpx.AsyncClient, seeded: Seeded, cc_client: Seeded) -> None:
    assert_error(await token(http, seeded, grant_type="client_credentials"), 400, "unauthorized_client")
    r = await token(http, cc_client, grant_type="password", username=seeded.username, password=seeded.password)
    assert_error(r, 400, "unauthorized_client")
    r = await token(http, cc_client, grant_type="refresh_token", refresh_token="tt_rt_x")
    assert_error(r, 400, "unauthorized_client")


async def test_password_grant_checks_the_client_grant_before_the_password(
    http: httpx.AsyncClient, seeded: Seeded, cc_client: Seeded
) -> None:
    """No password oracle: right and wrong passwords get the same answer from a client not allowed the grant."""
    right = await token(http, cc_client, grant_type="password", username=seeded.username, password=seeded.password)
    wrong = await token(http, cc_client, grant_type="password", username=seeded.username, password="nope")
    assert right.status_code == wrong.status_code == 400
    assert right.json() == wrong.json()


async def test_public_client_cannot_use_client_credentials(
    http: httpx.AsyncClient, app: TokenturnApp, settings: Settings
) -> None:
    public = await seed(
        app.services.storage,
        settings,
        public=True,
        grant_types=frozenset({"password", "refresh_token", "client_credentials"}),
    )
    r = await http.post("/auth/token/", data={"grant_type": "client_credentials", "client_id": public.client_id})
    assert_error(r, 400, "unauthorized_client")
    r = await http.post(
        "/auth/token/",
        data={
            "grant_type": "password",
            "client_id": public.client_id,
            "username": public.username,
            "password": public.password,
        },
    )
    assert r.status_code == 200


@pytest.mark.parametrize("case", ["unknown", "wrong", "missing"])
async def test_invalid_client_is_401(http: httpx.AsyncClient, seeded: Seeded, case: str) -> None:
    form = {
        "grant_type": "password",
        "username": seeded.username,
        "password": seeded.password,
        "client_id": "nobody" if case == "unknown" else seeded.client_id,
    }
    if case != "missing":
        form["client_secret"] = "tt_cs_wrong" if case == "wrong" else str(seeded.client_secret)
    r = await http.post("/auth/token/", data=form)
    assert_error(r, 401, "invalid_client")
    assert "www-authenticate" not in r.headers


async def test_invalid_client_with_basic_carries_www_authenticate(http: httpx.AsyncClient, seeded: Seeded) -> None:
    r = await post_form(http, "grant_type=client_credentials", basic(seeded.client_id, "tt_cs_wrong"))
    assert_error(r, 401, "invalid_client")
    assert r.headers["www-authenticate"] == 'Basic realm="tokenturn"'
    r = await post_form(http, "grant_type=client_credentials", {"Authorization": "Basic %%%"})
    assert_error(r, 401, "invalid_client")


async def test_wrong_username_or_password_is_invalid_grant(http: httpx.AsyncClient, seeded: Seeded) -> None:
    bad_pw = await token(http, seeded, grant_type="password", username=seeded.username, password="nope")
    no_user = await token(http, seeded, grant_type="password", username="nobody", password="nope")
    assert_error(bad_pw, 400, "invalid_grant")
    assert_error(no_user, 400, "invalid_grant")
    assert bad_pw.json() == no_user.json()


async def test_disabled_user_gets_invalid_grant(http: httpx.AsyncClient, seeded: Seeded, app: TokenturnApp) -> None:
    tokens = await password_grant(http, seeded)
    await app.services.storage.set_user_disabled(seeded.username, True)
    r = await token(http, seeded, grant_type="password", username=seeded.username, password=seeded.password)
    assert_error(r, 400, "invalid_grant")
    assert_error(await refresh(http, seeded, tokens["refresh_token"]), 400, "invalid_grant")


async def test_refresh_token_refusals(
    http: httpx.AsyncClient, seeded: Seeded, app: TokenturnApp, settings: Settings, clock: FakeClock
) -> None:
    other = await seed(app.services.storage, settings, username=seeded.username)
    tokens = await password_grant(http, seeded)
    assert_error(await refresh(http, seeded, "tt_rt_unknown"), 400, "invalid_grant")
    # issued to another client: refused, and not consumed
    assert_error(await refresh(http, other, tokens["refresh_token"]), 400, "invalid_grant")
    assert (await refresh(http, seeded, tokens["refresh_token"])).status_code == 200
    # expired (idle lifetime)
    fresh = await password_grant(http, seeded)
    clock.advance(settings.refresh_token_ttl + 1)
    assert_error(await refresh(http, seeded, fresh["refresh_token"]), 400, "invalid_grant")


async def test_used_token_from_another_client_revokes_the_family(
    http: httpx.AsyncClient, seeded: Seeded, app: TokenturnApp, settings: Settings
) -> None:
    thief = await seed(app.services.storage, settings, username=seeded.username)
    first = await password_grant(http, seeded)
    second = (await refresh(http, seeded, first["refresh_token"])).json()
    assert_error(await refresh(http, thief, first["refresh_token"]), 400, "invalid_grant")
    assert_error(await refresh(http, seeded, second["refresh_token"]), 400, "invalid_grant")


@pytest.mark.parametrize("scope", ["admin", "read admin", "read\\x"])
async def test_invalid_scope_for_password_and_client_credentials(
    http: httpx.AsyncClient, seeded: Seeded, cc_client: Seeded, scope: str
) -> None:
    r = await token(
        http, seeded, grant_type="password", username=seeded.username, password=seeded.password, scope=scope
    )
    assert_error(r, 400, "invalid_scope")
    assert_error(await token(http, cc_client, grant_type="client_credentials", scope=scope), 400, "invalid_scope")


async def test_wider_scope_on_refresh_is_invalid_scope_and_consumes_nothing(
    http: httpx.AsyncClient, seeded: Seeded
) -> None:
    narrow = await password_grant(http, seeded, scope="read")
    assert narrow["scope"] == "read"
    assert_error(await refresh(http, seeded, narrow["refresh_token"], scope="read write"), 400, "invalid_scope")
    r = await refresh(http, seeded, narrow["refresh_token"])
    assert r.status_code == 200 and r.json()["scope"] == "read"


async def test_narrower_scope_on_refresh_keeps_the_family_scope(http: httpx.AsyncClient, seeded: Seeded) -> None:
    first = await password_grant(http, seeded)
    second = await refresh(http, seeded, first["refresh_token"], scope="read")
    assert second.json()["scope"] == "read"
    third = await refresh(http, seeded, second.json()["refresh_token"])
    assert third.json()["scope"] == "read write"


async def test_failed_client_authentications_are_limited_per_client(
    http: httpx.AsyncClient, seeded: Seeded, clock: FakeClock
) -> None:
    wrong = {"grant_type": "client_credentials", "client_id": seeded.client_id, "client_secret": "tt_cs_wrong"}
    for _ in range(20):
        assert (await http.post("/auth/token/", data=wrong)).status_code == 401
    r = await http.post("/auth/token/", data=wrong)
    assert_error(r, 429, "too_many_requests")
    assert 1 <= int(r.headers["retry-after"]) <= 60
    # the right secret still passes: a flood of bad secrets cannot lock a legitimate client out
    ok = await token(http, seeded, grant_type="password", username=seeded.username, password=seeded.password)
    assert ok.status_code == 200
    assert_error(await http.post("/auth/token/", data=wrong), 429, "too_many_requests")
    clock.advance(61)
    assert (await http.post("/auth/token/", data=wrong)).status_code == 401


async def test_failed_client_authentications_are_limited_per_address(http: httpx.AsyncClient, seeded: Seeded) -> None:
    for i in range(20):
        r = await http.post(
            "/auth/token/", data={"grant_type": "client_credentials", "client_id": f"guess-{i}", "client_secret": "x"}
        )
        assert r.status_code == 401
    r = await http.post(
        "/auth/token/", data={"grant_type": "client_credentials", "client_id": "guess-x", "client_secret": "x"}
    )
    assert_error(r, 429, "too_many_requests")


async def test_failed_passwords_are_limited_per_username(
    http: httpx.AsyncClient, seeded: Seeded, clock: FakeClock
) -> None:
    for _ in range(10):
        r = await token(http, seeded, grant_type="password", username=seeded.username, password="nope")
        assert r.status_code == 400
    r = await token(http, seeded, grant_type="password", username=seeded.username, password=seeded.password)
    assert_error(r, 429, "too_many_requests")
    assert "retry-after" in r.headers
    clock.advance(15 * 60 + 1)
    r = await token(http, seeded, grant_type="password", username=seeded.username, password=seeded.password)
    assert r.status_code == 200


async def test_refresh_token_failures_are_not_counted(http: httpx.AsyncClient, seeded: Seeded) -> None:
    for _ in range(30):
        assert (await refresh(http, seeded, "tt_rt_unknown")).status_code == 400
    assert (await password_grant(http, seeded))["token_type"] == "Bearer"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
async def test_any_method_but_post_is_405(http: httpx.AsyncClient, method: str) -> None:
    r = await http.request(method, "/auth/token/")
    assert_error(r, 405, "invalid_request")
    assert r.headers["allow"] == "POST"


@pytest.fixture
async def locked_app(tmp_path: Path, settings: Settings) -> AsyncIterator[tuple[TokenturnApp, sqlite3.Connection]]:
    url = f"sqlite:///{tmp_path / 'locked.db'}?timeout=0.2"
    app = TokenturnApp(settings.replace(database_url=url))
    await app.startup()
    blocker = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    yield app, blocker
    blocker.close()
    await app.shutdown()


async def test_storage_unreachable_is_503_with_retry_after(
    locked_app: tuple[TokenturnApp, sqlite3.Connection], settings: Settings
) -> None:
    app, blocker = locked_app
    seeded = await seed(app.services.storage, app.settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        blocker.execute("BEGIN EXCLUSIVE")  # another writer holds the database past the timeout
        r = await token(http, seeded, grant_type="password", username=seeded.username, password=seeded.password)
        assert_error(r, 503, "temporarily_unavailable")
        assert int(r.headers["retry-after"]) >= 1
        blocker.execute("ROLLBACK")
        r = await token(http, seeded, grant_type="password", username=seeded.username, password=seeded.password)
        assert r.status_code == 200


async def test_unknown_path_is_a_json_404(http: httpx.AsyncClient) -> None:
    r = await http.get("/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
