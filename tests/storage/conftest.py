"""One contract suite, every backend: each test here runs on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tokenturn.core.models import AccessToken, Client, Family, Issue, RefreshToken, Rotation, User
from tokenturn.storage import Storage, open_storage

NOW = 1_800_000_000


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'contract.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
async def storage(storage_url: str) -> AsyncIterator[Storage]:
    store = open_storage(storage_url)
    await store.migrate()
    yield store
    await store.close()


def h() -> bytes:
    """A fresh 32-byte token hash."""
    return secrets.token_bytes(32)


@dataclass
class Grant:
    """A password grant as stored: family, its first refresh token and access token."""

    family: Family
    refresh: RefreshToken
    access: AccessToken


async def make_client(storage: Storage, client_id: str | None = None, *, public: bool = False) -> Client:
    client = Client(
        client_id or f"c-{secrets.token_hex(6)}",
        "contract client",
        None if public else h(),
        frozenset({"password", "refresh_token"}),
        frozenset({"read", "write"}),
        False,
        NOW,
    )
    await storage.create_client(client)
    return client


async def make_user(storage: Storage, username: str | None = None) -> User:
    user = User(username or f"u-{secrets.token_hex(6)}", "$argon2id$v=19$fake", False, NOW)
    await storage.create_user(user)
    return user


async def make_grant(
    storage: Storage, client: Client, user: User, *, now: int = NOW, ttl: int = 3600, family_ttl: int = 86400
) -> Grant:
    family = Family(f"f-{secrets.token_hex(8)}", client.client_id, user.username, "read write", now, now + family_ttl)
    refresh = RefreshToken(h(), family.family_id, client.client_id, user.username, "read write", now, now + 7200,
                           now + family_ttl)  # fmt: skip
    access = AccessToken(h(), client.client_id, user.username, "read write", now, now + ttl, family.family_id)
    await storage.save_issue(Issue("plain-access", access, family, "plain-refresh", refresh))
    return Grant(family, refresh, access)


def rotation_of(grant: Grant, presented: bytes, now: float = NOW + 10) -> Rotation:
    """A rotation of ``presented`` with fresh successors in ``grant``'s family."""
    f = grant.family
    refresh = RefreshToken(h(), f.family_id, f.client_id, f.username, f.scope, int(now), int(now) + 7200, f.expires_at)
    access = AccessToken(h(), f.client_id, f.username, "read", int(now), int(now) + 3600, f.family_id)
    return Rotation(presented, now, "plain-access", access, "plain-refresh", refresh)
