"""PostgreSQL for several stateless nodes: asyncpg, one pool per worker process.

Rotation (RFC 9700 §4.14.2, contract §1 "exactly one rotation") is ONE statement: a data-modifying
CTE that marks the presented refresh token used only if it is still unused and its family is not
revoked, and inserts the successors only if that update matched a row. It runs in one implicit
transaction and one round trip. Under READ COMMITTED a concurrent loser blocks on the row lock,
re-evaluates ``used_at IS NULL`` on the winner's committed row and updates nothing, so it inserts
nothing and learns it lost. Under SERIALIZABLE (CockroachDB) the loser gets 40001 instead; it is
retried, and the retry sees the row used.

Text never reaches the driver with a NUL or a lone surrogate (not valid UTF-8): PostgreSQL rejects
both, and a driver error must not become a 500. A lookup by such a key finds nothing; a write of one
is a :class:`StorageError`. Every connection failure or timeout is :class:`StorageUnavailable` (503),
with short timeouts so a dead database answers quickly. Options on the URL (removed before it is
handed to asyncpg): ``pool_max`` (per worker process, default 10), ``connect_timeout``, ``command_timeout``; any other
query parameter (``application_name``, ``search_path``) is sent as a server setting.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from tokenturn.core.models import AccessToken, Client, Issue, RefreshToken, Rotation, User
from tokenturn.storage.base import MAX_GRACE_SECONDS, Conflict, StorageError, StorageUnavailable

#: Key of the advisory lock that serializes migrations across nodes starting at once.
MIGRATION_LOCK = 0x746F6B656E7475  # "tokentu"
PURGE_LOCK = MIGRATION_LOCK + 1
_OPTIONS = {"pool_max": int, "connect_timeout": float, "command_timeout": float}
_MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at bigint NOT NULL)"
)
_RETRYABLE = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)
# SQLSTATE classes that mean "this value cannot be stored" (data exception, integrity, program limit
# such as an index entry over ~2.7 kB), not "the database is unavailable": retrying will not help.
_BAD_DATA = ("22", "23", "54")

_CLIENT_SELECT = "SELECT client_id, name, secret_hash, grant_types, scope, introspection, created_at FROM clients"

_REFRESH_SELECT = """
SELECT r.token_hash, r.family_id, f.client_id, f.username, f.scope, r.issued_at, r.expires_at,
       f.expires_at, r.used_at, f.revoked_at IS NOT NULL, COALESCE(u.disabled, false)
FROM refresh_tokens r
JOIN families f ON f.family_id = r.family_id
JOIN clients c ON c.client_id = f.client_id
LEFT JOIN users u ON u.username = f.username
WHERE r.token_hash = $1
"""

_ACCESS_SELECT = """
SELECT a.token_hash, a.client_id, a.username, a.scope, a.issued_at, a.expires_at, a.family_id,
       a.revoked_at IS NOT NULL OR COALESCE(f.revoked_at IS NOT NULL, false) OR COALESCE(u.disabled, false)
       OR (a.family_id IS NOT NULL AND f.family_id IS NULL)
