"""The client/user store contract and the lifecycle: CRUD, conflicts, schema, key, bad text, outages."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from tokenturn.core.models import Client, User
from tokenturn.storage import Conflict, Storage, StorageUnavailable, open_storage

from .conftest import NOW, h, make_client, make_user


async def test_client_round_trips(storage: Storage) -> None:
    client = Client("c-1", "name", h(), frozenset({"password", "refresh_token"}), frozenset({"read"}), True, NOW)
    await storage.create_client(client)
    assert await storage.get_client("c-1") == client
    assert await storage.get_client("c-2") is None


async def test_public_client_has_no_secret_and_keeps_none(storage: Storage) -> None:
    client = await make_client(storage, public=True)
    stored = await storage.get_client(client.client_id)
    assert stored is not None and stored.is_public
    assert await storage.set_client_secret(client.client_id, h()) is False
    stored = await storage.get_client(client.client_id)
    assert stored is not None and stored.is_public


async def test_set_client_secret_replaces_the_hash(storage: Storage) -> None:
    client = await make_client(storage)
    new = h()
    assert await storage.set_client_secret(client.client_id, new) is True
    stored = await storage.get_client(client.client_id)
    assert stored is not None and stored.secret_hash == new
    assert await storage.set_client_secret("missing", new) is False


async def test_list_clients_in_creation_order(storage: Storage) -> None:
    a = await make_client(storage, "b-second-by-name")
    b = Client("a-first-by-name", "x", None, frozenset({"password"}), frozenset({"read"}), False, NOW + 1)
    await storage.create_client(b)
    assert [c.client_id for c in await storage.list_clients()] == [a.client_id, b.client_id]


async def test_delete_client(storage: Storage) -> None:
    client = await make_client(storage)
    assert await storage.delete_client(client.client_id) is True
    assert await storage.get_client(client.client_id) is None
    assert await storage.delete_client(client.client_id) is False


async def test_duplicate_client_id_is_a_conflict(storage: Storage) -> None:
    await make_client(storage, "same")
    with pytest.raises(Conflict):
        await make_client(storage, "same")


async def test_users_round_trip_and_list_by_name(storage: Storage) -> None:
    await make_user(storage, "zed")
    alice = await make_user(storage, "alice")
    assert await storage.get_user("alice") == alice
    assert await storage.get_user("nobody") is None
    assert [u.username for u in await storage.list_users()] == ["alice", "zed"]


async def test_duplicate_username_is_a_conflict(storage: Storage) -> None:
    await make_user(storage, "bob")
    with pytest.raises(Conflict):
        await make_user(storage, "bob")


async def test_disable_and_rehash_a_user(storage: Storage) -> None:
    await make_user(storage, "carol")
    assert await storage.set_user_disabled("carol", True) is True
    assert await storage.set_user_disabled("nobody", True) is False
    await storage.set_password_hash("carol", "$argon2id$v=19$new")
    assert await storage.get_user("carol") == User("carol", "$argon2id$v=19$new", True, NOW)


async def test_unicode_names_round_trip(storage: Storage) -> None:
    await make_user(storage, "zoë-日本")
    assert await storage.get_user("zoë-日本") is not None


@pytest.mark.parametrize("bad", ["a\x00b", "\udcff", "x\ud800"])
async def test_lookups_by_nul_or_non_utf8_text_find_nothing(storage: Storage, storage_url: str, bad: str) -> None:
    """NUL and lone surrogates (invalid UTF-8) can never be stored, so they find nothing and raise nothing."""
    await make_client(storage, "a")
    await make_user(storage, "a")
    assert await storage.get_client(bad) is None
    assert await storage.get_user(bad) is None
    assert await storage.set_user_disabled(bad, True) is False
    assert await storage.revoke_family(bad, NOW) is False


async def test_migrate_is_idempotent(storage: Storage) -> None:
    assert await storage.migrate() == []


async def test_concurrent_migrations_apply_each_script_once(storage_url: str) -> None:
    """Several nodes starting at once: every script is applied by exactly one of them."""
    stores = [open_storage(storage_url) for _ in range(4)]
    try:
        applied = await asyncio.gather(*(s.migrate() for s in stores))
        names = [name for one in applied for name in one]
        assert names and len(names) == len(set(names))
        await stores[0].ping()
    finally:
        for s in stores:
            await s.close()


async def test_secret_key_is_generated_once(storage: Storage) -> None:
    assert await storage.secret_key(generate=False) is None
    key = await storage.secret_key(generate=True)
    assert key is not None and len(key) >= 32
    assert await storage.secret_key(generate=True) == key
    assert await storage.secret_key(generate=False) == key


async def test_ping_answers_on_a_migrated_store(storage: Storage) -> None:
    await storage.ping()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def unreachable_url(storage_url: str, tmp_path: Path) -> str:
    if storage_url.startswith("sqlite"):
        blocker = tmp_path / "not-a-directory"
        blocker.write_text("x")
        return f"sqlite:///{blocker / 'db.sqlite'}"
    return f"postgresql://postgres@127.0.0.1:{_closed_port()}/test?connect_timeout=1"


async def test_an_unreachable_database_is_storage_unavailable(unreachable_url: str) -> None:
    store = open_storage(unreachable_url)
    try:
        with pytest.raises(StorageUnavailable):
            await store.ping()
        with pytest.raises(StorageUnavailable):
            await store.get_client("c")
        with pytest.raises(StorageUnavailable):
            await store.get_refresh_token(h())
    finally:
        await store.close()


async def test_a_value_the_database_cannot_store_is_a_storage_error_not_unavailable(storage: Storage) -> None:
    """A write the backend refuses is a :class:`StorageError` (never a raw driver error); lookups still work."""
    from tokenturn.storage import StorageError

    huge = "\u65e5" * 5000  # over PostgreSQL's btree entry limit; SQLite takes it
    refused: StorageError | None = None
    try:
        await make_user(storage, huge)
    except StorageError as exc:
        refused = exc
    if refused is None:
        assert await storage.get_user(huge) is not None
    assert not isinstance(refused, StorageUnavailable)
    assert await storage.get_user(huge[:10]) is None
