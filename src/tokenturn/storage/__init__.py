"""Token, client and user storage: protocols in ``base``, one module per backend."""

from __future__ import annotations

from tokenturn.storage.base import Conflict, Storage, StorageError, StorageUnavailable

__all__ = ["Conflict", "Storage", "StorageError", "StorageUnavailable", "open_storage"]


def open_storage(database_url: str) -> Storage:
    """The backend for ``TOKENTURN_DATABASE_URL`` (not yet connected: call ``migrate``/methods)."""
    if database_url.startswith("sqlite:///"):
        from tokenturn.storage.sqlite import SQLiteStorage

        return SQLiteStorage.from_url(database_url)
    if database_url.startswith(("postgresql://", "postgres://")):
        from tokenturn.storage.postgres import PostgresStorage  # type: ignore[import-not-found,unused-ignore]

        return PostgresStorage.from_url(database_url)  # type: ignore[no-any-return,unused-ignore]
    raise ValueError("unsupported database URL scheme")
