"""Session behaviour stepped against an in-process token endpoint (httpx MockTransport)."""

from __future__ import annotations

import asyncio
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import httpx
import pytest

from tokenturn.client import (
    HttpxAuth,
    InvalidClient,
    InvalidGrant,
    JSONFileStore,
    LoginRequired,
    MemoryStore,
    Session,
    StoreError,
    Token,
)

from .fakes import FakeTokenServer, api_transport, error, expired, fresh, session_with


def test_a_fresh_token_is_served_without_calling_the_server() -> None:
    server = FakeTokenServer()
    session = session_with(server, fresh())
    assert session.token().access_token == "fresh-at"
    assert session.token().access_token == "fresh-at"
    assert server.forms == []


def test_an_expired_token_is_refreshed_and_rotated() -> None:
    server = FakeTokenServer()
    session = session_with(server, expired())
    assert session.token().access_token == "at-1"
    assert session.store.load() == session.current
    assert session.current is not None and session.current.refresh_token == "rt-1"
    assert server.forms == [
        {"client_id": "cid", "client_secret": "csecret", "grant_type": "refresh_token", "refresh_token": "rt-0"}
    ]


@pytest.mark.parametrize(
    ("expires_in", "remaining", "refreshes"),
    [
        (3600, 120, 0),  # outside the 60 s leeway
        (3600, 30, 1),  # inside it
        (10, 6, 0),  # short token: leeway capped at half the lifetime (5 s)
        (10, 4, 1),
    ],
)
def test_refresh_is_proactive_within_the_leeway_capped_at_half_the_lifetime(
    expires_in: int, remaining: int, refreshes: int
) -> None:
    server = FakeTokenServer()
    now = time.time()
    token = Token("at-0", "Bearer", expires_in, "", "rt-0", now - (expires_in - remaining), now + remaining)
    session_with(server, token).token()
    assert server.refresh_calls == refreshes


def test_an_answer_without_a_refresh_token_keeps_the_old_one() -> None:
    server = FakeTokenServer(omit_refresh=True, valid_refresh={"rt-0"})
    session = session_with(server, expired())
    token = session.token()
    assert token.access_token == "at-1" and token.refresh_token == "rt-0"


def test_the_rotated_pair_is_saved_before_the_new_access_token_is_used() -> None:
    server = FakeTokenServer()
    events: list[str] = []

    class RecordingStore(MemoryStore):
        def save(self, token: Token) -> None:
            events.append(f"save {token.access_token}")
            super().save(token)

    def api(request: httpx.Request) -> httpx.Response:
        events.append(f"use {request.headers['authorization'].removeprefix('Bearer ')}")
        return httpx.Response(200)

    session = Session(server.client(), RecordingStore(expired()))
    with httpx.Client(auth=HttpxAuth(session), transport=httpx.MockTransport(api)) as http:
        http.get("http://api.test/")
    assert events == ["save at-1", "use at-1"]


def test_a_failing_store_still_keeps_the_rotated_pair_in_memory() -> None:
    server = FakeTokenServer()

    class BrokenStore(MemoryStore):
        def save(self, token: Token) -> None:
            raise StoreError("disk full")

    session = Session(server.client(), BrokenStore(expired()))
    with pytest.raises(StoreError):
        session.token()
    assert session.token().access_token == "at-1" and server.refresh_calls == 1


def test_invalid_grant_rereads_the_store_and_uses_a_pair_another_process_rotated() -> None:
    server = FakeTokenServer(valid_refresh=set())
    rotated_elsewhere = fresh("their-at", "their-rt")

    class SharedStore(MemoryStore):
        """The other process saved its pair after we read ours (a store without a shared lock)."""

        loads = 0

        def load(self) -> Token | None:
            self.loads += 1
            return expired("rt-0") if self.loads == 1 else rotated_elsewhere

    session = Session(server.client(), SharedStore())
    assert session.token().access_token == "their-at"
    assert server.refresh_calls == 1


def test_invalid_grant_with_nothing_newer_in_the_store_is_raised() -> None:
    server = FakeTokenServer(valid_refresh=set())
    with pytest.raises(InvalidGrant):
        session_with(server, expired()).token()


def test_no_refresh_token_means_login_required() -> None:
    with pytest.raises(LoginRequired):
        session_with(FakeTokenServer(), None).token()


def test_a_client_credentials_session_grants_anew_instead_of_refreshing() -> None:
    server = FakeTokenServer(omit_refresh=True)
    session = session_with(server, None, client_credentials=True, scope="read")
    assert session.token().access_token == "at-1"
    assert server.forms[0] == {
        "client_id": "cid",
        "client_secret": "csecret",
        "grant_type": "client_credentials",
        "scope": "read",
    }


def test_basic_client_authentication_is_sent_in_the_header() -> None:
    server = FakeTokenServer()
    client = server.client(auth_method="basic")
    client.refresh("rt-0")
    assert server.headers[0]["authorization"] == "Basic Y2lkOmNzZWNyZXQ="  # base64("cid:csecret")
    assert "client_secret" not in server.forms[0]


def test_sixteen_threads_with_one_expired_token_refresh_once() -> None:
    server = FakeTokenServer()
    real = server.handle

    def slow(request: httpx.Request) -> httpx.Response:
        time.sleep(0.05)
        return real(request)

    server.handle = slow  # type: ignore[method-assign]
    session = session_with(server, expired())
    barrier = threading.Barrier(16)
    seen: list[str] = []

    def worker() -> None:
        barrier.wait()
        seen.append(session.token().access_token)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.refresh_calls == 1 and seen == ["at-1"] * 16