FROM access_tokens a
JOIN clients c ON c.client_id = a.client_id
LEFT JOIN families f ON f.family_id = a.family_id
LEFT JOIN users u ON u.username = a.username
WHERE a.token_hash = $1
"""

_INSERT_ACCESS = "INSERT INTO access_tokens VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)"

# The conditional write and both inserts in one statement (see the module docstring).
_ROTATE = """
WITH used AS (
    UPDATE refresh_tokens SET used_at = $1
    WHERE token_hash = $2 AND used_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM families f
                      WHERE f.family_id = refresh_tokens.family_id AND f.revoked_at IS NOT NULL)
    RETURNING family_id
), new_refresh AS (
    INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at)
    SELECT $3, $4, $5, $6 FROM used
    RETURNING 1
), new_access AS (
    INSERT INTO access_tokens (token_hash, client_id, username, scope, issued_at, expires_at, family_id)
    SELECT $7, $8, $9, $10, $11, $12, $13 FROM used
    RETURNING 1
)
SELECT (SELECT count(*) FROM new_refresh) + (SELECT count(*) FROM new_access)
"""


def _client(row: Any) -> Client:
    return Client(row[0], row[1], row[2], frozenset(row[3].split()), frozenset(row[4].split()), row[5], row[6])


def _user(row: Any) -> User:
    return User(row[0], row[1], row[2], row[3])


def _storable(text: str | None) -> bool:
    """Whether PostgreSQL accepts ``text``: no NUL, and encodable as UTF-8 (no lone surrogates)."""
    if text is None:
        return True
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _require_storable(*texts: str | None) -> None:
    if not all(_storable(t) for t in texts):
        raise StorageError("a text value contains NUL or is not valid UTF-8")


def split_url(url: str) -> tuple[str, dict[str, Any]]:
    """The DSN for asyncpg and our own options taken off its query string."""
    parts = urlsplit(url)
    query, options = [], {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in _OPTIONS:
            try:
                options[name] = _OPTIONS[name](value)
            except ValueError:
                raise ValueError(f"TOKENTURN_DATABASE_URL: {name} must be a number") from None
        else:
            query.append((name, value))
    scheme = "postgresql" if parts.scheme == "postgres" else parts.scheme
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), parts.fragment)), options


class _Conflicting(StorageUnavailable):
    """A serialization failure or deadlock (SQLSTATE 40001/40P01): the statement may simply be retried."""


class PostgresStorage:
    """Every store protocol of :mod:`tokenturn.storage.base` on PostgreSQL."""

    def __init__(
        self,
        dsn: str,
        *,
        pool_max: int = 10,
        connect_timeout: float = 2.0,
        command_timeout: float = 5.0,
    ) -> None:
        if pool_max < 1:
            raise ValueError("TOKENTURN_DATABASE_URL: pool_max must be at least 1")
        self.dsn = dsn
        self._pool_max = pool_max
        self._connect_timeout, self._command_timeout = connect_timeout, command_timeout
        self._pool: asyncpg.Pool | None = None
        self._pid = 0
        self._pool_lock = asyncio.Lock()

    @classmethod
    def from_url(cls, url: str) -> PostgresStorage:
        dsn, options = split_url(url)
        return cls(dsn, **options)

    # -- connection ---------------------------------------------------------------------------
    async def _get_pool(self) -> asyncpg.Pool:
        # A forked worker must not share its parent's sockets.
        if self._pool is not None and self._pid == os.getpid():
            return self._pool
        async with self._pool_lock:
            if self._pool is None or self._pid != os.getpid():
                # min_size=0 at creation: the pool opens even while the database is down, and
                # fills on first use; a dead database is then a 503 per request, not a crash.
                self._pool = await asyncpg.create_pool(
                    self.dsn,
                    min_size=0,
                    max_size=self._pool_max,
                    timeout=self._connect_timeout,
                    command_timeout=self._command_timeout,
                    max_inactive_connection_lifetime=300.0,
                )
                self._pid = os.getpid()
        return self._pool

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection; driver failures become :class:`StorageUnavailable`/:class:`Conflict`."""
        try:
            pool = await self._get_pool()
            async with pool.acquire(timeout=self._connect_timeout + self._command_timeout) as conn:
                yield conn
        except asyncpg.UniqueViolationError:
            raise Conflict("a record with that key exists already") from None
        except _RETRYABLE as exc:
            raise _Conflicting(f"PostgreSQL failed: {type(exc).__name__}") from None
        except asyncpg.PostgresError as exc:
            # The class name only: PostgreSQL messages may quote values.
            if str(getattr(exc, "sqlstate", ""))[:2] in _BAD_DATA:
                raise StorageError(f"PostgreSQL refused the data: {type(exc).__name__}") from None
            raise StorageUnavailable(f"PostgreSQL failed: {type(exc).__name__}") from None
        except (asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            raise StorageUnavailable(f"PostgreSQL failed: {type(exc).__name__}") from None

    async def _execute(self, sql: str, *args: Any) -> str:
        async with self._conn() as conn:
            status: str = await conn.execute(sql, *args)
        return status

    async def _fetchrow(self, sql: str, *args: Any) -> Any:
        async with self._conn() as conn:
            return await conn.fetchrow(sql, *args)

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        async with self._conn() as conn:
            rows: list[Any] = await conn.fetch(sql, *args)
        return rows

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None and self._pid == os.getpid():
            try:
                await asyncio.wait_for(pool.close(), timeout=5)
            except Exception:  # pragma: no cover - a connection did not close in time
                pool.terminate()

    async def ping(self) -> None:
        await self._fetchrow("SELECT 1 FROM meta LIMIT 1")

    # -- schema -------------------------------------------------------------------------------
    async def migrate(self) -> list[str]:
        """Apply pending migrations in one transaction, serialized across nodes by an advisory lock.

        Nodes usually start on an up-to-date schema: that is one read and no lock. An engine without
        ``pg_advisory_xact_lock`` (older CockroachDB) migrates unlocked: run ``tokenturn migrate``
        once before starting its nodes.
        """
        scripts = sorted(
            (f.name, f.read_text("utf-8"))
            for f in resources.files("tokenturn.storage").joinpath("migrations", "postgres").iterdir()
            if f.name.endswith(".sql")
        )
        applied: list[str] = []
        async with self._conn() as conn:
            if {name for name, _ in scripts} <= await _applied(conn):
                return applied
            async with conn.transaction():
                with contextlib.suppress(asyncpg.UndefinedFunctionError):
                    async with conn.transaction():  # a savepoint: a missing function does not abort the rest
                        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                await conn.execute(_MIGRATIONS_TABLE)
                done = await _applied(conn)
                for name, sql in scripts:
                    if name in done:
                        continue
                    await conn.execute(sql)
                    await conn.execute("INSERT INTO schema_migrations VALUES ($1, $2)", name, int(time.time()))
                    applied.append(name)
        return applied

    async def secret_key(self, generate: bool) -> str | None:
        row = await self._fetchrow("SELECT value FROM meta WHERE key = 'secret_key'")
        if row is not None or not generate:
            return None if row is None else str(row[0])
        await self._execute(
            "INSERT INTO meta VALUES ('secret_key', $1) ON CONFLICT (key) DO NOTHING", secrets.token_hex(32)
        )
        row = await self._fetchrow("SELECT value FROM meta WHERE key = 'secret_key'")
        return str(row[0])

    # -- clients ------------------------------------------------------------------------------
    async def get_client(self, client_id: str) -> Client | None:
        if not _storable(client_id):
            return None
        row = await self._fetchrow(_CLIENT_SELECT + " WHERE client_id = $1", client_id)
        return None if row is None else _client(row)

    async def create_client(self, client: Client) -> None:
        grants, scope = " ".join(sorted(client.grant_types)), " ".join(sorted(client.scope))
        _require_storable(client.client_id, client.name, grants, scope)
        await self._execute(
            "INSERT INTO clients VALUES ($1, $2, $3, $4, $5, $6, $7)",
            client.client_id,
            client.name,
            client.secret_hash,
            grants,
            scope,
            client.introspection,
            client.created_at,
        )

    async def list_clients(self) -> list[Client]:
        rows = await self._fetch(_CLIENT_SELECT + " ORDER BY created_at, client_id")
        return [_client(r) for r in rows]

    async def delete_client(self, client_id: str) -> bool:
        if not _storable(client_id):
            return False
        async with self._conn() as conn, conn.transaction():
            deleted = await conn.fetchval("DELETE FROM clients WHERE client_id = $1 RETURNING 1", client_id)
            if deleted:
                await conn.execute(
                    "DELETE FROM refresh_tokens WHERE family_id IN "
                    "(SELECT family_id FROM families WHERE client_id = $1)",
                    client_id,
                )
                await conn.execute("DELETE FROM families WHERE client_id = $1", client_id)
                await conn.execute("DELETE FROM access_tokens WHERE client_id = $1", client_id)
        return bool(deleted)

    async def set_client_secret(self, client_id: str, secret_hash: bytes) -> bool:
        if not _storable(client_id):
            return False
        status = await self._execute(
            "UPDATE clients SET secret_hash = $1 WHERE client_id = $2 AND secret_hash IS NOT NULL",
            secret_hash,
            client_id,
        )
        return _count(status) > 0

    # -- users --------------------------------------------------------------------------------
    async def get_user(self, username: str) -> User | None:
        if not _storable(username):
            return None
        row = await self._fetchrow(
            "SELECT username, password_hash, disabled, created_at FROM users WHERE username = $1", username
        )
        return None if row is None else _user(row)

    async def create_user(self, user: User) -> None:
        _require_storable(user.username, user.password_hash)
        await self._execute(
            "INSERT INTO users VALUES ($1, $2, $3, $4)",
            user.username,
            user.password_hash,
            user.disabled,
            user.created_at,
        )

    async def list_users(self) -> list[User]:
        rows = await self._fetch("SELECT username, password_hash, disabled, created_at FROM users ORDER BY username")
        return [_user(r) for r in rows]

    async def set_user_disabled(self, username: str, disabled: bool) -> bool:
        if not _storable(username):
            return False
        status = await self._execute("UPDATE users SET disabled = $1 WHERE username = $2", disabled, username)
        return _count(status) > 0

    async def set_password_hash(self, username: str, password_hash: str) -> None:
        _require_storable(username, password_hash)
        await self._execute("UPDATE users SET password_hash = $1 WHERE username = $2", password_hash, username)

    # -- tokens -------------------------------------------------------------------------------
    @staticmethod
    def _access_args(a: AccessToken) -> tuple[Any, ...]:
        _require_storable(a.client_id, a.username, a.scope, a.family_id)
        return (a.token_hash, a.client_id, a.username, a.scope, a.issued_at, a.expires_at, a.family_id)

    async def save_issue(self, issue: Issue) -> None:
        access_args = self._access_args(issue.access)
        if issue.family is None and issue.refresh is None:
            await self._execute(_INSERT_ACCESS, *access_args)
            return
        async with self._conn() as conn, conn.transaction():
            if issue.family is not None:
                f = issue.family
                _require_storable(f.family_id, f.client_id, f.username, f.scope)
                await conn.execute(
                    "INSERT INTO families VALUES ($1, $2, $3, $4, $5, $6, NULL)",
                    f.family_id,
                    f.client_id,
                    f.username,
                    f.scope,
                    f.created_at,
                    f.expires_at,
                )
            if issue.refresh is not None:
                r = issue.refresh
                _require_storable(r.family_id)
                await conn.execute(
                    "INSERT INTO refresh_tokens (token_hash, family_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)",
                    r.token_hash,
                    r.family_id,
                    r.issued_at,
                    r.expires_at,
                )
            await conn.execute(_INSERT_ACCESS, *access_args)

    async def rotate(self, rotation: Rotation) -> bool:
        r = rotation.refresh
        _require_storable(r.family_id)
        args = (
            rotation.now, rotation.presented_hash,
            r.token_hash, r.family_id, r.issued_at, r.expires_at,
            *self._access_args(rotation.access),
        )  # fmt: skip
        for attempt in range(5):
            try:
                async with self._conn() as conn:
                    inserted = await conn.fetchval(_ROTATE, *args)
                return bool(inserted)
            except _Conflicting:  # pragma: no cover - SERIALIZABLE engines only (CockroachDB)
                await asyncio.sleep(0.002 * 2**attempt)
        raise StorageUnavailable("PostgreSQL failed: rotation kept conflicting")  # pragma: no cover

    async def get_refresh_token(self, token_hash: bytes) -> RefreshToken | None:
        row = await self._fetchrow(_REFRESH_SELECT, token_hash)
        if row is None:
            return None
        return RefreshToken(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9], row[10])

    async def get_access_token(self, token_hash: bytes) -> AccessToken | None:
        row = await self._fetchrow(_ACCESS_SELECT, token_hash)
        if row is None:
            return None
        return AccessToken(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7])

    async def revoke_family(self, family_id: str, now: int) -> bool:
        if not _storable(family_id):
            return False
        status = await self._execute(
            "UPDATE families SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL", now, family_id
        )
        return _count(status) > 0

    async def revoke_access_token(self, token_hash: bytes, now: int) -> bool:
        status = await self._execute(
            "UPDATE access_tokens SET revoked_at = $1 WHERE token_hash = $2 AND revoked_at IS NULL", now, token_hash
        )
        return _count(status) > 0

    async def purge(self, now: int, retention: int, batch: int = 1000) -> int:
        """Expired or revoked records past ``retention``; used refresh tokens live as long as their family."""
        cutoff = now - retention
        # A grace-window replay looks up the successor access token: keep it for the longest grace
        # window even with a zero retention, or a legitimate retry would look like reuse.
        access_cutoff = min(cutoff, now - MAX_GRACE_SECONDS)
        async with self._conn() as conn, conn.transaction():
            if not await _try_lock(conn, PURGE_LOCK):
                return 0  # another node is purging right now; two would only queue on the same rows
            n = _count(
                await conn.execute(
                    "DELETE FROM access_tokens WHERE token_hash IN (SELECT token_hash FROM access_tokens "
                    "WHERE expires_at < $1 OR revoked_at < $1 LIMIT $2)",
                    access_cutoff,
                    batch,
                )
            )
            n += _count(
                await conn.execute(
                    "DELETE FROM refresh_tokens WHERE token_hash IN (SELECT token_hash FROM refresh_tokens "
                    "WHERE expires_at < $1 AND used_at IS NULL LIMIT $2)",
                    cutoff,
                    batch,
                )
            )
            dead = [
                r[0]
                for r in await conn.fetch(
                    "SELECT family_id FROM families WHERE expires_at < $1 OR revoked_at < $1 LIMIT $2", cutoff, batch
                )
            ]
            if dead:
                for table in ("refresh_tokens", "access_tokens", "families"):
                    n += _count(await conn.execute(f"DELETE FROM {table} WHERE family_id = ANY($1::text[])", dead))  # noqa: S608
        return n


async def _try_lock(conn: asyncpg.Connection, key: int) -> bool:
    """``pg_try_advisory_xact_lock`` inside the caller's transaction; True on engines without it."""
    try:
        async with conn.transaction():  # a savepoint: a missing function must not abort the caller's
            return bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", key))
    except asyncpg.UndefinedFunctionError:  # pragma: no cover - older CockroachDB
        return True


async def _applied(conn: asyncpg.Connection) -> set[str]:
    """Migration names recorded in ``schema_migrations`` (none before the first migration)."""
    try:
        async with conn.transaction():  # a savepoint when nested: a missing table must not abort the caller's
            return {row[0] for row in await conn.fetch("SELECT version FROM schema_migrations")}
    except asyncpg.UndefinedTableError:
        return set()


def _count(status: str) -> int:
    """Rows affected, from a command tag such as ``UPDATE 1`` or ``DELETE 42``."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0
