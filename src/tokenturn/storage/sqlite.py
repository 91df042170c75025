"""The embedded default: one SQLite file in WAL mode, shared by every worker process.

Why the methods are ``async`` yet call sqlite3 directly on the event loop: every statement is
an in-process B-tree lookup of a few microseconds, far cheaper than a hop to a thread pool, and
no ``await`` inside a transaction means no other task can interleave with it.

Writers from several worker processes queue on an ``flock`` of ``<db>.lock`` held around
``BEGIN IMMEDIATE … COMMIT``. SQLite's own busy handler would sleep 1, 2, 5, 10… ms after a
collision (what caps django-oauth-toolkit near 180 refreshes/s here); a blocked ``flock`` wakes
the next writer the moment the lock is released. ``busy_timeout`` stays as a safety net for
writers that do not take the lock (another program opening the file).

Durability: ``synchronous=NORMAL`` in WAL mode. A committed rotation survives a crash or
SIGKILL of the server (the WAL is in the OS page cache); on power loss the transactions committed
since the most recent checkpoint may be rolled back (SQLite docs, "WAL mode ... synchronous=NORMAL").
Set ``?synchronous=FULL`` on the URL to fsync every commit; ``?timeout=SECONDS`` bounds the wait for
the write lock (default 10) before a request is answered 503.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tokenturn.core.models import AccessToken, Client, Issue, RefreshToken, Rotation, User
from tokenturn.storage.base import MAX_GRACE_SECONDS, Conflict, StorageUnavailable

_SYNC_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")

_REFRESH_SELECT = """
SELECT r.token_hash, r.family_id, f.client_id, f.username, f.scope, r.issued_at, r.expires_at,
       f.expires_at, r.used_at, f.revoked_at IS NOT NULL, COALESCE(u.disabled, 0)
FROM refresh_tokens r
JOIN families f ON f.family_id = r.family_id
JOIN clients c ON c.client_id = f.client_id
LEFT JOIN users u ON u.username = f.username
WHERE r.token_hash = ?
"""

_ACCESS_SELECT = """
SELECT a.token_hash, a.client_id, a.username, a.scope, a.issued_at, a.expires_at, a.family_id,
       a.revoked_at IS NOT NULL OR COALESCE(f.revoked_at IS NOT NULL, 0) OR COALESCE(u.disabled, 0)
       OR (a.family_id IS NOT NULL AND f.family_id IS NULL)
FROM access_tokens a
JOIN clients c ON c.client_id = a.client_id
LEFT JOIN families f ON f.family_id = a.family_id
LEFT JOIN users u ON u.username = a.username
WHERE a.token_hash = ?
"""


_pid = os.getpid()


def _after_fork() -> None:
    global _pid
    _pid = os.getpid()


# Cheaper than a getpid() system call on every statement: a forked worker learns its pid once.
os.register_at_fork(after_in_child=_after_fork)


def _storable(text: str) -> bool:
    """Text SQLite can hold: a lone surrogate (from a command line, never from HTTP) can match nothing."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _client(row: Any) -> Client:
    return Client(row[0], row[1], row[2], frozenset(row[3].split()), frozenset(row[4].split()), bool(row[5]), row[6])


def path_from_url(url: str) -> tuple[str, dict[str, str]]:
    """``sqlite:///rel.db`` -> ``rel.db``; ``sqlite:////abs.db`` -> ``/abs.db``; query = options."""
    parts = urlsplit(url)
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path:
        raise ValueError("TOKENTURN_DATABASE_URL: the SQLite URL names no file")
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    return path, options