def test_threads_queued_behind_a_failed_refresh_get_its_error_without_retrying() -> None:
    server = FakeTokenServer()
    real = server.handle

    def slow_refusal(request: httpx.Request) -> httpx.Response:
        time.sleep(0.05)
        real(request)
        return error(401, "invalid_client")

    server.handle = slow_refusal  # type: ignore[method-assign]
    session = session_with(server, expired())
    barrier = threading.Barrier(16)
    errors: list[Exception] = []

    def worker() -> None:
        barrier.wait()
        try:
            session.token()
        except InvalidClient as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 16 and len(server.forms) == 1
    assert "csecret" not in repr(session.client.credentials)


async def test_two_hundred_tasks_with_one_expired_token_refresh_once() -> None:
    server = FakeTokenServer(delay=0.05)
    session = session_with(server, expired())
    tokens = await asyncio.gather(*(session.atoken() for _ in range(200)))
    assert server.refresh_calls == 1 and {t.access_token for t in tokens} == {"at-1"}


async def test_a_cancelled_caller_does_not_cancel_the_refresh_in_flight() -> None:
    server = FakeTokenServer(delay=0.1)
    session = session_with(server, expired())
    first = asyncio.create_task(session.atoken())
    await asyncio.sleep(0.02)
    second = asyncio.create_task(session.atoken())
    first.cancel()
    assert (await second).access_token == "at-1"
    assert server.refresh_calls == 1 and session.current is not None and session.current.access_token == "at-1"


async def test_a_failed_refresh_releases_every_waiter_with_the_error() -> None:
    server = FakeTokenServer(delay=0.05)
    server.script = [error(401, "invalid_client")]
    session = session_with(server, expired())
    results = await asyncio.gather(*(session.atoken() for _ in range(20)), return_exceptions=True)
    assert all(isinstance(r, InvalidClient) for r in results)
    assert len(server.forms) == 1


def test_a_401_refreshes_once_and_retries_the_request_once() -> None:
    server = FakeTokenServer()
    session = session_with(server, fresh("revoked-at"))
    api = api_transport(lambda token: token != "revoked-at")
    with httpx.Client(auth=HttpxAuth(session), transport=api) as http:
        r = http.post("http://api.test/", content=b"payload")
    assert r.status_code == 200 and r.json() == {"token": "at-1", "body": "payload"}
    assert server.refresh_calls == 1 and len(r.history) == 1


def test_a_401_with_a_token_another_caller_already_refreshed_reuses_it() -> None:
    server = FakeTokenServer()
    session = session_with(server, fresh("old-at"))
    old = session.token()
    session.store.save(fresh("new-at", "rt-9"))
    session._adopt(fresh("new-at", "rt-9"))  # another thread refreshed meanwhile
    assert session.token(rejected=old).access_token == "new-at"
    assert server.refresh_calls == 0


def test_a_second_401_is_returned_not_retried_again() -> None:
    server = FakeTokenServer()
    session = session_with(server, fresh())
    with httpx.Client(auth=HttpxAuth(session), transport=api_transport(lambda _: False)) as http:
        r = http.get("http://api.test/")
    assert r.status_code == 401 and server.refresh_calls == 1 and len(r.history) == 1


async def test_the_same_auth_drives_an_async_client() -> None:
    server = FakeTokenServer()
    session = session_with(server, expired())
    async with httpx.AsyncClient(auth=HttpxAuth(session), transport=api_transport(lambda t: t == "at-1")) as http:
        rs = await asyncio.gather(*(http.get("http://api.test/") for _ in range(20)))
    assert {r.status_code for r in rs} == {200} and server.refresh_calls == 1


def test_a_user_store_only_needs_load_save_clear_and_lock() -> None:
    class DictStore:
        def __init__(self) -> None:
            self.data: dict[str, Token] = {"t": expired()}

        def load(self) -> Token | None:
            return self.data.get("t")

        def save(self, token: Token) -> None:
            self.data["t"] = token

        def clear(self) -> None:
            self.data.clear()

        def lock(self) -> AbstractContextManager[object]:
            return nullcontext()

    store = DictStore()
    session = Session(FakeTokenServer().client(), store)
    assert session.token().access_token == "at-1" and store.data["t"].refresh_token == "rt-1"


def test_logout_revokes_the_refresh_token_and_clears_the_store() -> None:
    server = FakeTokenServer()
    session = session_with(server, fresh())
    session.logout()
    assert server.forms[-1] == {
        "client_id": "cid",
        "client_secret": "csecret",
        "token": "rt-0",
        "token_type_hint": "refresh_token",
    }
    assert session.store.load() is None and session.current is None


async def test_tasks_sharing_a_file_store_refresh_once_and_save_before_use(tmp_path: Path) -> None:
    server = FakeTokenServer(delay=0.05)
    store = JSONFileStore(tmp_path / "token.json")
    store.save(expired())
    session = Session(server.client(), store)
    tokens = await asyncio.gather(*(session.atoken() for _ in range(50)))
    assert server.refresh_calls == 1 and {t.access_token for t in tokens} == {"at-1"}
    assert JSONFileStore(tmp_path / "token.json").load() == tokens[0]


async def test_async_invalid_grant_rereads_the_store_for_a_pair_rotated_elsewhere() -> None:
    server = FakeTokenServer(valid_refresh={"their-rt"})

    class SharedStore(MemoryStore):
        loads = 0

        def load(self) -> Token | None:
            self.loads += 1
            return expired("rt-0") if self.loads == 1 else expired("their-rt")

    session = Session(server.client(), SharedStore())
    token = await session.atoken()
    assert token.access_token == "at-1" and server.refresh_calls == 2
    assert [f["refresh_token"] for f in server.forms] == ["rt-0", "their-rt"]
