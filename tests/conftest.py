"""Fixtures shared by every test directory: real SQLite files, the app in process, a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

# Real PostgreSQL/Redis fixtures and the loud summary of skipped backends.
from tests.backends import (  # noqa: F401
    pg_database,
    pg_url,
    pytest_sessionfinish,
    pytest_terminal_summary,
    redis_available,
    redis_url,
)
from tokenturn.config import Settings, load_settings
from tokenturn.server.app import TokenturnApp
from tokenturn.testing import FAST_ARGON2, FakeClock, Seeded, seed

SECRET_KEY = "k" * 64


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tokenturn.db'}"


@pytest.fixture
def settings(db_url: str) -> Settings:
    return load_settings({"TOKENTURN_DATABASE_URL": db_url, "TOKENTURN_SECRET_KEY": SECRET_KEY, **FAST_ARGON2})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def app(settings: Settings, clock: FakeClock) -> AsyncIterator[TokenturnApp]:
    application = TokenturnApp(settings, clock=clock)
    await application.startup()
    yield application
    await application.shutdown()


@pytest.fixture
async def http(app: TokenturnApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("198.51.100.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://tokenturn.test") as client:
        yield client


@pytest.fixture
async def seeded(app: TokenturnApp, settings: Settings) -> Seeded:
    """A confidential client allowed password + refresh_token, and its user."""
    return await seed(app.services.storage, settings, grant_types=frozenset({"password", "refresh_token"}))