class SQLiteStorage:
    """Every store protocol of :mod:`tokenturn.storage.base` on one SQLite file."""

    def __init__(self, path: str, *, synchronous: str = "NORMAL", busy_timeout_ms: int = 10_000) -> None:
        if synchronous.upper() not in _SYNC_LEVELS:
            raise ValueError(f"synchronous must be one of {_SYNC_LEVELS}")
        self.path = path
        self._synchronous = synchronous.upper()
        self._busy_timeout_ms = busy_timeout_ms
        self._conn: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self._pid = 0

    @classmethod
    def from_url(cls, url: str) -> SQLiteStorage:
        path, options = path_from_url(url)
        try:
            timeout_ms = int(float(options.get("timeout", "10")) * 1000)
        except ValueError:
            raise ValueError("TOKENTURN_DATABASE_URL: ?timeout= must be a number of seconds") from None
        return cls(path, synchronous=options.get("synchronous", "NORMAL"), busy_timeout_ms=timeout_ms)

    # -- connection ---------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        # A forked worker must not reuse its parent's connection or lock descriptor.
        if self._conn is not None and self._pid == _pid:
            return self._conn
        try:
            parent = Path(self.path).parent
            parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=self._busy_timeout_ms / 1000,
                cached_statements=256,
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("PRAGMA foreign_keys=OFF")
            conn.execute("PRAGMA temp_store=MEMORY")
            self._lock_fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except (sqlite3.Error, OSError) as exc:
            raise StorageUnavailable(f"cannot open the SQLite database: {type(exc).__name__}") from None
        self._conn, self._pid = conn, _pid
        return conn

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = self._connect()
        try:
            yield conn
        except sqlite3.DatabaseError as exc:
            raise StorageUnavailable(f"SQLite read failed: {exc.sqlite_errorname}") from None

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE … COMMIT`` under the cross-process writer lock; rollback on error."""
        conn = self._connect()
        assert self._lock_fd is not None
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            raise Conflict("a record with that key exists already") from exc
        except sqlite3.DatabaseError as exc:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise StorageUnavailable(f"SQLite write failed: {exc.sqlite_errorname}") from None
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    async def close(self) -> None:
        if self._conn is not None and self._pid == _pid:
            self._conn.close()
        if self._lock_fd is not None and self._pid == _pid:
            os.close(self._lock_fd)
        self._conn, self._lock_fd = None, None

    async def ping(self) -> None:
        with self._read() as conn:
            conn.execute("SELECT 1 FROM meta LIMIT 1").fetchall()

    # -- schema -------------------------------------------------------------------------------
    async def migrate(self) -> list[str]:
        scripts = sorted(
            (f.name, f.read_text("utf-8"))
            for f in resources.files("tokenturn.storage").joinpath("migrations", "sqlite").iterdir()
            if f.name.endswith(".sql")
        )
        applied: list[str] = []
        with self._write() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for name, sql in scripts:
                if name in done:
                    continue
                for statement in _split_sql(sql):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, int(time.time())))
                applied.append(name)
        return applied

    async def secret_key(self, generate: bool) -> str | None:
        with self._read() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'secret_key'").fetchone()
        if row is not None or not generate:
            return None if row is None else str(row[0])
        with self._write() as conn:
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('secret_key', ?)", (secrets.token_hex(32),))
            row = conn.execute("SELECT value FROM meta WHERE key = 'secret_key'").fetchone()
        return str(row[0])

    # -- clients ------------------------------------------------------------------------------
    async def get_client(self, client_id: str) -> Client | None:
        if not _storable(client_id):
            return None
        with self._read() as conn:
            row = conn.execute(
                "SELECT client_id, name, secret_hash, grant_types, scope, introspection, created_at "
                "FROM clients WHERE client_id = ?",
                (client_id,),
            ).fetchone()
        return None if row is None else _client(row)

    async def create_client(self, client: Client) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO clients VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    client.client_id,
                    client.name,
                    client.secret_hash,
                    " ".join(sorted(client.grant_types)),
                    " ".join(sorted(client.scope)),
                    int(client.introspection),
                    client.created_at,
                ),
            )

    async def list_clients(self) -> list[Client]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT client_id, name, secret_hash, grant_types, scope, introspection, created_at "
                "FROM clients ORDER BY created_at, client_id"
            ).fetchall()
        return [_client(r) for r in rows]

    async def delete_client(self, client_id: str) -> bool:
        if not _storable(client_id):
            return False
        with self._write() as conn:
            deleted = conn.execute("DELETE FROM clients WHERE client_id = ?", (client_id,)).rowcount
            if deleted:
                conn.execute(
                    "DELETE FROM refresh_tokens WHERE family_id IN "
                    "(SELECT family_id FROM families WHERE client_id = ?)",
                    (client_id,),
                )
                conn.execute("DELETE FROM families WHERE client_id = ?", (client_id,))
                conn.execute("DELETE FROM access_tokens WHERE client_id = ?", (client_id,))
        return bool(deleted)

    async def set_client_secret(self, client_id: str, secret_hash: bytes) -> bool:
        if not _storable(client_id):
            return False
        with self._write() as conn:
            n = conn.execute(
                "UPDATE clients SET secret_hash = ? WHERE client_id = ? AND secret_hash IS NOT NULL",
                (secret_hash, client_id),
            ).rowcount
        return bool(n)

    # -- users --------------------------------------------------------------------------------
    async def get_user(self, username: str) -> User | None:
        if not _storable(username):
            return None
        with self._read() as conn:
            row = conn.execute(
                "SELECT username, password_hash, disabled, created_at FROM users WHERE username = ?",
                (username,),
            ).fetchone()
        return None if row is None else User(row[0], row[1], bool(row[2]), row[3])

    async def create_user(self, user: User) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO users VALUES (?, ?, ?, ?)",
                (user.username, user.password_hash, int(user.disabled), user.created_at),
            )

    async def list_users(self) -> list[User]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT username, password_hash, disabled, created_at FROM users ORDER BY username"
            ).fetchall()
        return [User(r[0], r[1], bool(r[2]), r[3]) for r in rows]

    async def set_user_disabled(self, username: str, disabled: bool) -> bool:
        if not _storable(username):
            return False
        with self._write() as conn:
            n = conn.execute("UPDATE users SET disabled = ? WHERE username = ?", (int(disabled), username)).rowcount
        return bool(n)

    async def set_password_hash(self, username: str, password_hash: str) -> None:
        with self._write() as conn:
            conn.execute("UPDATE users SET password_hash = ? WHERE username = ?", (password_hash, username))

    # -- tokens -------------------------------------------------------------------------------
    @staticmethod
    def _insert_access(conn: sqlite3.Connection, a: AccessToken) -> None:
        conn.execute(
            "INSERT INTO access_tokens VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
            (a.token_hash, a.client_id, a.username, a.scope, a.issued_at, a.expires_at, a.family_id),
        )

    async def save_issue(self, issue: Issue) -> None:
        with self._write() as conn:
            if issue.family is not None:
                f = issue.family
                conn.execute(
                    "INSERT INTO families VALUES (?, ?, ?, ?, ?, ?, NULL)",
                    (f.family_id, f.client_id, f.username, f.scope, f.created_at, f.expires_at),
                )
            if issue.refresh is not None:
                r = issue.refresh
                conn.execute(
                    "INSERT INTO refresh_tokens VALUES (?, ?, ?, ?, NULL)",
                    (r.token_hash, r.family_id, r.issued_at, r.expires_at),
                )
            self._insert_access(conn, issue.access)

    async def rotate(self, rotation: Rotation) -> bool:
        with self._write() as conn:
            won = conn.execute(
                "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM families f WHERE f.family_id = refresh_tokens.family_id "
                "AND f.revoked_at IS NOT NULL)",
                (rotation.now, rotation.presented_hash),
            ).rowcount
            if not won:
                return False
            r = rotation.refresh
            conn.execute(
                "INSERT INTO refresh_tokens VALUES (?, ?, ?, ?, NULL)",
                (r.token_hash, r.family_id, r.issued_at, r.expires_at),
            )
            self._insert_access(conn, rotation.access)
        return True

    async def get_refresh_token(self, token_hash: bytes) -> RefreshToken | None:
        with self._read() as conn:
            row = conn.execute(_REFRESH_SELECT, (token_hash,)).fetchone()
        if row is None:
            return None
        return RefreshToken(
            row[0],
            row[1],
            row[2],
            row[3],
            row[4],
            row[5],
            row[6],
            row[7],
            row[8],
            bool(row[9]),
            bool(row[10]),
        )

    async def get_access_token(self, token_hash: bytes) -> AccessToken | None:
        with self._read() as conn:
            row = conn.execute(_ACCESS_SELECT, (token_hash,)).fetchone()
        if row is None:
            return None
        return AccessToken(row[0], row[1], row[2], row[3], row[4], row[5], row[6], bool(row[7]))

    async def revoke_family(self, family_id: str, now: int) -> bool:
        if not _storable(family_id):
            return False
        with self._write() as conn:
            n = conn.execute(
                "UPDATE families SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
                (now, family_id),
            ).rowcount
        return bool(n)

    async def revoke_access_token(self, token_hash: bytes, now: int) -> bool:
        with self._write() as conn:
            n = conn.execute(
                "UPDATE access_tokens SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
                (now, token_hash),
            ).rowcount
        return bool(n)

    async def purge(self, now: int, retention: int, batch: int = 1000) -> int:
        """Expired or revoked records past ``retention``; used refresh tokens live as long as their family."""
        cutoff = now - retention
        # A grace-window replay looks up the successor access token: never purge one younger than the
        # longest grace window, even with a zero retention, or a legitimate retry would look like reuse.
        access_cutoff = min(cutoff, now - MAX_GRACE_SECONDS)
        with self._write() as conn:
            n = conn.execute(
                "DELETE FROM access_tokens WHERE token_hash IN (SELECT token_hash FROM access_tokens "
                "WHERE expires_at < ? OR revoked_at < ? LIMIT ?)",
                (access_cutoff, access_cutoff, batch),
            ).rowcount
            n += conn.execute(
                "DELETE FROM refresh_tokens WHERE token_hash IN (SELECT token_hash FROM refresh_tokens "
                "WHERE expires_at < ? AND used_at IS NULL LIMIT ?)",
                (cutoff, batch),
            ).rowcount
            dead = [
                r[0]
                for r in conn.execute(
                    "SELECT family_id FROM families WHERE expires_at < ? OR revoked_at < ? LIMIT ?",
                    (cutoff, cutoff, batch),
                )
            ]
            for family_id in dead:
                # The family's access tokens go when they expire (they live an hour, not months):
                # until then the missing family row makes them read as revoked. No index on
                # access_tokens.family_id is needed, so issuing and rotating write one page fewer.
                n += conn.execute("DELETE FROM refresh_tokens WHERE family_id = ?", (family_id,)).rowcount
                n += conn.execute("DELETE FROM families WHERE family_id = ?", (family_id,)).rowcount
        return n


def _split_sql(script: str) -> list[str]:
    """Statements of a migration file (no semicolons inside strings in our files; comments stripped)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
