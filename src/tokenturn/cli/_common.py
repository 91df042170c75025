"""Shared pieces of the command line: the typer app, settings loading, and clean failures.

A command fails with one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, NoReturn, TypeVar

import typer

from tokenturn.config import ConfigError, Settings, load_settings
from tokenturn.storage import Storage, StorageError, open_storage

T = TypeVar("T")

app = typer.Typer(
    name="tokenturn",
    help="OAuth 2.0 token service and refresh client: issue, rotate, revoke, introspect.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ConfigOption = Annotated[str | None, typer.Option("--config", help="TOML file with settings (env wins).")]


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"tokenturn: {message}", err=True)
    raise typer.Exit(code)


def settings_from(config: str | None) -> Settings:
    try:
        return load_settings(config_file=config)
    except ConfigError as exc:
        fail(str(exc), 2)


def run(coro: Awaitable[T]) -> T:
    """Run a coroutine; storage and config errors become one clean line on stderr."""
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except StorageError as exc:
        fail(f"storage error: {exc}")
    except ConfigError as exc:
        fail(str(exc), 2)
    except KeyboardInterrupt:
        sys.exit(130)


async def with_storage(settings: Settings, action: Callable[[Storage], Awaitable[T]]) -> T:
    """Open the store, bring its schema up to date, run ``action``, close."""
    storage = open_storage(settings.database_url)
    try:
        await storage.migrate()
        return await action(storage)
    finally:
        await storage.close()
