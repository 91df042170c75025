"""Token stores: where a session keeps its token between calls, threads and processes (RFC 6819 §5.1.6).

A store holds one :class:`Token`. ``lock()`` is held around read-refresh-write so that processes
sharing a store refresh once between them; it may be entered in one thread and exited in another
(the async session acquires it from a worker thread). Write your own for a keyring or a database:
any object with ``load``, ``save``, ``clear`` and ``lock`` will do.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol, runtime_checkable

import filelock

from tokenturn.client._errors import StoreError
from tokenturn.client._types import Token

FORMAT_VERSION = 1


@runtime_checkable
class TokenStore(Protocol):
    """Persistence for one session's token."""

    def load(self) -> Token | None:
        """The stored token, or None when there is none."""

    def save(self, token: Token) -> None:
        """Replace the stored token; return only once it is durable."""

    def clear(self) -> None:
        """Forget the stored token."""

    def lock(self) -> AbstractContextManager[object]:
        """Exclusion across every user of this store (processes too); a no-op is right for one process."""


class MemoryStore:
    """Keeps the token in this process only; ``lock`` is a no-op (the session's own locks suffice)."""

    def __init__(self, token: Token | None = None) -> None:
        self._token = token

    def load(self) -> Token | None:
        return self._token

    def save(self, token: Token) -> None:
        self._token = token

    def clear(self) -> None:
        self._token = None

    def lock(self) -> AbstractContextManager[object]:
        return contextlib.nullcontext()


class JSONFileStore:
    """A JSON file (mode 0600) shared by processes; writes are atomic and a lock file guards refreshes.

    A write goes to a temporary file in the same directory, is fsynced, renamed over the target and the
    directory fsynced: a reader — or a process killed mid-write — sees the old file or the new one,
    never a truncated one. ``lock()`` takes an OS file lock on ``<path>.lock`` (released by the OS if
    the holder dies), waiting at most ``lock_timeout`` seconds.
    """

    def __init__(self, path: str | os.PathLike[str], *, lock_timeout: float = 60.0) -> None:
        self.path = Path(path).expanduser()
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.lock_timeout = lock_timeout

    def load(self) -> Token | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read token file {self.path}: {exc.strerror}") from None
        try:
            data = json.loads(raw)
            if data.get("version") != FORMAT_VERSION:
                raise ValueError("unknown version")
            token = data.get("token")
            return None if token is None else Token.from_json(token)
        except (ValueError, AttributeError):
            raise StoreError(f"token file {self.path} is not a tokenturn token file") from None

    def save(self, token: Token) -> None:
        self._write({"version": FORMAT_VERSION, "token": token.to_json()})

    def clear(self) -> None:
        self._write({"version": FORMAT_VERSION, "token": None})

    def _write(self, document: dict[str, object]) -> None:
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            # mkstemp creates the file 0600, so the token is never readable by others, not even briefly.
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        except OSError as exc:
            raise StoreError(f"cannot write token file {self.path}: {exc.strerror}") from None
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(json.dumps(document, separators=(",", ":")).encode())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            _fsync_directory(directory)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise StoreError(f"cannot write token file {self.path}: {exc.strerror}") from None

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # A fresh lock object each time, not thread-local: it may be released from another thread, and
        # two holders in one process must exclude each other as two processes do.
        lock = filelock.FileLock(self.lock_path, timeout=self.lock_timeout, thread_local=False, mode=0o600)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise StoreError(f"timed out waiting for the lock on {self.path}") from None
        try:
            yield
        finally:
            lock.release()

    def lock(self) -> AbstractContextManager[object]:
        return self._locked()

    def __repr__(self) -> str:
        return f"JSONFileStore({str(self.path)!r})"


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable (POSIX); not possible and not needed on Windows."""
    if os.name != "posix":  # pragma: no cover
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
