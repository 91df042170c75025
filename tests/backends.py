"""Real PostgreSQL and Redis for the tests, found or skipped LOUDLY (imported by ``tests/conftest.py``).

The PostgreSQL database ``test`` is shared by concurrent test runs (CI, other developers), so each
session gets its own database ``tt_<random>`` (dropped at the end) and each test its own schema in
it (``search_path`` on the URL). Redis keys get a per-session ``key_prefix``. When a server is not
reachable its tests are skipped, and the terminal summary says so in capitals: ``make test`` still
passes on a laptop without them, but nobody mistakes that for a green PostgreSQL run.

``TOKENTURN_TEST_PG_URL`` / ``TOKENTURN_TEST_REDIS_URL`` point the tests elsewhere.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pytest

T = TypeVar("T")

PG_ADMIN_URL = os.environ.get("TOKENTURN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_TEST_URL = os.environ.get("TOKENTURN_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

#: backend name -> why its tests were skipped (for the terminal summary).
SKIPPED: dict[str, str] = {}
SKIP_COUNTS: dict[str, int] = {}


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a fresh loop in a helper thread (safe inside async tests)."""
    result: list[Any] = []

    def target() -> None:
        try:
            result.append(("ok", asyncio.run(make())))  # type: ignore[arg-type]
        except BaseException as exc:
            result.append(("err", exc))

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    kind, value = result[0]
    if kind == "err":
        raise value
    return value  # type: ignore[no-any-return]


def with_database(url: str, database: str, **query: str) -> str:
    parts = urlsplit(url)
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, q, ""))


def skip_backend(name: str, reason: str) -> None:
    SKIPPED.setdefault(name, reason)
    SKIP_COUNTS[name] = SKIP_COUNTS.get(name, 0) + 1
    pytest.skip(f"{name} not reachable: {reason}")


async def pg_admin(sql: str, url: str = PG_ADMIN_URL) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=3)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this session; its URL (no search_path)."""
    name = f"tt_{secrets.token_hex(6)}"
    try:
        run_sync(lambda: pg_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        SKIPPED.setdefault("PostgreSQL", f"{PG_ADMIN_URL.split('@')[-1]}: {type(exc).__name__}: {exc}")
        yield ""
        return
    try:
        yield with_database(PG_ADMIN_URL, name)
    finally:
        run_sync(lambda: pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def new_schema_url(pg_database: str, **query: str) -> str:
    """A fresh, empty schema in the session database, as a ``TOKENTURN_DATABASE_URL``."""
    if not pg_database:
        skip_backend("PostgreSQL", SKIPPED.get("PostgreSQL", "unknown"))
    schema = f"s_{secrets.token_hex(6)}"
    run_sync(lambda: pg_admin(f'CREATE SCHEMA "{schema}"', pg_database))
    database = urlsplit(pg_database).path.lstrip("/")
    return with_database(pg_database, database, search_path=schema, **{"pool_max": "4", **query})


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """A fresh, empty schema of this test's own (see :func:`new_schema_url`)."""
    return new_schema_url(pg_database)


@pytest.fixture(scope="session")
def redis_available() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except Exception as exc:
        SKIPPED.setdefault("Redis", f"{REDIS_TEST_URL.split('@')[-1]}: {type(exc).__name__}: {exc}")
        return ""
    finally:
        client.close()
    return REDIS_TEST_URL


def new_redis_url(redis_available: str) -> str:
    """The Redis URL with a key prefix of its own (concurrent runs share the server)."""
    if not redis_available:
        skip_backend("Redis", SKIPPED.get("Redis", "unknown"))
    sep = "&" if "?" in redis_available else "?"
    return f"{redis_available}{sep}key_prefix=tt-{secrets.token_hex(6)}:"


@pytest.fixture
def redis_url(redis_available: str) -> str:
    return new_redis_url(redis_available)


#: Set (CI does, in .ci/run) to turn a missing PostgreSQL or Redis into a failed run.
REQUIRE_ENV = "TOKENTURN_REQUIRE_BACKENDS"
REQUIRED = ("PostgreSQL", "Redis")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say in capitals which real backends were NOT exercised, and why."""
    for name, reason in SKIPPED.items():
        count = SKIP_COUNTS.get(name, 0)
        terminalreporter.write_sep("!", f"{name.upper()} NOT TESTED", red=True, bold=True)
        terminalreporter.write_line(f"{count} test(s) needing {name} were SKIPPED: {reason}", red=True, bold=True)
        terminalreporter.write_line(f"Start it (see .ci/run); {REQUIRE_ENV}=1 makes this a failure.", red=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    missing = [name for name in REQUIRED if SKIP_COUNTS.get(name)]
    if os.environ.get(REQUIRE_ENV) == "1" and missing and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


async def pg_connect(database_url: str) -> Any:
    """A plain asyncpg connection to a ``TOKENTURN_DATABASE_URL`` (our pool options taken off)."""
    import asyncpg

    from tokenturn.storage.postgres import split_url

    dsn, _ = split_url(database_url)
    return await asyncpg.connect(dsn, timeout=5)
