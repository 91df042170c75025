"""Token stores: the JSON file is private, atomic and lockable; the public API is pinned."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest

import tokenturn.client
from tokenturn.client import JSONFileStore, MemoryStore, StoreError, TokenStore

from .fakes import fresh


def test_the_public_api_is_exactly_this() -> None:
    assert sorted(tokenturn.client.__all__) == sorted(
        [
            "SERVERS",
            "AccessDenied",
            "AccessToken",
            "ClientError",
            "Endpoints",
            "ErrorResponse",
            "HttpxAuth",
            "IntrospectionResponse",
            "InvalidClient",
            "InvalidGrant",
            "InvalidRequest",
            "InvalidScope",
            "InvalidToken",
            "JSONFileStore",
            "LoginRequired",
            "MemoryStore",
            "OAuthError",
            "Reply",
            "RequestsAuth",
            "RetryPolicy",
            "ServerError",
            "Session",
            "StoreError",
            "TemporarilyUnavailable",
            "Token",
            "TokenClient",
            "TokenStore",
            "TooManyRequests",
            "TransportError",
            "UnauthorizedClient",
            "UnexpectedResponse",
            "UnsupportedGrantType",
            "UnsupportedTokenType",
        ]
    )
    for name in tokenturn.client.__all__:
        assert getattr(tokenturn.client, name) is not None


def test_the_package_ships_type_information() -> None:
    assert (Path(tokenturn.__file__).parent / "py.typed").exists()


def test_both_stores_satisfy_the_protocol(tmp_path: Path) -> None:
    assert isinstance(MemoryStore(), TokenStore)
    assert isinstance(JSONFileStore(tmp_path / "t.json"), TokenStore)


def test_the_file_store_round_trips_and_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    store = JSONFileStore(tmp_path / "sub" / "token.json")
    assert store.load() is None
    token = fresh()
    store.save(token)
    assert store.load() == token
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    store.clear()
    assert store.load() is None
    assert [p.name for p in store.path.parent.iterdir()] == ["token.json"]  # no temp files left behind


def test_a_file_that_is_not_a_token_file_is_a_store_error_without_its_content(tmp_path: Path) -> None:
    path = tmp_path / "token.json"
    path.write_text('{"secret": "tt_rt_do-not-print"')
    with pytest.raises(StoreError) as caught:
        JSONFileStore(path).load()
    assert "tt_rt" not in str(caught.value)


def test_the_file_lock_excludes_a_second_holder_even_in_one_process(tmp_path: Path) -> None:
    store = JSONFileStore(tmp_path / "token.json", lock_timeout=0.2)
    holder_has_it, release = threading.Event(), threading.Event()

    def holder() -> None:
        with store.lock():
            holder_has_it.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    holder_has_it.wait(5)
    started = time.monotonic()
    with pytest.raises(StoreError, match="timed out"):
        with store.lock():
            pass
    assert time.monotonic() - started >= 0.15
    release.set()
    thread.join()
    with store.lock():
        pass
